/**
 * The scheduler: runs a BuildGraph's jobs over their `needs` with a JobExecutor.
 */
export { runGraph, newRunId, DEFAULT_GRACE_MS, SkipReason, type RunGraphOptions } from './run-graph.js';
export { cancelStatus, isCancelReason, toCancelReason, timeoutReason } from './cancel-reason.js';
export { runVerdict, isFailure, type RunVerdict } from './run-status.js';
export type {
  CancelReason,
  JobContext,
  JobExecutor,
  JobOutcome,
  JobOutputRef,
  PreparedJob,
  RunResult,
  StepResult,
} from './types.js';
