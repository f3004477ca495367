/**
 * The LIFO release stack. Whatever is acquired is pushed with its release; `release()` runs them in
 * reverse order on every path, and a failing release is reported but does not stop the others.
 */
import type { Emit } from './events.js';

export interface Releasable {
  /** What kind of resource (container, volume, lock, secret, ssh...). */
  readonly resource: string;
  /** Its id or name, as shown in `release` events. Never a secret's value. */
  readonly id: string;
  readonly release: () => Promise<void> | void;
}

export interface ReleaseStackOptions {
  /** Emits one `release` event per resource, in the order they are released. */
  readonly emit?: Emit;
  /** The job the resources belong to, carried on the events. */
  readonly job?: string;
}

export class ReleaseStack {
  readonly #items: Releasable[] = [];
  readonly #options: ReleaseStackOptions;
  #released = false;

  constructor(options: ReleaseStackOptions = {}) {
    this.#options = options;
  }

  /** Pushes a resource; it is released before everything pushed earlier. */
  push(resource: string, id: string, release: () => Promise<void> | void): void {
    if (this.#released) throw new Error(`release stack already released; cannot push ${resource} ${id}`);
    this.#items.push({ resource, id, release });
  }

  get size(): number {
    return this.#items.length;
  }

  /**
   * Releases everything, last pushed first. Every release runs even when one throws; the failures are
   * returned (and reported in `release` events), never thrown.
   */
  async release(): Promise<unknown[]> {
    this.#released = true;
    const errors: unknown[] = [];
    while (this.#items.length > 0) {
      const item = this.#items.pop()!;
      let error: unknown;
      try {
        await item.release();
      } catch (e) {
        error = e;
        errors.push(e);
      }
      this.#options.emit?.({
        type: 'release',
        ...(this.#options.job === undefined ? {} : { job: this.#options.job }),
        resource: item.resource,
        id: item.id,
        ...(error === undefined ? {} : { error: error instanceof Error ? error.message : String(error) }),
      });
    }
    return errors;
  }
}
