/**
 * Mount specs as declared (on the defaults, a job or a step) compiled into the graph's resolved mounts:
 * sources absolute, targets absolute and normalised, sizes in bytes, modes numeric, defaults filled in.
 * Then the mounts of one container (or one step) are merged: identical mounts on one target are kept
 * once, different ones on one target are a problem, and the container's are sorted parents first.
 */
import { posix } from 'node:path';
import type {
  BindMountSpec,
  CacheMountSpec,
  MountSpec,
  SecretMountSpec,
  SshMountSpec,
  TmpfsMountSpec,
} from '../definition/types.js';
import { parseMode, parseSize } from '../definition/sizes.js';
import type {
  CompiledBindMount,
  CompiledCacheMount,
  CompiledContainerMount,
  CompiledMount,
  CompiledOutputMount,
  CompiledSecretMount,
  CompiledSshMount,
  CompiledStepMount,
  CompiledTmpfsMount,
} from './types.js';
import type { DiagnosticCollector } from './diagnostics.js';
import { didYouMean } from './suggest.js';
import { resolveUserPath } from '../home-path.js';

const SHARING = ['shared', 'private', 'locked'] as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface MountContext {
  /** Absolute project folder: relative bind sources resolve against it. */
  readonly projectDir: string;
  /** What `~` at the start of a bind source expands to. */
  readonly homeDir: string;
  /** The ids declared under `secrets`. */
  readonly secretIds: ReadonlySet<string>;
  /** Every job's workdir and output paths (resolved, not checked), for the binds with `from`. */
  readonly outputs: ReadonlyMap<string, DeclaredOutputs>;
  readonly diagnostics: DiagnosticCollector;
}

/** A job's output paths as a bind with `from` names them. */
export interface DeclaredOutputs {
  /** The job's workdir: a relative `source` of a bind with `from` resolves against it. */
  readonly workdir: string;
  /** Its outputs' paths, absolute, in declaration order. */
  readonly paths: readonly string[];
}

/** Where a list of mounts was declared. */
export interface MountScope {
  /** The job the list belongs to; absent for the defaults, whose problems do not depend on a job. */
  readonly job?: string;
  /** How one entry is named in messages: `mounts[1]`, `step 'test' mounts[0]`, `defaults.mounts[0]`. */
  readonly entryName: (index: number) => string;
  /** JSON pointer of the list (`/jobs/build/mounts`), when it has one. */
  readonly at?: string;
  /** The workdir relative targets resolve against. */
  readonly workdir: string;
  /** Report each problem once across every use of this list (defaults are compiled for every job). */
  readonly reportOnce?: boolean;
}

/** A compiled mount and where it was declared. */
export interface PlacedMount<M extends CompiledMount = CompiledMount> {
  readonly mount: M;
  /** The entry's name in messages (see MountScope.entryName). */
  readonly name: string;
  readonly at?: string;
}

/** Compile a list of mount specs; faulty entries are reported and left out. */
export function compileMountList(
  specs: readonly MountSpec[] | undefined,
  scope: MountScope,
  context: MountContext,
): PlacedMount[] {
  const placed: PlacedMount[] = [];
  if (specs === undefined) return placed;
  if (!Array.isArray(specs)) {
    report(
      context,
      scope,
      `${scope.job === undefined ? '' : `job '${scope.job}', `}mounts must be a list`,
      scope.at,
    );
    return placed;
  }
  specs.forEach((spec, index) => {
    const name = scope.entryName(index);
    const at = scope.at === undefined ? undefined : `${scope.at}/${index}`;
    const mount = compileMount(spec, { name, at, scope, context });
    if (mount) placed.push({ mount, name, ...(at !== undefined ? { at } : {}) });
  });
  return placed;
}

interface Entry {
  readonly name: string;
  readonly at: string | undefined;
  readonly scope: MountScope;
  readonly context: MountContext;
}

function compileMount(spec: MountSpec, entry: Entry): CompiledMount | undefined {
  if (spec === null || typeof spec !== 'object') {
    problem(entry, 'a mount must be an object with a type');
    return undefined;
  }
  switch (spec.type) {
    case 'bind':
      return compileBind(spec, entry);
    case 'cache':
      return compileCache(spec, entry);
    case 'tmpfs':
      return compileTmpfs(spec, entry);
    case 'secret':
      return compileSecret(spec, entry);
    case 'ssh':
      return compileSsh(spec, entry);
    default:
      problem(
        entry,
        `unknown mount type '${String((spec as { type?: unknown }).type)}' (allowed: bind, cache, tmpfs, secret, ssh)`,
        'type',
      );
      return undefined;
  }
}

function compileBind(spec: BindMountSpec, entry: Entry): CompiledBindMount | CompiledOutputMount | undefined {
  if (spec.from !== undefined) return compileFrom(spec, entry);
  const source = nonEmptyString(entry, spec.source, 'source');
  const target = resolveTarget(entry, spec.target, 'bind');
  const exclude = excludePatterns(entry, spec.exclude);
  if (source === undefined || target === undefined || exclude === undefined) return undefined;
  return {
    type: 'bind',
    source: resolveUserPath(source, entry.context.projectDir, entry.context.homeDir),
    target,
    readonly: spec.readonly === true,
    allowOutsideProject: spec.allowOutsideProject === true,
    allowDockerSocket: spec.allowDockerSocket === true,
    exclude,
  };
}

/** A bind's `exclude` patterns (none when absent), or undefined when they are not a list of patterns. */
function excludePatterns(entry: Entry, value: unknown): string[] | undefined {
  if (value === undefined) return [];
  if (
    Array.isArray(value) &&
    value.every((p) => typeof p === 'string' && p.trim() !== '' && !p.includes('\u0000'))
  ) {
    return [...(value as string[])];
  }
  problem(entry, 'exclude must be a list of patterns in .gitignore syntax (non-empty strings)', 'exclude');
  return undefined;
}

/**
 * A bind with `from`: an output of another job, read-only. Whether `from` names a job (other than this
 * one) is checked with the needs (needs.ts), so that it is reported once, cycles included.
 */
function compileFrom(spec: BindMountSpec, entry: Entry): CompiledOutputMount | undefined {
  const { job } = entry.scope;
  if (job === undefined) {
    problem(
      entry,
      'a bind with from cannot be a default for every job (the job that makes the output would mount it too); ' +
        'declare it on the jobs that use the output',
      'from',
    );
    return undefined;
  }
  const from = spec.from;
  if (typeof from !== 'string' || from === '') {
    problem(entry, 'from must be the name of a job', 'from');
    return undefined;
  }
  let usable = true;
  const refuse = (key: string, why: string): void => {
    usable = false;
    problem(entry, `${key} does not apply to a bind with from: ${why}; remove it`, key);
  };
  if (spec.readonly === false) refuse('readonly', 'an output is always mounted read-only');
  if (spec.allowOutsideProject === true) {
    refuse('allow-outside-project', `its source is an output of job '${from}', not a host path`);
  }
  if (spec.allowDockerSocket === true) {
    refuse('allow-docker-socket', `its source is an output of job '${from}', not a host path`);
  }
  if (spec.exclude !== undefined && !(Array.isArray(spec.exclude) && spec.exclude.length === 0)) {
    refuse(
      'exclude',
      "an output's content is known by its digest, so nothing of it can be left out of the key",
    );
  }
  const source = nonEmptyString(entry, spec.source, 'source');
  const target = resolveTarget(entry, spec.target, 'output');
  const producer = entry.context.outputs.get(from);
  if (source === undefined || target === undefined || !usable) return undefined;
  if (producer === undefined || from === job) return undefined;
  const path = posix.resolve(producer.workdir, source);
  if (!producer.paths.includes(path)) {
    const written = path === source ? '' : ` (${source} in its workdir ${producer.workdir})`;
    problem(
      entry,
      producer.paths.length === 0
        ? `job '${from}' has no outputs, so it has no ${path}${written}; declare it under outputs: of job '${from}'`
        : `job '${from}' has no output ${path}${written}; its outputs: ${producer.paths.join(', ')}`,
      'source',
    );
    return undefined;
  }
  return { type: 'output', job: from, path, target };
}

function compileCache(spec: CacheMountSpec, entry: Entry): CompiledCacheMount | undefined {
  const id = idOf(entry, spec.id);
  const target = resolveTarget(entry, spec.target, 'cache');
  const sharing = spec.sharing ?? 'shared';
  if (!SHARING.includes(sharing)) {
    problem(entry, `unknown sharing '${String(sharing)}' (allowed: ${SHARING.join(', ')})`, 'sharing');
    return undefined;
  }
  if (id === undefined || target === undefined) return undefined;
  return { type: 'cache', id, target, sharing, readonly: spec.readonly === true };
}

function compileTmpfs(spec: TmpfsMountSpec, entry: Entry): CompiledTmpfsMount | undefined {
  const target = resolveTarget(entry, spec.target, 'tmpfs');
  const sizeBytes = spec.size === undefined ? undefined : parsed(entry, parseSize, spec.size, 'size');
  const mode = spec.mode === undefined ? 0o1777 : parsed(entry, parseMode, spec.mode, 'mode');
  if (target === undefined || mode === undefined || (spec.size !== undefined && sizeBytes === undefined)) {
    return undefined;
  }
  return { type: 'tmpfs', target, ...(sizeBytes !== undefined ? { sizeBytes } : {}), mode };
}

function compileSecret(spec: SecretMountSpec, entry: Entry): CompiledSecretMount | undefined {
  const id = idOf(entry, spec.id);
  if (id === undefined) return undefined;
  const known = knownSecret(entry, id);
  const target = resolveTarget(entry, spec.target ?? `/run/secrets/${id}`, 'secret');
  const mode = spec.mode === undefined ? 0o400 : parsed(entry, parseMode, spec.mode, 'mode');
  const uid = ownerId(entry, spec.uid, 'uid');
  const gid = ownerId(entry, spec.gid, 'gid');
  let envOk = true;
  if (spec.env !== undefined && (typeof spec.env !== 'string' || !ENV_NAME.test(spec.env))) {
    envOk = false;
    problem(entry, `env ${JSON.stringify(spec.env)} is not a variable name (letters, digits, _)`, 'env');
  }
  if (!known || !envOk || target === undefined || mode === undefined) return undefined;
  if (uid === undefined || gid === undefined) return undefined;
  return {
    type: 'secret',
    id,
    target,
    ...(spec.env !== undefined ? { env: spec.env } : {}),
    mode,
    uid,
    gid,
    required: spec.required !== false,
  };
}

/** Whether `id` is declared under `secrets`; if not, says so (with the nearest declared id). */
function knownSecret(entry: Entry, id: string): boolean {
  const { secretIds } = entry.context;
  if (secretIds.has(id)) return true;
  const hint =
    secretIds.size === 0 ? '; declare it under `secrets:` with `env:` or `file:`' : didYouMean(id, secretIds);
  problem(entry, `secret '${id}' is not declared in secrets${hint}`, 'id');
  return false;
}

function compileSsh(spec: SshMountSpec, entry: Entry): CompiledSshMount | undefined {
  const id = spec.id === undefined ? 'default' : idOf(entry, spec.id);
  if (id === undefined) return undefined;
  const target = resolveTarget(entry, spec.target ?? `/run/kiln/ssh-${id}.sock`, 'ssh');
  if (target === undefined) return undefined;
  return { type: 'ssh', id, target, required: spec.required !== false };
}

/**
 * The container's mounts: one per target (identical declarations kept once; different ones on one
 * target reported, naming both), sorted parents first: by depth of the target, then in declaration
 * order.
 */
export function mergeContainerMounts(
  job: string,
  placed: ReadonlyArray<PlacedMount<CompiledContainerMount>>,
  diagnostics: DiagnosticCollector,
): CompiledContainerMount[] {
  const kept = mergeByTarget(job, placed, diagnostics);
  const depth = kept.map((m) => (m.target === '/' ? 0 : m.target.split('/').length - 1));
  return kept
    .map((mount, index) => ({ mount, index }))
    .sort((a, b) => depth[a.index]! - depth[b.index]! || a.index - b.index)
    .map(({ mount }) => mount);
}

/** A step's secret and ssh mounts: one per target; a target the container already mounts is refused. */
export function mergeStepMounts(
  job: string,
  placed: ReadonlyArray<PlacedMount<CompiledStepMount>>,
  containerTargets: ReadonlySet<string>,
  diagnostics: DiagnosticCollector,
): CompiledStepMount[] {
  const kept = mergeByTarget(job, placed, diagnostics);
  for (const entry of placed) {
    if (containerTargets.has(entry.mount.target)) {
      diagnostics.addOnce(
        `job '${job}', ${entry.name} (${describeMount(entry.mount)}): ${entry.mount.target} is also a mount of the job's ` +
          `container; give the ${entry.mount.type} another target`,
        entry.at,
        [job],
      );
    }
  }
  return kept;
}

function mergeByTarget<M extends CompiledMount>(
  job: string,
  placed: ReadonlyArray<PlacedMount<M>>,
  diagnostics: DiagnosticCollector,
): M[] {
  if (placed.length === 1) return [placed[0]!.mount];
  const byTarget = new Map<string, { entry: PlacedMount<M>; key: string }>();
  const kept: M[] = [];
  for (const entry of placed) {
    const first = byTarget.get(entry.mount.target);
    if (first === undefined) {
      byTarget.set(entry.mount.target, { entry, key: JSON.stringify(entry.mount) });
      kept.push(entry.mount);
      continue;
    }
    if (first.entry.mount === entry.mount || first.key === JSON.stringify(entry.mount)) continue;
    diagnostics.addOnce(
      `job '${job}': two different mounts on ${entry.mount.target}: ${first.entry.name} ` +
        `(${describeMount(first.entry.mount)}) and ${entry.name} (${describeMount(entry.mount)}); ` +
        `keep one, or give one another target`,
      entry.at,
      [job],
    );
  }
  return kept;
}

/** A short description of a mount for messages: `bind /home/me/app`, `cache 'npm'`, `tmpfs`. */
export function describeMount(mount: CompiledMount): string {
  switch (mount.type) {
    case 'bind':
      return `bind ${mount.source}${mount.readonly ? ' read-only' : ''}`;
    case 'cache':
      return `cache '${mount.id}'${mount.sharing === 'shared' ? '' : ` ${mount.sharing}`}`;
    case 'tmpfs':
      return 'tmpfs';
    case 'secret':
      return `secret '${mount.id}'`;
    case 'ssh':
      return `ssh '${mount.id}'`;
    case 'output':
      return `output ${mount.path} of job ${mount.job}`;
  }
}

export function isStepMount(mount: CompiledMount): mount is CompiledStepMount {
  return mount.type === 'secret' || mount.type === 'ssh';
}

/**
 * The kernel's and the engine's folders in every container. /proc and /sys are the kernel's
 * interfaces: nothing can be mounted or written under them (the engine fails to start the container, or
 * the file cannot be made). /dev holds the container's device nodes: a mount on /dev itself hides them
 * (the container cannot start); a folder mounted under it works (`/dev/shm` is a common tmpfs), but a
 * secret or an ssh socket there could replace a device (`/dev/null`) for every later step.
 */
const KERNEL_FOLDERS = ['/proc', '/sys'] as const;

/** The longest path of a Unix socket (sun_path holds 108 bytes with its final NUL). */
export const MAX_SOCKET_PATH = 107;

/** Is the container path `path` the folder `folder` or inside it? Both absolute and normalised. */
export function under(path: string, folder: string): boolean {
  return path === folder || path.startsWith(`${folder}/`);
}

/**
 * Why a mount of this type (`output`: a job's own output, whose volume is mounted there too) cannot
 * have this (absolute, normalised) target, or undefined.
 */
export function refusedTarget(type: CompiledMount['type'], target: string): string | undefined {
  if (target === '/') return 'cannot mount on / (the container root); choose a folder';
  const kernel = KERNEL_FOLDERS.find((folder) => under(target, folder));
  if (kernel !== undefined) {
    return `cannot mount on ${target}: ${kernel} belongs to the kernel, and nothing can be mounted or written under it; choose another target`;
  }
  if (type === 'secret' || type === 'ssh') {
    if (under(target, '/dev')) {
      return `cannot put a${type === 'ssh' ? 'n ssh socket' : ' secret'} at ${target}: /dev holds the container's devices, which it could replace; choose another target (the default is under /run)`;
    }
  } else if (target === '/dev') {
    return "cannot mount on /dev: it would hide the container's devices, and the container could not start; mount a folder under it (e.g. /dev/shm) or elsewhere";
  }
  if (type === 'ssh' && Buffer.byteLength(target) > MAX_SOCKET_PATH) {
    return `the socket path ${target} is ${Buffer.byteLength(target)} bytes long, longer than the ${MAX_SOCKET_PATH} a Unix socket's path can be; choose a shorter target`;
  }
  return undefined;
}

function resolveTarget(entry: Entry, target: unknown, type: CompiledMount['type']): string | undefined {
  const value = nonEmptyString(entry, target, 'target');
  if (value === undefined) return undefined;
  const resolved = posix.resolve(entry.scope.workdir, value);
  const refusal = refusedTarget(type, resolved);
  if (refusal !== undefined) {
    problem(entry, refusal, 'target');
    return undefined;
  }
  return resolved;
}

/**
 * The longest id of a cache, secret or ssh mount, as the schema has it: an id becomes part of volume and
 * lock file names (a file name has at most 255 bytes). Ids from KILN_DEFAULT_MOUNTS are checked here.
 */
export const MAX_ID_LENGTH = 128;

function idOf(entry: Entry, value: unknown): string | undefined {
  const id = nonEmptyString(entry, value, 'id');
  if (id === undefined || id.length <= MAX_ID_LENGTH) return id;
  problem(entry, `id is ${id.length} characters long, longer than the ${MAX_ID_LENGTH} allowed`, 'id');
  return undefined;
}

function nonEmptyString(entry: Entry, value: unknown, key: string): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') {
    if (!value.includes('\u0000')) return value;
    problem(entry, `${key} holds a NUL character (\\0), which the engine cannot take; remove it`, key);
    return undefined;
  }
  problem(entry, value === undefined ? `missing ${key}` : `${key} must be a non-empty string`, key);
  return undefined;
}

function ownerId(entry: Entry, value: unknown, key: 'uid' | 'gid'): number | undefined {
  if (value === undefined) return 0;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  problem(entry, `${key} ${JSON.stringify(value)} must be a whole number, 0 or more`, key);
  return undefined;
}

function parsed<T extends string | number>(
  entry: Entry,
  parse: (value: T) => number,
  value: T,
  key: string,
): number | undefined {
  try {
    return parse(value);
  } catch (error) {
    problem(entry, (error as Error).message, key);
    return undefined;
  }
}

function problem(entry: Entry, message: string, key?: string): void {
  const at = entry.at === undefined ? undefined : key === undefined ? entry.at : `${entry.at}/${key}`;
  const job = entry.scope.job === undefined ? '' : `job '${entry.scope.job}', `;
  report(entry.context, entry.scope, `${job}${entry.name}: ${message}`, at);
}

function report(context: MountContext, scope: MountScope, message: string, at: string | undefined): void {
  if (scope.reportOnce) context.diagnostics.addOnce(message, at);
  else context.diagnostics.add(message, at);
}
