/** The definition layer: the types users declare, the step-file loader, and the builder API. */
export type * from './types.js';
export { MOUNT_TYPES } from './types.js';
export { DEFAULT_STEP_FILE, loadDefinitionFile, loadDefinitionText, locate } from './loader.js';
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
export { schemaFile, stepFileSchema } from './schema.js';
export { renderReference } from './reference.js';
