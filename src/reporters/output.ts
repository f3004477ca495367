/**
 * Ordered, backpressure-aware writes to a stream from code that cannot wait (events arrive
 * synchronously). While the stream asks for a drain, text waits in a queue and goes out in batches on
 * `drain`; `flush()` resolves once everything was handed over and the stream drained. A stream that
 * fails (a closed pipe: EPIPE) stops taking text; the first error is kept, never thrown.
 */
import type { Writable } from 'node:stream';

/** The most text joined into one write when a queue drains. */
const BATCH_CHARS = 64 * 1024;

export class StreamOutput {
  readonly #stream: Writable;
  #queue: Array<string | Buffer> = [];
  #waiting = false;
  #error: Error | undefined;
  #flushed: (() => void)[] = [];

  constructor(stream: Writable) {
    this.#stream = stream;
    stream.on('error', (error: Error) => {
      this.#error ??= error;
      this.#queue = [];
      this.#waiting = false;
      this.#settle();
    });
  }

  /** The first error the stream reported, if any. */
  get error(): Error | undefined {
    return this.#error;
  }

  write(text: string | Buffer): void {
    if (text.length === 0 || this.#error) return;
    if (this.#waiting || this.#queue.length > 0 || this.#stream.writableNeedDrain) {
      this.#queue.push(text);
      this.#wait();
      return;
    }
    if (!this.#stream.write(text)) this.#wait();
  }

  /** Resolves when all text written so far was handed to the stream and the stream drained. */
  flush(): Promise<void> {
    if (!this.#waiting && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#flushed.push(resolve));
  }

  #wait(): void {
    if (this.#waiting) return;
    this.#waiting = true;
    this.#stream.once('drain', this.#drain);
  }

  #drain = (): void => {
    this.#waiting = false;
    while (this.#queue.length > 0 && !this.#error) {
      let size = 0;
      let count = 0;
      while (
        count < this.#queue.length &&
        (count === 0 || size + this.#queue[count]!.length <= BATCH_CHARS)
      ) {
        size += this.#queue[count]!.length;
        count++;
      }
      const batch = this.#queue.splice(0, count);
      if (!this.#stream.write(batch.length === 1 ? batch[0]! : joinChunks(batch))) {
        this.#wait();
        return;
      }
    }
    this.#settle();
  };

  #settle(): void {
    const waiters = this.#flushed;
    this.#flushed = [];
    for (const resolve of waiters) resolve();
  }
}

/** Joins queued chunks: text stays text, and any bytes make the whole batch bytes. */
function joinChunks(batch: ReadonlyArray<string | Buffer>): string | Buffer {
  if (batch.every((c) => typeof c === 'string')) return (batch as string[]).join('');
  return Buffer.concat(batch.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
}
