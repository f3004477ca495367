/**
 * Ordered, backpressure-aware writes to a stream from code that cannot wait (events arrive
 * synchronously). While the stream asks for a drain, text waits in a queue and goes out in batches on
 * `drain`; `flush()` resolves once everything was handed over and the stream drained. A stream that
 * fails (a closed pipe: EPIPE) stops taking text; the first error is kept, never thrown.
 *
 * With an OutputPressure, the output holds it while more than `HOLD_AT` waits (in its queue and in the
 * stream's buffer) and lets go once the stream has taken it down to `LET_GO_AT`, so that a slow reader
 * slows the steps down instead of filling kiln's memory.
 */
import type { Writable } from 'node:stream';
import type { OutputPressure } from '../output-pressure.js';

/** The most text joined into one write when a queue drains. */
const BATCH_CHARS = 64 * 1024;
/** Characters or bytes waiting at which the pressure is held. */
const HOLD_AT = 1024 * 1024;
/** Characters or bytes waiting at which it is let go again. */
const LET_GO_AT = 256 * 1024;

export class StreamOutput {
  readonly #stream: Writable;
  #queue: Array<string | Buffer> = [];
  #waiting = false;
  #error: Error | undefined;
  #queued = 0;
  #flushed: (() => void)[] = [];
  readonly #pressure: OutputPressure | undefined;
  #holding = false;

  constructor(stream: Writable, pressure?: OutputPressure) {
    this.#stream = stream;
    this.#pressure = pressure;
    stream.on('error', (error: Error) => {
      this.#error ??= error;
      this.#queue = [];
      this.#queued = 0;
      this.#waiting = false;
      this.#settle();
      this.#updatePressure();
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
      this.#queued += text.length;
      this.#wait();
    } else if (!this.#stream.write(text)) this.#wait();
    this.#updatePressure();
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
      this.#queued -= size;
      if (!this.#stream.write(batch.length === 1 ? batch[0]! : joinChunks(batch))) {
        this.#wait();
        this.#updatePressure();
        return;
      }
    }
    this.#settle();
    this.#updatePressure();
  };

  #updatePressure(): void {
    if (!this.#pressure) return;
    const waiting = this.#error ? 0 : this.#queued + this.#stream.writableLength;
    if (!this.#holding && waiting >= HOLD_AT) {
      this.#holding = true;
      this.#pressure.hold(this);
    } else if (this.#holding && waiting <= LET_GO_AT) {
      this.#holding = false;
      this.#pressure.release(this);
    }
  }

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
