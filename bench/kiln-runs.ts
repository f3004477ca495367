/**
 * Running kiln under measurement: through the API with every event stamped as it arrives, and through
 * the CLI as a child process whose wall time and peak resident memory (VmHWM) are taken.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { Definition } from '../src/definition/types.js';
import type { KilnEvent, KilnEventType } from '../src/events.js';
import type { BuildGraph } from '../src/graph/types.js';
import { runBuildGraph, type RunOptions } from '../src/executor/run-session.js';
import type { RunResult } from '../src/scheduler/types.js';

/** The repository's root (this file runs from dist/bench/). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const KILN_BIN = join(REPO_ROOT, 'bin', 'kiln.js');

/** An event as the bench saw it: `at` is performance.now() when the listener got it. */
export interface TimedEvent {
  readonly type: KilnEventType;
  readonly at: number;
  readonly job?: string;
  readonly step?: string;
}

export interface TimedRun {
  readonly result: RunResult;
  /** From calling runBuildGraph to its promise resolving (engine check and sweep included). */
  readonly wallMs: number;
  /** Every event but step.output, in order. */
  readonly events: readonly TimedEvent[];
}

/**
 * Runs a compiled graph through the API. `onEvent` also sees every event (e.g. to count output bytes).
 * Throws when the run did not pass, with the errors it reported.
 */
export async function timedApiRun(graph: BuildGraph, options: RunOptions = {}): Promise<TimedRun> {
  const events: TimedEvent[] = [];
  const errors: string[] = [];
  const listener = options.onEvent;
  const started = performance.now();
  const result = await runBuildGraph(graph, {
    ...options,
    onEvent: (event: KilnEvent) => {
      const at = performance.now();
      listener?.(event);
      if (event.type === 'step.output') return;
      if (event.type === 'error') errors.push(event.message);
      events.push({
        type: event.type,
        at,
        ...('job' in event && event.job !== undefined ? { job: event.job } : {}),
        ...('step' in event && event.step !== undefined ? { step: event.step } : {}),
      });
    },
  });
  const wallMs = performance.now() - started;
  if (result.exitCode !== 0) {
    throw new Error(
      `kiln run ended with exit code ${result.exitCode}${errors.length ? `: ${errors.join('; ')}` : ''}`,
    );
  }
  return { result, wallMs, events };
}

/** When the first (or last) event of a type arrived, optionally of one job. */
export function eventAt(
  events: readonly TimedEvent[],
  type: KilnEventType,
  which: 'first' | 'last' = 'first',
  job?: string,
): number {
  const matching = events.filter((e) => e.type === type && (job === undefined || e.job === job));
  const found = which === 'first' ? matching[0] : matching[matching.length - 1];
  if (!found) throw new Error(`the run had no ${type} event${job ? ` for job ${job}` : ''}`);
  return found.at;
}

export interface CliRunOptions {
  /** Arguments after `kiln`. */
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Poll the child's VmHWM (peak resident set) every this many ms. Default: no polling. */
  readonly memoryPollMs?: number;
}

export interface CliRun {
  /** From spawning node to the child's exit. */
  readonly wallMs: number;
  /** The child's peak resident set in MiB, when polled. */
  readonly peakRssMiB?: number;
}

/** Runs `node bin/kiln.js ARGS > /dev/null`; throws with its stderr when it does not exit 0. */
export async function timedCliRun(options: CliRunOptions): Promise<CliRun> {
  const devNull = openSync('/dev/null', 'w');
  try {
    const started = performance.now();
    const child = spawn(process.execPath, [KILN_BIN, ...options.args], {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', devNull, 'pipe'],
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < 20_000) stderr += text;
    });
    let peakKiB = 0;
    let timer: NodeJS.Timeout | undefined;
    if (options.memoryPollMs !== undefined && child.pid !== undefined) {
      const path = `/proc/${child.pid}/status`;
      const poll = async () => {
        const kib = await readFile(path, 'utf8').then(vmHwmKiB, () => 0);
        peakKiB = Math.max(peakKiB, kib);
      };
      timer = setInterval(() => void poll(), options.memoryPollMs);
    }
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (exitCode) => resolve(exitCode));
    });
    const wallMs = performance.now() - started;
    if (timer) clearInterval(timer);
    if (code !== 0) throw new Error(`kiln ${options.args.join(' ')} exited with ${code}: ${stderr.trim()}`);
    return { wallMs, ...(options.memoryPollMs !== undefined ? { peakRssMiB: peakKiB / 1024 } : {}) };
  } finally {
    closeSync(devNull);
  }
}

function vmHwmKiB(status: string): number {
  const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) : 0;
}

/** Writes a definition built in code as `kiln.yaml` in its project folder; returns the file's path. */
export async function writeStepFile(definition: Definition): Promise<string> {
  const { projectDir: _projectDir, file: _file, sourceMap: _sourceMap, ...content } = definition;
  const path = join(definition.projectDir, 'kiln.yaml');
  await writeFile(path, stringify(content));
  return path;
}
