/**
 * Running kiln's CLI for the job cache's cases: a run whose `--progress json` events are read as they
 * come (step output dropped) so that its wall time splits into start-up, the run itself and the exit,
 * and whose jobs are counted by how they ended; and the volumes a bench project's results left.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type Docker from 'dockerode';
import { KILN_BIN } from './kiln-runs.js';

/** A job.cache or job.end event of a run, as much of it as the cases read. */
export interface JobOutcomes {
  /** job → `hit`, `miss` or `disabled`, from `job.cache`. */
  readonly cache: ReadonlyMap<string, string>;
  /** job → its status, from `job.end` (`passed`, `cached`...). */
  readonly status: ReadonlyMap<string, string>;
}

export interface EventedRun extends JobOutcomes {
  /** From spawning node to the child's exit. */
  readonly wallMs: number;
  /** From spawning node to the run.start event's time: start, module loading, load and compile, engine check, sweep. */
  readonly startMs: number;
  /** run.start to run.end (run.end's own durationMs). */
  readonly runMs: number;
  /** From run.end's time to the child's exit: the summary, flushing, leaving. */
  readonly exitMs: number;
  readonly exitCode: number;
  /** The project's name, from run.start. */
  readonly project: string;
  /** The bytes the run's binds sent the engine (the sum of mount.prepare's uploadedBytes). */
  readonly uploadedBytes: number;
}

/** The epoch time in ms, with the sub-millisecond part of the monotonic clock. */
function nowEpochMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Runs `node bin/kiln.js run --progress json ARGS` in `cwd`; throws with its stderr (and the errors it
 * reported) unless it exits 0.
 */
export async function eventedRun(options: {
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
}): Promise<EventedRun> {
  const spawnedAt = nowEpochMs();
  const started = performance.now();
  const child = spawn(process.execPath, [KILN_BIN, 'run', '--progress', 'json', ...options.args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < 20_000) stderr += text;
  });
  const cache = new Map<string, string>();
  const status = new Map<string, string>();
  const errors: string[] = [];
  let runStartAt: number | undefined;
  let runEndAt: number | undefined;
  let runMs: number | undefined;
  let project = '';
  let uploadedBytes = 0;
  const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
  lines.on('line', (line) => {
    // Step output is most of the bytes and none of what is counted: skip it unparsed.
    if (line.startsWith('{"type":"step.output"')) return;
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const job = typeof event.job === 'string' ? event.job : undefined;
    const at = typeof event.time === 'string' ? Date.parse(event.time) : NaN;
    switch (event.type) {
      case 'run.start':
        runStartAt = at;
        project = String(event.project);
        break;
      case 'mount.prepare':
        if (typeof event.uploadedBytes === 'number') uploadedBytes += event.uploadedBytes;
        break;
      case 'run.end':
        runEndAt = at;
        runMs = typeof event.durationMs === 'number' ? event.durationMs : undefined;
        break;
      case 'job.cache':
        if (job) cache.set(job, String(event.result));
        break;
      case 'job.end':
        if (job) status.set(job, String(event.status));
        break;
      case 'error':
        if (errors.length < 5) errors.push(String(event.message));
        break;
    }
  });
  const closed = new Promise<void>((resolve) => lines.once('close', resolve));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve(exitCode));
  });
  const exitedAt = nowEpochMs();
  const wallMs = performance.now() - started;
  await closed;
  if (code !== 0) {
    const reported = errors.length > 0 ? ` (${errors.join('; ')})` : '';
    throw new Error(`kiln run ${options.args.join(' ')} exited with ${code}${reported}: ${stderr.trim()}`);
  }
  if (runStartAt === undefined || runEndAt === undefined) {
    throw new Error(`kiln run ${options.args.join(' ')} printed no run.start or run.end event`);
  }
  return {
    wallMs,
    startMs: runStartAt - spawnedAt,
    runMs: runMs ?? runEndAt - runStartAt,
    exitMs: exitedAt - runEndAt,
    exitCode: code,
    project,
    uploadedBytes,
    cache,
    status,
  };
}

/** How many jobs of a run ended with each status, and how many the cache hit. */
export function countOutcomes(run: JobOutcomes): {
  ran: number;
  cached: number;
  other: number;
  hits: number;
} {
  let ran = 0;
  let cached = 0;
  let other = 0;
  for (const status of run.status.values()) {
    if (status === 'passed') ran++;
    else if (status === 'cached') cached++;
    else other++;
  }
  const hits = [...run.cache.values()].filter((result) => result === 'hit').length;
  return { ran, cached, other, hits };
}

/**
 * Removes the volumes kiln made for a bench project: those labelled with it (caches, output volumes of
 * results), and any named after it without labels (the engine creates a missing named volume, bare,
 * when a container mounts it: an output volume removed while a run mounted it comes back that way).
 * Project names carry a hash of their temp folder, so the names match this bench's projects only.
 */
export async function removeProjectVolumes(docker: Docker, project: string): Promise<number> {
  const labelled =
    (await docker.listVolumes({ filters: { label: [`dev.kiln.project=${project}`] } })).Volumes ?? [];
  const named = ((await docker.listVolumes({ filters: { name: [`-${project}-`] } })).Volumes ?? []).filter(
    (v) => /^kiln-[a-z]+-/.test(v.Name) && v.Name.includes(`-${project}-`),
  );
  const names = new Set([...labelled, ...named].map((v) => v.Name));
  await Promise.all(
    [...names].map((name) =>
      docker
        .getVolume(name)
        .remove()
        .catch((error: { statusCode?: number }) => {
          if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
        }),
    ),
  );
  return names.size;
}
