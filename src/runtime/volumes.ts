/**
 * Named volumes, as kiln uses them: cache volumes kept across runs, run-scoped volumes swept with their
 * run, and the engine's account of their size and users.
 */

export interface VolumeInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** ISO 8601, when the engine says when the volume was made. */
  readonly createdAt?: string;
}

/** What the engine's disk usage says of a volume. */
export interface VolumeUsage {
  /** Bytes on disk, when the engine computed it. */
  readonly sizeBytes?: number;
  /** How many containers mount it. */
  readonly containers: number;
}

export interface VolumeRuntime {
  /** The volume, or undefined when there is none of that name. */
  inspect(name: string): Promise<VolumeInfo | undefined>;
  /**
   * Creates the volume with these labels. `existing` when one of that name appeared meanwhile (the engine
   * then keeps it as it is, labels included). `description` names it in messages; default `volume <name>`.
   */
  create(
    name: string,
    labels: Readonly<Record<string, string>>,
    description?: string,
  ): Promise<'created' | 'existing'>;
  /** Every volume that has all these labels (`key=value`). */
  list(labels: readonly string[]): Promise<VolumeInfo[]>;
  /** Removes the volume: `missing` when it was gone already, `in-use` when a container mounts it. */
  remove(name: string): Promise<'removed' | 'missing' | 'in-use'>;
  /** Size and users of every volume, by name (the engine's disk usage, `docker system df -v`). */
  usage(): Promise<ReadonlyMap<string, VolumeUsage>>;
}
