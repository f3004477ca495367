/**
 * Networks, as kiln uses them: one user-defined bridge per job with services, made and removed by kiln,
 * labelled like everything it makes, and listed by label (sweep, prune).
 */

/** A network as a listing shows it. */
export interface NetworkSummary {
  readonly id: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface NetworkRuntime {
  /** Creates a bridge network of that name with these labels; returns its ID. */
  create(name: string, labels: Readonly<Record<string, string>>): Promise<string>;
  /**
   * Removes it. `missing` when it was gone already; `in-use` when containers are still on it (the engine
   * refuses).
   */
  remove(idOrName: string): Promise<'removed' | 'missing' | 'in-use'>;
  /** Every network that has all these labels (`key=value`). */
  list(labels: readonly string[]): Promise<NetworkSummary[]>;
}
