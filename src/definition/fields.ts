/**
 * The step file's kebab-case keys and the camelCase fields of types.ts they become, one table per object
 * of the schema. The conversion in both directions reads only these tables, and a unit test checks that
 * each table and the schema's properties of that object are the same set of keys. A mount kind's table
 * is in its module (mount-kinds/), under the schema's `<type>-mount`.
 */
import { fieldTable } from './field-table.js';
import { DEFINITION_MOUNT_KINDS } from './mount-kinds/index.js';
import type {
  Defaults,
  Definition,
  JobSpec,
  OutputSpec,
  RetrySpec,
  ServiceHealthSpec,
  ServiceSpec,
  StepSpec,
} from './types.js';

export type { FieldTable } from './field-table.js';

type FileLevel = Omit<Definition, 'projectDir' | 'file' | 'sourceMap'>;
type SecretSourceFields = { env: string; file: string };
type ReuseOptions = { name: string };
type OutputOptions = Extract<OutputSpec, object>;

export const ROOT_FIELDS = fieldTable<FileLevel>()({
  $schema: null,
  version: 'version',
  defaults: 'defaults',
  secrets: 'secrets',
  'env-passthrough': 'envPassthrough',
  jobs: 'jobs',
});

export const DEFAULTS_FIELDS = fieldTable<Defaults>()({
  image: 'image',
  workdir: 'workdir',
  env: 'env',
  user: 'user',
  shell: 'shell',
  mounts: 'mounts',
  network: 'network',
  services: 'services',
});

export const JOB_FIELDS = fieldTable<JobSpec>()({
  image: 'image',
  workdir: 'workdir',
  env: 'env',
  user: 'user',
  shell: 'shell',
  network: 'network',
  services: 'services',
  needs: 'needs',
  if: 'if',
  mounts: 'mounts',
  timeout: 'timeout',
  reuse: 'reuse',
  'default-mounts': 'defaultMounts',
  outputs: 'outputs',
  cache: 'cache',
  steps: 'steps',
  matrix: 'matrix',
  'fail-fast': 'failFast',
  // Resolved by templates.ts before conversion: no field of a JobSpec.
  extends: null,
});

export const STEP_FIELDS = fieldTable<StepSpec>()({
  name: 'name',
  run: 'run',
  env: 'env',
  workdir: 'workdir',
  user: 'user',
  shell: 'shell',
  mounts: 'mounts',
  timeout: 'timeout',
  'allow-failure': 'allowFailure',
  if: 'if',
  retry: 'retry',
});

export const RETRY_FIELDS = fieldTable<RetrySpec>()({ attempts: 'attempts', on: 'on', delay: 'delay' });

export const SERVICE_FIELDS = fieldTable<ServiceSpec>()({
  image: 'image',
  env: 'env',
  command: 'command',
  entrypoint: 'entrypoint',
  user: 'user',
  mounts: 'mounts',
  aliases: 'aliases',
  ports: 'ports',
  health: 'health',
});

export const SERVICE_HEALTH_FIELDS = fieldTable<ServiceHealthSpec>()({
  run: 'run',
  interval: 'interval',
  timeout: 'timeout',
  retries: 'retries',
  'start-period': 'startPeriod',
});

export const REUSE_OPTIONS_FIELDS = fieldTable<ReuseOptions>()({ name: 'name' });

export const SECRET_SOURCE_FIELDS = fieldTable<SecretSourceFields>()({ env: 'env', file: 'file' });

export const OUTPUT_FIELDS = fieldTable<OutputOptions>()({
  path: 'path',
  export: 'export',
  'allow-outside-project': 'allowOutsideProject',
});

/**
 * Every table, by the schema object it mirrors: `''` is the schema's root, any other name a key of its
 * `definitions`.
 */
export const FIELD_TABLES: Readonly<Record<string, Readonly<Record<string, string | null>>>> = {
  '': ROOT_FIELDS,
  defaults: DEFAULTS_FIELDS,
  job: JOB_FIELDS,
  step: STEP_FIELDS,
  retry: RETRY_FIELDS,
  'reuse-options': REUSE_OPTIONS_FIELDS,
  'secret-source': SECRET_SOURCE_FIELDS,
  output: OUTPUT_FIELDS,
  service: SERVICE_FIELDS,
  'service-health': SERVICE_HEALTH_FIELDS,
  ...Object.fromEntries(DEFINITION_MOUNT_KINDS.map((kind) => [`${kind.type}-mount`, kind.fields])),
};
