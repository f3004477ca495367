/**
 * The step file's kebab-case keys and the camelCase fields of types.ts they become, one table per object
 * of the schema. The conversion in both directions reads only these tables, and a unit test checks that
 * each table and the schema's properties of that object are the same set of keys.
 */
import type {
  BindMountSpec,
  CacheMountSpec,
  Defaults,
  Definition,
  JobSpec,
  OutputSpec,
  SecretMountSpec,
  SshMountSpec,
  StepSpec,
  TmpfsMountSpec,
} from './types.js';

/** kebab-case key -> camelCase field; `null`: accepted in the file, not carried into the Definition. */
export type FieldTable<T> = Readonly<Record<string, Extract<keyof T, string> | null>>;

/** Fails to compile when a field of T has no key in the table. */
type CoversAll<T, M extends FieldTable<T>> =
  Exclude<Extract<keyof T, string>, M[keyof M]> extends never
    ? unknown
    : { missingFields: Exclude<Extract<keyof T, string>, M[keyof M]> };

function fieldTable<T>() {
  return <const M extends FieldTable<T>>(table: M & CoversAll<T, M>): M => table;
}

type FileLevel = Omit<Definition, 'projectDir' | 'file' | 'sourceMap'>;
type SecretSourceFields = { env: string; file: string };
type ReuseOptions = { name: string };
type OutputOptions = Extract<OutputSpec, object>;

export const ROOT_FIELDS = fieldTable<FileLevel>()({
  $schema: null,
  version: 'version',
  defaults: 'defaults',
  secrets: 'secrets',
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
});

export const JOB_FIELDS = fieldTable<JobSpec>()({
  image: 'image',
  workdir: 'workdir',
  env: 'env',
  user: 'user',
  shell: 'shell',
  network: 'network',
  needs: 'needs',
  mounts: 'mounts',
  timeout: 'timeout',
  reuse: 'reuse',
  'default-mounts': 'defaultMounts',
  outputs: 'outputs',
  cache: 'cache',
  steps: 'steps',
});

export const STEP_FIELDS = fieldTable<StepSpec>()({
  name: 'name',
  run: 'run',
  env: 'env',
  workdir: 'workdir',
  user: 'user',
  mounts: 'mounts',
  timeout: 'timeout',
  'allow-failure': 'allowFailure',
});

export const REUSE_OPTIONS_FIELDS = fieldTable<ReuseOptions>()({ name: 'name' });

export const SECRET_SOURCE_FIELDS = fieldTable<SecretSourceFields>()({ env: 'env', file: 'file' });

export const OUTPUT_FIELDS = fieldTable<OutputOptions>()({
  path: 'path',
  export: 'export',
  'allow-outside-project': 'allowOutsideProject',
});

export const BIND_MOUNT_FIELDS = fieldTable<BindMountSpec>()({
  type: 'type',
  source: 'source',
  target: 'target',
  readonly: 'readonly',
  'allow-outside-project': 'allowOutsideProject',
  'allow-docker-socket': 'allowDockerSocket',
  from: 'from',
  exclude: 'exclude',
});

export const CACHE_MOUNT_FIELDS = fieldTable<CacheMountSpec>()({
  type: 'type',
  id: 'id',
  target: 'target',
  sharing: 'sharing',
  readonly: 'readonly',
});

export const TMPFS_MOUNT_FIELDS = fieldTable<TmpfsMountSpec>()({
  type: 'type',
  target: 'target',
  size: 'size',
  mode: 'mode',
});

export const SECRET_MOUNT_FIELDS = fieldTable<SecretMountSpec>()({
  type: 'type',
  id: 'id',
  target: 'target',
  env: 'env',
  mode: 'mode',
  uid: 'uid',
  gid: 'gid',
  required: 'required',
});

export const SSH_MOUNT_FIELDS = fieldTable<SshMountSpec>()({
  type: 'type',
  id: 'id',
  target: 'target',
  required: 'required',
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
  'reuse-options': REUSE_OPTIONS_FIELDS,
  'secret-source': SECRET_SOURCE_FIELDS,
  output: OUTPUT_FIELDS,
  'bind-mount': BIND_MOUNT_FIELDS,
  'cache-mount': CACHE_MOUNT_FIELDS,
  'tmpfs-mount': TMPFS_MOUNT_FIELDS,
  'secret-mount': SECRET_MOUNT_FIELDS,
  'ssh-mount': SSH_MOUNT_FIELDS,
};
