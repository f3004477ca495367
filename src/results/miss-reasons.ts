/**
 * Why a job's key missed, in words a user acts on: the job's current key inputs compared with the last
 * ones it had on this machine (`src/a.txt changed`, `2 files added under ./src (first: src/new.c)`,
 * `image kiln-fixture/debian-gcc:bookworm is another image (sha256:ab12… → sha256:cd34…)`,
 * `step compile's command changed`, `the output /out of job build changed`, `no earlier result`).
 *
 * Only differences that are in the key are told: a renamed step or a moved bind source with the same
 * content is no reason. Bind sources are compared file by file when both listings are at hand (the
 * result store keeps them by digest); otherwise the reason names the source only.
 */
import { canonicalJson, shortDigest } from './canonical.js';
import {
  keyMaterial,
  stepMaterial,
  type BindInput,
  type KeyInputs,
  type MountInput,
  type StepInput,
} from './key-inputs.js';
import {
  compareTreePaths,
  entryDescriptor,
  octalMode,
  type TreeEntry,
  type TreeListing,
} from './tree-format.js';

export { computeKey, KEY_FORMAT, type KeyInputs } from './key-inputs.js';

/** The reason when a job has no earlier key on this machine. */
export const NO_EARLIER_RESULT = 'no earlier result';

/** Why the same inputs as last time missed, when they did. */
export type SameKeyCause = 'not-passed' | 'removed' | 'volume-gone' | 'damaged' | 'no-cache';

export interface MissReasonOptions {
  /** Listings of bind sources by digest (previous and current), for file-by-file reasons. */
  readonly listings?: ReadonlyMap<string, TreeListing>;
  /** Changed files named one by one per bind source before the rest are counted. Default 3. */
  readonly namedChanges?: number;
  /** When the key is the same as last time: why that did not hit. Default 'not-passed'. */
  readonly sameKeyCause?: SameKeyCause;
}

/** The reasons a job with `current` inputs missed, given the last inputs it had (undefined: none). */
export function missReasons(
  previous: KeyInputs | undefined,
  current: KeyInputs,
  options: MissReasonOptions = {},
): string[] {
  if (previous === undefined) return [NO_EARLIER_RESULT];
  if (previous.format !== current.format) {
    return [`kiln's key format changed (${previous.format} → ${current.format}): every job runs once again`];
  }
  if (same(keyMaterial(previous), keyMaterial(current)))
    return [sameKeyReason(options.sameKeyCause ?? 'not-passed')];
  const reasons = [
    ...imageReasons(previous, current),
    ...jobReasons(previous, current),
    ...stepReasons(previous, current),
    ...mountReasons(previous.mounts, current.mounts, 'mount'),
    ...bindReasons(previous.binds, current.binds, options),
    ...consumedReasons(previous, current),
    ...outputReasons(previous, current),
  ];
  return reasons.length > 0 ? reasons : ['its inputs changed'];
}

/** The reason when the key is the one the job had last time and still missed. */
export function sameKeyReason(cause: SameKeyCause): string {
  switch (cause) {
    case 'removed':
      return 'the result of the same inputs was pruned';
    case 'volume-gone':
      return 'the result of the same inputs lost its output volume (removed outside kiln)';
    case 'damaged':
      return 'the result of the same inputs is damaged in the state folder';
    case 'no-cache':
      return 'the last run with the same inputs ran with --no-cache';
    default:
      return 'the last run with the same inputs did not pass';
  }
}

function same(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function imageReasons(previous: KeyInputs, current: KeyInputs): string[] {
  if (previous.image.id === current.image.id) return [];
  const ids = `${shortDigest(previous.image.id)} → ${shortDigest(current.image.id)}`;
  if (previous.image.ref === current.image.ref)
    return [`image ${current.image.ref} is another image (${ids})`];
  return [`image changed (${previous.image.ref} → ${current.image.ref}; ${ids})`];
}

function jobReasons(previous: KeyInputs, current: KeyInputs): string[] {
  const reasons = envReasons(previous.env, current.env, 'env');
  if (previous.workdir !== current.workdir) {
    reasons.push(`the job's workdir changed (${previous.workdir} → ${current.workdir})`);
  }
  if ((previous.user ?? '') !== (current.user ?? '')) {
    reasons.push(
      `the job's user changed (${previous.user ?? 'the image default'} → ${current.user ?? 'the image default'})`,
    );
  }
  if (!same(previous.shell, current.shell)) {
    reasons.push(`the job's shell changed (${previous.shell.join(' ')} → ${current.shell.join(' ')})`);
  }
  if ((previous.network ?? '') !== (current.network ?? '')) {
    reasons.push(
      `the job's network changed (${previous.network ?? 'default'} → ${current.network ?? 'default'})`,
    );
  }
  if (JSON.stringify(previous.services ?? []) !== JSON.stringify(current.services ?? [])) {
    reasons.push(`the job's services changed`);
  }
  return reasons;
}

/** `<what> NAME changed|added|removed` per variable; values are never shown. */
function envReasons(
  previous: Readonly<Record<string, string>>,
  current: Readonly<Record<string, string>>,
  what: string,
  explained?: (name: string) => boolean,
): string[] {
  const reasons: string[] = [];
  const names = [...new Set([...Object.keys(previous), ...Object.keys(current)])].sort();
  for (const name of names) {
    const before = previous[name];
    const after = current[name];
    if (before === after || explained?.(name)) continue;
    if (before === undefined) reasons.push(`${what} ${name} added`);
    else if (after === undefined) reasons.push(`${what} ${name} removed`);
    else reasons.push(`${what} ${name} changed`);
  }
  return reasons;
}

function stepReasons(previous: KeyInputs, current: KeyInputs): string[] {
  if (same(previous.steps.map(stepMaterial), current.steps.map(stepMaterial))) return [];
  const reasons: string[] = [];
  const before = new Map(previous.steps.map((s) => [s.name, s]));
  const after = new Map(current.steps.map((s) => [s.name, s]));
  // A variable of the job's env that changed is told once for the job, not again for each step.
  const jobChanged = (name: string) => previous.env[name] !== current.env[name];
  const shellChanged = !same(previous.shell, current.shell);
  for (const step of previous.steps) if (!after.has(step.name)) reasons.push(`step ${step.name} removed`);
  for (const step of current.steps) {
    const old = before.get(step.name);
    if (old === undefined) {
      reasons.push(`step ${step.name} added`);
      continue;
    }
    const who = `step ${step.name}'s`;
    const oldCommand = shellChanged ? withoutShell(old.argv, previous.shell) : old.argv;
    const newCommand = shellChanged ? withoutShell(step.argv, current.shell) : step.argv;
    if (!same(oldCommand, newCommand)) reasons.push(`${who} command changed`);
    reasons.push(
      ...envReasons(
        old.env,
        step.env,
        `${who} env`,
        (name) =>
          jobChanged(name) && old.env[name] === previous.env[name] && step.env[name] === current.env[name],
      ),
    );
    if (old.workdir !== step.workdir)
      reasons.push(`${who} workdir changed (${old.workdir} → ${step.workdir})`);
    if ((old.user ?? '') !== (step.user ?? '')) {
      reasons.push(`${who} user changed (${old.user ?? 'the default'} → ${step.user ?? 'the default'})`);
    }
    if (old.allowFailure !== step.allowFailure) {
      reasons.push(`${who} allow-failure changed (${old.allowFailure} → ${step.allowFailure})`);
    }
    reasons.push(...mountReasons(old.mounts, step.mounts, `${who} mount`));
  }
  const order = (steps: readonly StepInput[], keep: ReadonlyMap<string, StepInput>) =>
    steps.filter((s) => keep.has(s.name)).map((s) => s.name);
  const oldOrder = order(previous.steps, after);
  const newOrder = order(current.steps, before);
  if (!same(oldOrder, newOrder))
    reasons.push(`steps run in another order (${oldOrder.join(', ')} → ${newOrder.join(', ')})`);
  const jobExplains = shellChanged || !same(previous.env, current.env);
  if (reasons.length === 0 && !jobExplains) {
    // The same names and specs, but not paired as before: steps were renamed and changed at once.
    reasons.push('the steps changed');
  }
  return reasons;
}

function withoutShell(argv: readonly string[], shell: readonly string[]): readonly string[] {
  return shell.length > 0 && shell.every((part, i) => argv[i] === part) ? argv.slice(shell.length) : argv;
}

function mountKey(mount: MountInput): string {
  return `${mount.type} ${mount.target}`;
}

/** `<what> cache /root/.ccache added|removed|changed (sharing locked → shared)`. */
function mountReasons(
  previous: readonly MountInput[],
  current: readonly MountInput[],
  what: string,
): string[] {
  const reasons: string[] = [];
  const before = new Map(previous.map((m) => [mountKey(m), m]));
  const after = new Map(current.map((m) => [mountKey(m), m]));
  for (const [key] of before) if (!after.has(key)) reasons.push(`${what} ${key} removed`);
  for (const [key, mount] of after) {
    const old = before.get(key);
    if (old === undefined) {
      reasons.push(`${what} ${key} added`);
      continue;
    }
    const fields = [...new Set([...Object.keys(old), ...Object.keys(mount)])]
      .filter((f) => f !== 'type' && f !== 'target' && old[f] !== mount[f])
      .sort();
    if (fields.length > 0) {
      const changes = fields.map(
        (f) => `${f} ${String(old[f] ?? '(none)')} → ${String(mount[f] ?? '(none)')}`,
      );
      reasons.push(`${what} ${key} changed (${changes.join(', ')})`);
    }
  }
  return reasons;
}

function bindReasons(
  previous: readonly BindInput[],
  current: readonly BindInput[],
  options: MissReasonOptions,
): string[] {
  const reasons: string[] = [];
  const before = new Map(previous.map((b) => [b.target, b]));
  const after = new Map(current.map((b) => [b.target, b]));
  for (const [target, bind] of before)
    if (!after.has(target)) reasons.push(`bind ${bind.source} -> ${target} removed`);
  for (const [target, bind] of after) {
    const old = before.get(target);
    if (old === undefined) {
      reasons.push(`bind ${bind.source} -> ${target} added`);
      continue;
    }
    if (old.readonly !== bind.readonly) {
      reasons.push(`bind ${bind.source} -> ${target} is ${bind.readonly ? 'read-only' : 'writable'} now`);
    }
    if (old.digest === bind.digest) continue;
    const oldListing = options.listings?.get(old.digest);
    const newListing = options.listings?.get(bind.digest);
    if (oldListing === undefined || newListing === undefined) {
      reasons.push(`the content of ${bind.source} changed`);
      continue;
    }
    const changes = listingChanges(oldListing, newListing, bind.source, options.namedChanges ?? 3);
    reasons.push(...(changes.length > 0 ? changes : [`the content of ${bind.source} changed`]));
  }
  return reasons;
}

/** A path under a bind source as the user sees it from the project folder (`src/a.txt`). */
export function displayEntryPath(source: string, path: string): string {
  const base = source === '.' ? '' : source.startsWith('./') ? source.slice(2) : source;
  if (path === '') return base === '' ? '.' : base;
  return base === '' ? path : `${base.replace(/\/+$/, '')}/${path}`;
}

function noun(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/**
 * What changed between two listings of one bind source: files changed (named, up to `named`, then
 * counted), added and removed (counted, the first named).
 */
export function listingChanges(
  previous: TreeListing,
  current: TreeListing,
  source: string,
  named = 3,
): string[] {
  const added: TreeEntry[] = [];
  const removed: TreeEntry[] = [];
  const changed: string[] = [];
  const a = previous.entries;
  const b = current.entries;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const order = i >= a.length ? 1 : j >= b.length ? -1 : compareTreePaths(a[i]!.path, b[j]!.path);
    if (order < 0) removed.push(a[i++]!);
    else if (order > 0) added.push(b[j++]!);
    else {
      const change = entryChange(a[i++]!, b[j++]!, source);
      if (change !== undefined) changed.push(change);
    }
  }
  const reasons = changed.slice(0, named);
  if (changed.length > named) reasons.push(`${changed.length - named} more changed under ${source}`);
  reasons.push(...countReason(added, 'added', source), ...countReason(removed, 'removed', source));
  return reasons;
}

function countReason(entries: readonly TreeEntry[], verb: string, source: string): string[] {
  if (entries.length === 0) return [];
  // Name files first: a new folder with files in it is told by its files.
  const files = entries.filter((e) => e.type !== 'dir');
  const told = files.length > 0 ? files : entries;
  const what =
    files.length > 0 ? (n: number) => noun(n, 'file', 'files') : (n: number) => noun(n, 'folder', 'folders');
  const first = displayEntryPath(source, told[0]!.path);
  if (told.length === 1) return [`${first} ${verb}`];
  return [`${what(told.length)} ${verb} under ${source} (first: ${first})`];
}

function entryChange(before: TreeEntry, after: TreeEntry, source: string): string | undefined {
  if (entryDescriptor(before) === entryDescriptor(after)) return undefined;
  const path = displayEntryPath(source, after.path);
  if (before.type !== after.type) return `${path} changed from ${typeName(before)} to ${typeName(after)}`;
  if (after.type === 'symlink')
    return `${path} links to ${after.content ?? ''} now (was ${before.content ?? ''})`;
  if (before.content !== after.content || before.size !== after.size) return `${path} changed`;
  if (before.mode !== after.mode)
    return `${path}'s mode changed (${octalMode(before.mode)} → ${octalMode(after.mode)})`;
  return `${path} changed`;
}

function typeName(entry: TreeEntry): string {
  switch (entry.type) {
    case 'file':
      return 'a file';
    case 'dir':
      return 'a folder';
    case 'symlink':
      return 'a symlink';
    default:
      return `a ${entry.type}`;
  }
}

function consumedReasons(previous: KeyInputs, current: KeyInputs): string[] {
  const reasons: string[] = [];
  const key = (c: { job: string; path: string }) => `${c.job}\u0000${c.path}`;
  const before = new Map(previous.consumed.map((c) => [key(c), c]));
  const after = new Map(current.consumed.map((c) => [key(c), c]));
  for (const [k, c] of before) {
    if (!after.has(k)) reasons.push(`the output ${c.path} of job ${c.job} is not mounted any more`);
  }
  for (const [k, c] of after) {
    const old = before.get(k);
    if (old === undefined)
      reasons.push(`the output ${c.path} of job ${c.job} is mounted now (at ${c.target})`);
    else {
      if (old.digest !== c.digest) reasons.push(`the output ${c.path} of job ${c.job} changed`);
      if (old.target !== c.target) {
        reasons.push(
          `the output ${c.path} of job ${c.job} is mounted at ${c.target} now (was ${old.target})`,
        );
      }
    }
  }
  return reasons;
}

function outputReasons(previous: KeyInputs, current: KeyInputs): string[] {
  const before = new Set(previous.outputs);
  const after = new Set(current.outputs);
  return [
    ...[...after].filter((p) => !before.has(p)).map((p) => `output ${p} added`),
    ...[...before].filter((p) => !after.has(p)).map((p) => `output ${p} removed`),
  ];
}
