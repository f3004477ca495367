/**
 * kiln's public API: what a user builds and runs graphs with. Declare a graph (step file or builder),
 * compile it, run it (the run session, or runGraph with an executor of one's own), listen to its events
 * with a reporter, and clean up after it.
 */
export * from './definition/index.js';
export { compile, selectJobs, renderGraph, type CompileOptions, type GraphFormat } from './graph/index.js';
export type * from './graph/types.js';
export {
  run,
  runBuildGraph,
  DockerJobExecutor,
  CachingJobExecutor,
  planRun,
  pruneContainers,
  pruneResults,
  type RunOptions,
  type DockerJobExecutorOptions,
  type CachingJobExecutorOptions,
  type JobCachePlan,
  type PlanRunOptions,
  type PruneResultsOptions,
  type PrunedResults,
  type JobPlan,
  type PruneOptions,
  shellJob,
  type ShellJobOptions,
  type DebugShellOptions,
  type ShellTerminal,
} from './executor/index.js';
export { ResultStore, type StoredResult } from './results/index.js';
export { runGraph, DEFAULT_GRACE_MS, type RunGraphOptions } from './scheduler/run-graph.js';
export type {
  JobExecutor,
  JobContext,
  JobOutcome,
  JobOutputRef,
  StepResult,
  RunResult,
  CancelReason,
} from './scheduler/types.js';
export { createEngine, checkEngine, type Engine, type EngineOptions } from './runtime/engine.js';
export type { EngineInfo, SystemRuntime } from './runtime/system.js';
export type { ImageRuntime } from './runtime/images.js';
export type {
  ContainerRuntime,
  ContainerSpec,
  ContainerState,
  ContainerSummary,
  DockerMount,
} from './runtime/containers.js';
export type { ExecRuntime, ExecProcess, ExecSpec } from './runtime/exec.js';
export type { TtyExecRuntime, TtyExecSpec, TtyProcess, TerminalSize } from './runtime/tty-exec.js';
export type { VolumeRuntime, VolumeInfo, VolumeUsage } from './runtime/volumes.js';
export type { NetworkRuntime, NetworkSummary } from './runtime/networks.js';
export type { SweptResource } from './runtime/sweep.js';
export { KILN_VERSION } from './runtime/version.js';
export {
  listCaches,
  removeCaches,
  type CacheInfo,
  type RemoveCachesOptions,
  type RemoveCachesResult,
} from './mounts/cache-volumes.js';
export { createReporter, type Reporter, type ReporterOptions, type ProgressMode } from './reporters/index.js';
export { ReleaseStack } from './release.js';
export { OutputPressure } from './output-pressure.js';
export {
  ExitCode,
  KilnError,
  DefinitionError,
  UsageError,
  EngineUnavailableError,
  InfrastructureError,
  ImageNotFoundError,
  MountError,
  ServiceError,
  CancelledError,
  formatDiagnostic,
  isKilnError,
  type ExitCodeValue,
  type SourcePosition,
  type Diagnostic,
  type RejectedDocument,
} from './errors.js';
export type * from './events.js';
