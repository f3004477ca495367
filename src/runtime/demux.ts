/**
 * Splits Docker's multiplexed attach stream (non-TTY exec) into stdout and stderr chunks as they come.
 * Each frame is an 8-byte header (stream type, 3 zero bytes, big-endian payload length) and its payload.
 * Memory stays bounded by the largest chunk received: payloads are passed on in pieces, never gathered.
 */
import type { ChunkListener, OutputStream } from './exec.js';

export class Demuxer {
  readonly #listener: ChunkListener;
  #header = Buffer.alloc(8);
  #headerFill = 0;
  #remaining = 0;
  #stream: OutputStream = 'stdout';

  constructor(listener: ChunkListener) {
    this.#listener = listener;
  }

  push(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      if (this.#remaining === 0) {
        const take = Math.min(8 - this.#headerFill, data.length - offset);
        data.copy(this.#header, this.#headerFill, offset, offset + take);
        this.#headerFill += take;
        offset += take;
        if (this.#headerFill < 8) return;
        this.#headerFill = 0;
        this.#stream = this.#header[0] === 2 ? 'stderr' : 'stdout';
        this.#remaining = this.#header.readUInt32BE(4);
        continue;
      }
      const take = Math.min(this.#remaining, data.length - offset);
      this.#remaining -= take;
      this.#listener(this.#stream, data.subarray(offset, offset + take));
      offset += take;
    }
  }
}
