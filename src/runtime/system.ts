/** The engine itself: whether it answers, and what it runs. */

export interface EngineInfo {
  readonly version: string;
  readonly apiVersion: string;
  /** The runc version, when the engine says it. */
  readonly runcVersion?: string;
}

export interface SystemRuntime {
  /** Resolves when the engine answers; rejects with an EngineUnavailableError when it cannot be reached. */
  ping(): Promise<void>;
  version(): Promise<EngineInfo>;
}
