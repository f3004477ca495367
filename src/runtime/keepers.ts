/**
 * A run's liveness, kept on the engine itself, for engines that many hosts share (Engine.remote).
 *
 * On this host, whether the kiln that owns a resource is alive is asked of its pid. On an engine that
 * kilns on other hosts use too, a pid means nothing; so each run on such an engine keeps a "keeper": a
 * small container (scope `keeper`) whose stdin the run's kiln holds open and whose only process, the
 * image's `/bin/sh`, reads that stdin until it ends. When kiln ends, however it ends (SIGKILL included),
 * its connection to the engine closes, the engine closes the keeper's stdin, the shell exits and the
 * engine removes the container (AutoRemove). So "the run is alive" is "its keeper runs", which every kiln
 * that talks to the engine can see. What a run with a keeper makes carries the keeper's name
 * (`dev.kiln.keeper`, see labels.ts).
 *
 * On the same engine, locks that guard engine objects (a reused container, a locked or private cache
 * volume) are engine objects too: a lock is a container with a fixed name that is never started (made
 * from the keeper's image); making it is taking the lock (a name conflict means someone holds it), and it
 * is stale once its holder's keeper no longer runs.
 */
/** The keeper of one run: alive while this process holds its stdin. */
export interface Keeper {
  /** Its container's name, recorded on what the run makes (`dev.kiln.keeper`). */
  readonly name: string;
  /** The image it runs (by ID): also what lock containers are made from. */
  readonly image: string;
  /** Ends its stdin (it exits and is removed) and removes it; safe to call twice. */
  release(): Promise<void>;
}

export interface KeeperSpec {
  /** The container's name; unique on the engine. */
  readonly name: string;
  /** An image on the engine with `/bin/sh`, best by ID. */
  readonly image: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** A lock container: what its creation returns when it was made (the lock is held). */
export interface EngineLockHandle {
  readonly name: string;
  /** Removes the lock container (when it is still this one). */
  release(): Promise<void>;
}

/** What a lock container's labels say, for deciding whether its holder is alive. */
export interface LockContainerState {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface KeeperRuntime {
  /** Makes and starts a keeper, and holds its stdin open. */
  start(spec: KeeperSpec): Promise<Keeper>;
  /** The names of the keepers that run now. */
  live(): Promise<ReadonlySet<string>>;
  /**
   * Makes the lock container `name` (never started). Returns its handle, or the lock that is there
   * already when the name is taken.
   */
  createLock(
    name: string,
    image: string,
    labels: Readonly<Record<string, string>>,
  ): Promise<{ readonly held: EngineLockHandle } | { readonly taken: LockContainerState | undefined }>;
  /** Removes the lock container `id` (a stale one). */
  removeLock(id: string): Promise<void>;
}
