export {
  createEngine,
  checkEngine,
  runcWarning,
  describeEndpoint,
  type Engine,
  type EngineInfo,
  type EngineOptions,
} from './engine.js';
export {
  startJobContainer,
  resolveImage,
  type JobContainerSpec,
  type StartedJobContainer,
} from './job-container.js';
export { runExec, runStepExec, type ExecOptions, type StepExecOptions, type ExecResult } from './exec.js';
export { sweepOrphans, pruneContainers, type SweptResource, type PruneOptions } from './sweep.js';
export { STEP_WRAPPER, wrapStep } from './step-wrapper.js';
export { KILN_VERSION } from './version.js';
