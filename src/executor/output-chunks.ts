/**
 * Turns a step's output bytes into step.output data: masked of the run's secrets, then UTF-8 text when
 * the bytes are text (a character split across two chunks is held back until it is whole), base64 when
 * they are not, so binary output passes byte for byte.
 */
import { isUtf8 } from 'node:buffer';
import type { CompiledMask, StreamChunk, StreamsMasker } from '../mounts/secret-masker.js';
import type { OutputStream } from '../runtime/exec.js';

export interface EncodedChunk {
  readonly data: string;
  readonly encoding?: 'base64';
}

/**
 * How many bytes at the end of `buf` are the start of a UTF-8 character that is not complete yet.
 * Not node:string_decoder: it turns bytes that are not UTF-8 into U+FFFD and keeps its tail to itself,
 * while such output must pass as base64, byte for byte, an unfinished last character included.
 */
function incompleteTail(buf: Buffer): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const byte = buf[buf.length - back]!;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

export class OutputEncoder {
  #carry: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): EncodedChunk | undefined {
    const buf = this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : chunk;
    const keep = incompleteTail(buf);
    const whole = buf.subarray(0, buf.length - keep);
    if (isUtf8(whole)) {
      this.#carry = Buffer.from(buf.subarray(buf.length - keep));
      return whole.length > 0 ? { data: whole.toString('utf8') } : undefined;
    }
    this.#carry = Buffer.alloc(0);
    return { data: buf.toString('base64'), encoding: 'base64' };
  }

  /** What is left at the end: an incomplete character, passed on as its bytes. */
  end(): EncodedChunk | undefined {
    if (this.#carry.length === 0) return undefined;
    const rest = this.#carry;
    this.#carry = Buffer.alloc(0);
    return { data: rest.toString('base64'), encoding: 'base64' };
  }
}

/**
 * The output of one step: both streams masked together of every secret of the run (see StreamsMasker:
 * a secret split across stdout and stderr is hidden too), each stream as text, or base64 where it is
 * not UTF-8.
 */
export class OutputChannel {
  readonly #masker: StreamsMasker<OutputStream>;
  readonly #encoders: Record<OutputStream, OutputEncoder> = {
    stdout: new OutputEncoder(),
    stderr: new OutputEncoder(),
  };
  readonly #emitChunk: (stream: OutputStream, chunk: EncodedChunk) => void;

  constructor(mask: CompiledMask, emitChunk: (stream: OutputStream, chunk: EncodedChunk) => void) {
    this.#masker = mask.createStreamsMasker<OutputStream>();
    this.#emitChunk = emitChunk;
  }

  push(stream: OutputStream, chunk: Buffer): void {
    this.#show(this.#masker.push(stream, chunk));
  }

  end(): void {
    this.#show(this.#masker.flush());
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.#encoders[stream].end();
      if (rest) this.#emitChunk(stream, rest);
    }
  }

  #show(chunks: readonly StreamChunk<OutputStream>[]): void {
    for (const { stream, data } of chunks) {
      const encoded = this.#encoders[stream].push(data);
      if (encoded) this.#emitChunk(stream, encoded);
    }
  }
}
