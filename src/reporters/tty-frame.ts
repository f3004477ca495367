/**
 * One frame of the live view, as a pure function of the run state: a line per job (state, name, current
 * step `n/N name`, elapsed) and, under each running job, its services' states (when it has services)
 * and its last output lines. Never wider than the
 * terminal, never taller than `rows - 1` lines (so a redraw never scrolls).
 */
import cliTruncate from 'cli-truncate';
import pc from 'picocolors';
import {
  currentStep,
  lastLines,
  stepTotal,
  type JobState,
  type RunState,
  type StepState,
} from './run-state.js';
import { formatDuration } from '../format-duration.js';
import { CACHED_ICON } from './style.js';
import { padEndWidth, shortKey, widthOf } from './text.js';
import { visible as visibleText } from '../visible-text.js';

/** Output lines shown under each running job. */
export const OUTPUT_LINES_PER_JOB = 3;
/** Below this width only job lines are drawn. */
export const NARROW_COLUMNS = 40;
export const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'] as const;

export interface FrameOptions {
  readonly columns: number;
  readonly rows: number;
  readonly color: boolean;
  /** Epoch ms, for elapsed times of what still runs. */
  readonly now: number;
  /** Animation counter of the spinner. */
  readonly tick: number;
}

type Colors = ReturnType<typeof pc.createColors>;

function stepLabel(job: JobState, step: StepState): string {
  const attempt = (step.attempt ?? 1) > 1 ? ` (attempt ${step.attempt}/${step.attempts})` : '';
  return `${step.index + 1}/${stepTotal(job) ?? '?'} ${visibleText(step.name)}${attempt}`;
}

function lastEnded(job: JobState): StepState | undefined {
  for (let i = job.steps.length - 1; i >= 0; i--) {
    const step = job.steps[i]!;
    if (step.status !== 'passed' && step.status !== 'running' && !step.allowFailure) return step;
  }
  return job.steps[job.steps.length - 1];
}

function icon(job: JobState, c: Colors, tick: number): string {
  switch (job.status) {
    case 'running':
      return c.cyan(SPINNER[tick % SPINNER.length]!);
    case 'waiting':
      return c.dim('·');
    case 'passed':
      return c.green('✔');
    case 'cached':
      return c.blue(CACHED_ICON);
    case 'failed':
    case 'timed-out':
      return c.red('✖');
    case 'cancelled':
      return c.yellow('✖');
    case 'skipped':
      return c.dim('-');
  }
}

function detail(job: JobState, c: Colors, now: number): string {
  switch (job.status) {
    case 'waiting':
      return c.dim('waiting');
    case 'running': {
      if (job.waitingFor) {
        const held = formatDuration(now - job.waitingFor.since);
        return c.yellow(
          `waiting for cache ${visibleText(job.waitingFor.cache)} (held by ${visibleText(job.waitingFor.holder)}, ${held})`,
        );
      }
      const step = currentStep(job);
      if (step) return stepLabel(job, step);
      if (job.cache?.result === 'hit') return cachedDetail(job, c);
      if (job.services?.some((service) => service.status === 'starting'))
        return c.dim('waiting for services');
      if (job.phase === 'cache') return c.dim('checking cache');
      if (job.phase === 'container') return c.dim('starting container');
      if (job.phase === 'release') return c.dim('releasing');
      if (job.phase === 'steps') return c.dim('between steps');
      return c.dim('preparing mounts');
    }
    case 'passed': {
      const passed = job.steps.filter((step) => step.status === 'passed').length;
      return c.green(`passed`) + c.dim(` ${passed}/${stepTotal(job) ?? job.steps.length} steps`);
    }
    case 'cached':
      return cachedDetail(job, c);
    case 'skipped':
      return c.dim(job.reason ? `skipped: ${oneLine(job.reason)}` : 'skipped');
    case 'failed':
    case 'timed-out':
    case 'cancelled': {
      const step = lastEnded(job);
      const word = job.status === 'timed-out' ? 'timed out' : job.status;
      const paint = job.status === 'cancelled' ? c.yellow : c.red;
      if (step && step.status !== 'passed') {
        const exit = step.exitCode === null ? '' : ` (exit ${step.exitCode})`;
        return paint(`${word} at ${stepLabel(job, step)}${exit}`);
      }
      return paint(job.reason ? `${word}: ${oneLine(job.reason)}` : word);
    }
  }
}

/** `services: db ready, cache starting`: each of a job's services and its state. */
function servicesLine(job: JobState, c: Colors): string {
  const states = (job.services ?? []).map((service) => {
    const name = visibleText(service.name);
    switch (service.status) {
      case 'ready':
        return `${name} ${c.green('ready')}`;
      case 'starting':
        return `${name} ${c.cyan('starting')}`;
      case 'failed':
        return `${name} ${c.red('failed')}`;
      case 'stopped':
        return `${name} ${c.dim('stopped')}`;
    }
  });
  return `${c.dim('services:')} ${states.join(', ')}`;
}

/** `cached` and the short key of the result, when known. */
function cachedDetail(job: JobState, c: Colors): string {
  const key = job.cache?.key;
  return c.blue('cached') + (key ? c.dim(` ${shortKey(key)}`) : '');
}

/** A message on one line: line breaks become spaces, other control characters escapes. */
function oneLine(text: string): string {
  return visibleText(text.replace(/\r?\n/g, ' '));
}

function elapsed(job: JobState, now: number): number | undefined {
  if (job.durationMs !== undefined) return job.durationMs;
  if (job.startedAt === undefined) return undefined;
  return Math.max(0, (job.endedAt ?? now) - job.startedAt);
}

/** Which jobs get a line when they do not all fit: running first, then failures, waiting, the rest. */
function pickVisible(jobs: readonly JobState[], room: number): Set<JobState> {
  if (jobs.length <= room) return new Set(jobs);
  const rank = (job: JobState): number =>
    job.status === 'running'
      ? 0
      : job.status === 'failed' || job.status === 'timed-out'
        ? 1
        : job.status === 'waiting'
          ? 2
          : 3;
  const ranked = jobs.map((job, i) => ({ job, i })).sort((a, b) => rank(a.job) - rank(b.job) || a.i - b.i);
  return new Set(ranked.slice(0, Math.max(0, room - 1)).map(({ job }) => job));
}

function fit(line: string, columns: number): string {
  return widthOf(line) > columns ? cliTruncate(line, columns) : line;
}

/**
 * The output lines shown under each running job among `jobs`: shared out one at a time among them, up
 * to OUTPUT_LINES_PER_JOB each and `budget` in all, each job's last lines.
 */
function shareOutputLines(jobs: readonly JobState[], budget: number): Map<JobState, string[]> {
  const outputs = new Map<JobState, string[]>();
  const candidates = jobs
    .filter((job) => job.status === 'running')
    .map((job) => {
      const step = currentStep(job);
      return { job, lines: step ? lastLines(step, OUTPUT_LINES_PER_JOB) : [] };
    })
    .filter(({ lines }) => lines.length > 0);
  for (let round = 0; round < OUTPUT_LINES_PER_JOB && budget > 0; round++) {
    for (const { job, lines } of candidates) {
      if (budget === 0) break;
      const shown = outputs.get(job) ?? [];
      if (round >= lines.length) continue;
      shown.push('');
      outputs.set(job, shown);
      budget--;
    }
  }
  for (const { job, lines } of candidates) {
    const count = outputs.get(job)?.length ?? 0;
    if (count > 0) outputs.set(job, lines.slice(-count));
  }
  return outputs;
}

/** The frame as lines joined by `\n` (no trailing newline). */
export function renderFrame(state: RunState, options: FrameOptions): string {
  const c = pc.createColors(options.color);
  const columns = Math.max(10, options.columns);
  const room = Math.max(1, options.rows - 1);
  const jobs = state.jobOrder
    .map((name) => state.jobs[name])
    .filter((job): job is JobState => job !== undefined);
  const groups = matrixGroups(jobs);
  const headers = [...groups.values()].filter((g) => g.first).length;
  const visible = pickVisible(jobs, Math.max(1, room - headers));
  const hidden = jobs.filter((job) => !visible.has(job));
  // Instances of a matrix job (`build (cc=gcc)`: a written job name has no space) that stand together
  // are shown under one line of their group, each by its values.
  const names = new Map(
    jobs.map((job) => {
      const group = groups.get(job);
      return [job, visibleText(group ? `  ${group.values}` : job.name)];
    }),
  );
  const nameWidth = Math.min(
    Math.max(0, ...jobs.map((job) => widthOf(names.get(job)!))),
    Math.max(8, Math.floor(columns / 3)),
  );

  // A line of services' states under each running job that has services.
  const serviceLines = new Map<JobState, string>();
  if (columns >= NARROW_COLUMNS) {
    for (const job of jobs) {
      if (!visible.has(job) || job.status !== 'running' || !job.services?.length) continue;
      serviceLines.set(job, servicesLine(job, c));
    }
  }
  const outputs =
    columns >= NARROW_COLUMNS
      ? shareOutputLines(
          jobs.filter((job) => visible.has(job)),
          Math.max(0, room - visible.size - serviceLines.size - (hidden.length > 0 ? 1 : 0)),
        )
      : new Map<JobState, string[]>();

  const out: string[] = [];
  for (const job of jobs) {
    if (!visible.has(job)) continue;
    const header = groupHeader(job, jobs, groups, c, columns);
    if (header !== undefined) out.push(header);
    const shown = names.get(job)!;
    const name = widthOf(shown) > nameWidth ? cliTruncate(shown, nameWidth) : padEndWidth(shown, nameWidth);
    const time = elapsed(job, options.now);
    const timeText = time === undefined ? '' : `  ${c.dim(formatDuration(time))}`;
    out.push(
      fit(
        `${icon(job, c, options.tick)} ${c.bold(name)}  ${detail(job, c, options.now)}${timeText}`,
        columns,
      ),
    );
    const services = serviceLines.get(job);
    if (services !== undefined) out.push(fit(`  ${services}`, columns));
    for (const line of outputs.get(job) ?? []) out.push(fit(`  ${c.dim('│')} ${line}`, columns));
  }
  if (hidden.length > 0) {
    const counts = new Map<string, number>();
    for (const job of hidden) counts.set(job.status, (counts.get(job.status) ?? 0) + 1);
    const tally = [...counts].map(([status, count]) => `${count} ${status}`).join(', ');
    out.push(fit(c.dim(`… ${hidden.length} more job${hidden.length === 1 ? '' : 's'} (${tally})`), columns));
  }
  return out.slice(0, room).join('\n');
}

/**
 * The matrix group of each job that stands in a run of at least two instances of one matrix job, with
 * its values (`(cc=gcc)`) and whether it is the run's first.
 */
function matrixGroups(
  jobs: readonly JobState[],
): Map<JobState, { readonly name: string; readonly values: string; readonly first: boolean }> {
  const parsed = jobs.map((job) => /^(\S+) (\(.*\))$/.exec(job.name));
  const groups = new Map<JobState, { name: string; values: string; first: boolean }>();
  for (let i = 0; i < jobs.length; i++) {
    const match = parsed[i];
    if (!match) continue;
    const sameAs = (k: number) => parsed[k]?.[1] === match[1];
    if (!sameAs(i - 1) && !sameAs(i + 1)) continue;
    groups.set(jobs[i]!, { name: match[1]!, values: match[2]!, first: !sameAs(i - 1) });
  }
  return groups;
}

/** The line above the first instance of a matrix group: its name and how many instances are done. */
function groupHeader(
  job: JobState,
  jobs: readonly JobState[],
  groups: ReturnType<typeof matrixGroups>,
  c: Colors,
  columns: number,
): string | undefined {
  const group = groups.get(job);
  if (!group?.first) return undefined;
  const members = jobs.filter((j) => groups.get(j)?.name === group.name);
  const done = members.filter((j) => j.status !== 'running' && j.status !== 'waiting').length;
  return fit(
    `${c.dim('▸')} ${c.bold(visibleText(group.name))}  ${c.dim(`${done}/${members.length} done`)}`,
    columns,
  );
}
