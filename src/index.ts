/**
 * kiln's public API: declare a graph (step file or builder), compile it, run it on Docker, and listen
 * to its events.
 */
export * from './definition/index.js';
export { compile, selectJobs, renderGraph, type CompileOptions, type GraphFormat } from './graph/index.js';
export type * from './graph/types.js';
export { parseDefaultMounts } from './definition/default-mounts.js';
export { run, runBuildGraph, defaultGraceMs, type RunOptions } from './executor/run-session.js';
export { runGraph, newRunId, type RunGraphOptions } from './scheduler/run-graph.js';
export type {
  JobExecutor,
  JobContext,
  JobOutcome,
  JobOutputRef,
  StepResult,
  RunResult,
  CancelReason,
} from './scheduler/types.js';
export { DockerJobExecutor } from './executor/docker-job-executor.js';
export { createEngine, checkEngine, type Engine, type EngineInfo } from './runtime/engine.js';
export { sweepOrphans } from './runtime/sweep.js';
export { pruneContainers } from './executor/prune-containers.js';
export { KILN_VERSION } from './runtime/version.js';
export { createReporter, type Reporter, type ReporterOptions, type ProgressMode } from './reporters/index.js';
export { ReleaseStack } from './release.js';
export { OutputPressure } from './output-pressure.js';
export * from './errors.js';
export type * from './events.js';
export { createEmitter } from './events.js';
