/** `kiln prune`: kiln's containers, unused run volumes, and caches with their size and last use. */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ExitCode } from '../errors.js';
import { projectName } from '../graph/project-name.js';
import { pruneContainers } from '../executor/prune-containers.js';
import { listCaches, removeCaches } from '../mounts/index.js';
import { checkEngine, createEngine, type Engine } from '../runtime/engine.js';
import { liveEngineLocks, lockContainerName } from '../runtime/engine-locks.js';
import { ensureStateDir } from '../state-dir.js';
import { reportError } from './report-error.js';
import { parseSize } from '../definition/sizes.js';
import { UsageError } from '../errors.js';
import { DEFAULT_RESULTS_UNUSED_MS, pruneResults, type PrunedResults } from '../executor/prune-results.js';
import { pruneSourceVolumes } from '../runtime/source-volumes.js';
import { remoteSettings, ResultStore } from '../results/index.js';
import { visible } from '../visible-text.js';

/** `--keep-storage`'s size, or a UsageError that names the forms a size takes. */
function keepStorageBytes(value: string): number {
  try {
    return parseSize(value);
  } catch {
    throw new UsageError(
      `--keep-storage ${visible(value)} is not a size; write e.g. 10g, 512m or 1073741824`,
    );
  }
}

/**
 * `1.5 GiB`: binary units named as such (the `bytes` package writes `1.5GB` for the same number), `?`
 * for a size the engine did not give.
 */
function formatBytes(n: number | undefined): string {
  if (n === undefined || n < 0) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/**
 * `--project`: the project of the step file `file`, which is named after the file's folder (as a run
 * names it); the file is not compiled, so that a project whose step file is broken can still be pruned.
 */
function projectOf(file: string): string {
  const absolute = resolve(file);
  if (!existsSync(absolute)) {
    throw new UsageError(
      `kiln prune --project: no step file ${visible(file)}; run it in the project's folder or name its step file with -f`,
    );
  }
  return projectName(dirname(absolute));
}

export async function pruneCommand(options: {
  all?: boolean;
  dryRun?: boolean;
  /** `--keep-storage SIZE`: keep the job cache's results under this size. */
  keepStorage?: string;
  /** `--project`: only what is labelled with the project of `file`. Default: every project. */
  project?: boolean;
  /** The step file whose project `--project` limits to. Default kiln.yaml. */
  file?: string;
  debug?: boolean;
}): Promise<number> {
  try {
    const project = options.project ? projectOf(options.file ?? 'kiln.yaml') : undefined;
    ensureStateDir();
    const engine = createEngine();
    await checkEngine(engine);
    const verb = options.dryRun ? 'would remove' : 'removed';
    if (project !== undefined) process.stdout.write(`project ${project} only\n`);
    const containers = await pruneContainers(engine, {
      all: options.all ?? false,
      dryRun: options.dryRun ?? false,
      onKept: (r, reason) => process.stdout.write(`kept ${r.kind} ${r.name}: ${reason}\n`),
      ...(project !== undefined ? { project } : {}),
    });
    for (const r of containers) {
      process.stdout.write(`${verb} ${r.kind} ${r.name}${r.scope ? ` (${r.scope})` : ''}\n`);
    }
    // A cache whose lock a live run holds on the engine (a run of another host, on a shared engine) is
    // in use even before that run's container mounts it.
    const held = await liveEngineLocks(engine);
    const caches = (await listCaches(engine.volumes))
      .filter((c) => project === undefined || c.project === project)
      .map((c) => {
        const holder = c.inUse ? undefined : held.get(lockContainerName(c.name));
        return holder === undefined ? c : { ...c, inUse: true, usedBy: holder };
      });
    const chosen = options.all ? caches : [];
    if (caches.length > 0) {
      process.stdout.write('caches:\n');
      for (const c of caches) {
        const lastUsed = c.lastUsed ? new Date(c.lastUsed).toISOString().replace('T', ' ').slice(0, 16) : '?';
        process.stdout.write(
          `  ${c.name}  ${formatBytes(c.sizeBytes)}  last used ${lastUsed}${c.inUse ? `  (in use: ${c.usedBy ?? '?'})` : ''}\n`,
        );
      }
    }
    if (chosen.length > 0) {
      const result = await removeCaches(engine.volumes, chosen, { dryRun: options.dryRun ?? false });
      for (const c of result.removed) process.stdout.write(`${verb} cache ${c.name}\n`);
      for (const k of result.kept) process.stdout.write(`kept cache ${k.cache.name}: ${k.reason}\n`);
    } else if (caches.length > 0) {
      process.stdout.write('caches are kept; kiln prune --all removes those not in use\n');
    }
    const results = await pruneJobResults(engine, options, project, verb);
    const sources = await pruneSourceVolumes(engine, {
      olderThanMs: DEFAULT_RESULTS_UNUSED_MS,
      all: options.all ?? false,
      dryRun: options.dryRun ?? false,
      ...(project !== undefined ? { project } : {}),
    });
    for (const s of sources.removed) {
      process.stdout.write(
        `${verb} volume ${s.name} (bind source ${s.digest.slice(7, 19)}, shipped to a remote engine)\n`,
      );
    }
    for (const s of sources.kept) process.stdout.write(`kept volume ${s.name}: in use\n`);
    if (
      containers.length === 0 &&
      caches.length === 0 &&
      results.removed.length === 0 &&
      sources.removed.length === 0
    ) {
      process.stdout.write('nothing to prune\n');
    }
    return ExitCode.passed;
  } catch (error) {
    return reportError(error, options.debug ?? false);
  }
}

/** Prunes the job cache's results (and the output volumes of dead runs) and says what it did. */
async function pruneJobResults(
  engine: Engine,
  options: { all?: boolean; dryRun?: boolean; keepStorage?: string },
  project: string | undefined,
  verb: string,
): Promise<PrunedResults> {
  const results = await pruneResults(engine, ResultStore.forEnv(), {
    all: options.all ?? false,
    dryRun: options.dryRun ?? false,
    ...(options.keepStorage !== undefined ? { keepBytes: keepStorageBytes(options.keepStorage) } : {}),
    ...(project !== undefined ? { project } : {}),
  });
  for (const r of results.removed) {
    process.stdout.write(
      `${verb} result ${r.key.slice(7, 19)} of job ${visible(r.job)}  ${formatBytes(r.size)}  last used ${r.lastUsedAt.replace('T', ' ').slice(0, 16)}\n`,
    );
  }
  for (const k of results.kept) {
    process.stdout.write(
      `kept result ${k.result.key.slice(7, 19)} of job ${visible(k.result.job)}: ${k.reason}\n`,
    );
  }
  for (const v of results.orphanVolumes) process.stdout.write(`${verb} volume ${v} (output of a dead run)\n`);
  for (const w of results.warnings) process.stderr.write(`kiln: warning: ${visible(w)}\n`);
  process.stdout.write(
    `job cache: ${results.remaining.count} result${results.remaining.count === 1 ? '' : 's'} kept, ${formatBytes(results.remaining.bytes)}\n`,
  );
  const shared = remoteSettings();
  if (shared) {
    process.stdout.write(
      `the shared cache (${visible(shared.cache.description)}) is not pruned by kiln: its server or folder keeps its own limits\n`,
    );
  }
  return results;
}
