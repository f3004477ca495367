/**
 * The definition room's public face: the types users declare, the step-file loader, the builder, and
 * the parser of `KILN_DEFAULT_MOUNTS`. The schema, the reference renderer and position lookup are the
 * room's own tooling: import them from their modules.
 */
export type * from './types.js';
export { DEFAULT_STEP_FILE, loadDefinitionFile, loadDefinitionText } from './loader.js';
export {
  bind,
  cache,
  job,
  output,
  pipeline,
  secret,
  ssh,
  step,
  tmpfs,
  JobBuilder,
  PipelineBuilder,
  StepBuilder,
  type Duration,
  type PipelineOptions,
  type StepInput,
} from './builder.js';
export { parseDefaultMounts, type DefaultMountsEnv } from './default-mounts.js';
