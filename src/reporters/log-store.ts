/**
 * Keeps every step's full output on disk, `<logDir>/<runId>/<job>/<NN>-<step>.log` (never clipped,
 * stdout and stderr interleaved as they came, streamed to the file as it arrives), each service's beside
 * them (`<job>/service-<name>.log`), and the run's other
 * events in `<logDir>/<runId>/events.jsonl`. At run.start, run folders beyond the newest `keepRuns` are
 * removed. A log that cannot be written never stops the run: the problem is handed to `onProblem`.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { finished } from 'node:stream';
import { stepOutputBytes, type KilnEvent } from '../events.js';
import { eventsLogPath, runLogDir, serviceLogPath, stepLogPath } from './log-paths.js';

/**
 * The key of a service's open log among the steps' (`job\0step`): a control character before its name,
 * which no step name holds, so that a step named `:db` is never taken for service `db`.
 */
function serviceKey(job: string, service: string): string {
  return `${job}\0\u0001${service}`;
}
import type { OutputPressure } from '../output-pressure.js';
import { StreamOutput } from './output.js';
import type { Reporter } from './types.js';

/** Runs whose logs are kept when nothing else is said. */
export const DEFAULT_KEEP_RUNS = 20;

export interface LogStoreOptions {
  /** The folder holding one folder per run. */
  readonly logDir: string;
  /** Run folders kept, this run's included (at least 1). Default: DEFAULT_KEEP_RUNS. */
  readonly keepRuns?: number;
  /** Told once per problem (a folder that cannot be made, a disk that is full). Default: ignored. */
  readonly onProblem?: (message: string) => void;
  /** Held while a log file is behind, so that a slow disk slows the steps instead of filling memory. */
  readonly pressure?: OutputPressure;
}

interface OpenFile {
  readonly file: WriteStream;
  readonly out: StreamOutput;
  readonly path: string;
}

function endFile({ file, out }: OpenFile): Promise<void> {
  return out.flush().then(
    () =>
      new Promise<void>((resolve) => {
        if (file.destroyed) return resolve();
        finished(file, () => resolve());
        file.end();
      }),
  );
}

export class LogStore implements Reporter {
  readonly #options: LogStoreOptions;
  #runDir: string | undefined;
  #events: OpenFile | undefined;
  readonly #steps = new Map<string, OpenFile>();
  readonly #stepsSeen = new Map<string, number>();
  readonly #pending: Promise<unknown>[] = [];
  readonly #told = new Set<string>();
  #disabled = false;
  #closed = false;

  constructor(options: LogStoreOptions) {
    this.#options = options;
  }

  /** This run's log folder, once run.start was seen and the folder could be made. */
  get runDir(): string | undefined {
    return this.#disabled ? undefined : this.#runDir;
  }

  onEvent(event: KilnEvent): void {
    if (this.#disabled || this.#closed) return;
    if (event.type === 'run.start') this.#startRun(event.runId);
    if (!this.#runDir) return;
    switch (event.type) {
      case 'step.start': {
        // A later attempt of a step with `retry` goes on in the same log, after a line that says so.
        const earlier = this.#steps.get(`${event.job}\0${event.step}`);
        if (earlier && (event.attempt ?? 1) > 1) {
          earlier.out.write(`--- attempt ${event.attempt}/${event.attempts} ---\n`);
        } else this.#openStep(event.job, event.step, event.index);
        break;
      }
      case 'step.output': {
        const open = this.#steps.get(`${event.job}\0${event.step}`) ?? this.#openStep(event.job, event.step);
        open?.out.write(stepOutputBytes(event));
        return;
      }
      case 'step.end': {
        const key = `${event.job}\0${event.step}`;
        const open = this.#steps.get(key);
        // A failed attempt that may be followed by another keeps its log open until the job ends.
        const more = event.status !== 'passed' && (event.attempt ?? 0) < (event.attempts ?? 0);
        if (open && !more) {
          this.#steps.delete(key);
          this.#pending.push(endFile(open));
        }
        break;
      }
      case 'service.output': {
        const key = serviceKey(event.job, event.service);
        let open = this.#steps.get(key);
        if (open === undefined) {
          open = this.#open(serviceLogPath(this.#runDir, event.job, event.service));
          if (open) this.#steps.set(key, open);
        }
        open?.out.write(event.data);
        return;
      }
      case 'service.end': {
        const key = serviceKey(event.job, event.service);
        const open = this.#steps.get(key);
        if (open) {
          this.#steps.delete(key);
          this.#pending.push(endFile(open));
        }
        break;
      }
      case 'job.end':
        for (const [key, open] of this.#steps) {
          if (!key.startsWith(`${event.job}\0`)) continue;
          this.#steps.delete(key);
          this.#pending.push(endFile(open));
        }
        break;
    }
    this.#events?.out.write(JSON.stringify(event) + '\n');
  }

  /** Ends every open file and waits for them and for the pruning of old runs. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const open of this.#steps.values()) this.#pending.push(endFile(open));
      this.#steps.clear();
      if (this.#events) this.#pending.push(endFile(this.#events));
    }
    await Promise.all(this.#pending);
  }

  #problem(message: string): void {
    if (this.#told.has(message)) return;
    this.#told.add(message);
    this.#options.onProblem?.(message);
  }

  #open(path: string): OpenFile | undefined {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (error) {
      this.#problem(`step logs are not kept: cannot create ${dirname(path)}: ${(error as Error).message}`);
      return undefined;
    }
    const file = createWriteStream(path);
    const out = new StreamOutput(file, this.#options.pressure);
    file.on('error', (error) => this.#problem(`cannot write the log ${path}: ${error.message}`));
    return { file, out, path };
  }

  #startRun(runId: string): void {
    if (this.#runDir) return;
    const runDir = runLogDir(this.#options.logDir, runId);
    try {
      mkdirSync(runDir, { recursive: true });
    } catch (error) {
      this.#disabled = true;
      this.#problem(`step logs are not kept: cannot create ${runDir}: ${(error as Error).message}`);
      return;
    }
    this.#runDir = runDir;
    this.#events = this.#open(eventsLogPath(runDir));
    this.#pending.push(this.#prune(runDir));
  }

  #openStep(job: string, step: string, index?: number): OpenFile | undefined {
    const seen = this.#stepsSeen.get(job) ?? 0;
    this.#stepsSeen.set(job, seen + 1);
    const open = this.#open(stepLogPath(this.#runDir!, job, index ?? seen, step));
    if (open) this.#steps.set(`${job}\0${step}`, open);
    return open;
  }

  /** Removes the oldest run folders (those holding an events.jsonl) beyond keepRuns. */
  async #prune(current: string): Promise<void> {
    const keep = Math.max(1, this.#options.keepRuns ?? DEFAULT_KEEP_RUNS);
    const root = this.#options.logDir;
    try {
      const entries = await readdir(root, { withFileTypes: true });
      const runs: { path: string; mtimeMs: number }[] = [];
      for (const entry of entries) {
        if (!entry.isDirectory() || entry.name === basename(current)) continue;
        const path = join(root, entry.name);
        try {
          const events = await stat(eventsLogPath(path));
          runs.push({ path, mtimeMs: events.mtimeMs });
        } catch {
          // Not a run folder: left alone.
        }
      }
      runs.sort((a, b) => b.mtimeMs - a.mtimeMs || b.path.localeCompare(a.path));
      await Promise.all(runs.slice(keep - 1).map(({ path }) => rm(path, { recursive: true, force: true })));
    } catch (error) {
      this.#problem(`old run logs in ${root} could not be pruned: ${(error as Error).message}`);
    }
  }
}
