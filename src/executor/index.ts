/**
 * Executors: what runs one job of a graph. The Docker job executor (plan, acquire, run, release), and
 * the run session that checks the engine, sweeps, and runs a graph with it.
 */
export {
  DockerJobExecutor,
  type DockerJobExecutorOptions,
  type JobRunExtras,
} from './docker-job-executor.js';
export { CachingJobExecutor, type CachingJobExecutorOptions } from './caching-job-executor.js';
export { planRun, type JobCachePlan, type PlanRunOptions } from './plan-run.js';
export {
  pruneResults,
  DEFAULT_RESULTS_UNUSED_MS,
  type PruneResultsOptions,
  type PrunedResults,
} from './prune-results.js';
export { planJob, type JobPlan, type PlanJobOptions } from './plan-job.js';
export { run, runBuildGraph, defaultGraceMs, type RunOptions } from './run-session.js';
export { pruneContainers, type PruneOptions } from './prune-containers.js';
export { shellJob, type ShellJobOptions } from './shell-session.js';
export type { DebugShellOptions, ShellTerminal } from './debug-shell.js';
