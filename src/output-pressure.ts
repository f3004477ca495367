/**
 * Flow control between the readers of a run's output and the steps that print it. Events are handed
 * to reporters synchronously, so a reporter writing to a slow pipe or disk cannot slow the step down by
 * itself: its text would pile up in memory. Instead it holds the pressure while it is behind, and kiln
 * stops reading step output from the engine until every holder has let go. The engine then stops
 * reading from the step, and the step's own writes block, as they would on a full pipe.
 */
export class OutputPressure {
  readonly #holders = new Set<object>();
  #waiters: Array<() => void> = [];

  /** Whether some reader is behind: step output should not be read now. */
  get held(): boolean {
    return this.#holders.size > 0;
  }

  /** `holder` is behind. Holding twice is holding once. */
  hold(holder: object): void {
    this.#holders.add(holder);
  }

  /** `holder` has caught up; when no holder is left, whoever waits goes on. */
  release(holder: object): void {
    if (!this.#holders.delete(holder) || this.#holders.size > 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves when nobody holds the pressure (at once when nobody does). */
  whenClear(): Promise<void> {
    if (!this.held) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
