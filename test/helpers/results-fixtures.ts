/**
 * Fixtures for the job cache's tests: small file trees written from a description, the stat index made to
 * look as if time had passed since it was written, and result records with their owners.
 */
import { chmod, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { digestOf } from '../../src/results/canonical.js';
import { KEY_FORMAT, type KeyInputs } from '../../src/results/key-inputs.js';
import type { ResultRecord } from '../../src/results/result-store.js';

/** A tree: a path ending in '/' is a folder, `{ link }` a symlink, `{ text, mode }` a file. */
export type TreeSpec = Record<string, string | { text?: string; mode?: number; link?: string }>;

/** Writes a tree under `root`, parents first, in the order given. */
export async function writeTree(root: string, spec: TreeSpec): Promise<void> {
  for (const [path, value] of Object.entries(spec)) {
    const target = join(root, path);
    if (path.endsWith('/')) {
      await mkdir(target, { recursive: true });
      if (typeof value === 'object' && value.mode !== undefined) await chmod(target, value.mode);
      continue;
    }
    await mkdir(dirname(target), { recursive: true });
    if (typeof value === 'object' && value.link !== undefined) {
      await symlink(value.link, target);
      continue;
    }
    const text = typeof value === 'string' ? value : (value.text ?? '');
    await writeFile(target, text);
    await chmod(target, typeof value === 'object' && value.mode !== undefined ? value.mode : 0o644);
  }
}

/** Nanoseconds since the epoch, `seconds` from now. */
export function nsFromNow(seconds: number): bigint {
  return BigInt(Date.now() + seconds * 1000) * 1_000_000n;
}

/**
 * Makes a stat index look written `seconds` from now (its file's mtime), so that entries recorded by a
 * scan that also started then are old enough to be trusted.
 */
export async function ageIndex(indexPath: string, seconds: number): Promise<void> {
  const when = new Date(Date.now() + seconds * 1000);
  await utimes(indexPath, when, when);
}

/** The key inputs of a job on busybox with one output, /out, and nothing else. */
export const KEY_INPUTS: KeyInputs = {
  format: KEY_FORMAT,
  image: { ref: 'kiln-fixture/busybox:latest', id: digestOf('image') },
  env: {},
  workdir: '/',
  shell: ['/bin/sh', '-c'],
  steps: [],
  mounts: [],
  binds: [],
  consumed: [],
  outputs: ['/out'],
};

/** A result record of job build (one output, /out, of 1234 bytes), with `overrides`. */
export function resultRecord(key: string, overrides: Partial<ResultRecord> = {}): ResultRecord {
  return {
    key,
    project: 'app-1234',
    job: 'build',
    outputs: [{ path: '/out', volume: 'kiln-result-app-build-abc', digest: digestOf('out'), size: 1234 }],
    producedBy: 'run-1',
    createdAt: new Date().toISOString(),
    inputs: KEY_INPUTS,
    ...overrides,
  };
}

/** This process as the owner of a result store's pin or lock, for `job` of run `runId`. */
export function resultOwner(
  job = 'build',
  runId = 'run-1',
): { pid: number; host: string; runId: string; job: string } {
  return { pid: process.pid, host: hostname(), runId, job };
}
