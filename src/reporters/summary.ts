/**
 * The end-of-run summary: a table of jobs (a cached job with the short key of its result), then what
 * each failed step ran, how it ended and the last lines it printed (and the last lines of each service
 * that failed), then a tally of the jobs by status
 * and where the full logs are.
 */
import { serviceLogPath, stepLogPath } from './log-paths.js';
import { TAIL_LINES, lastLines, stepTotal, type JobState, type RunState } from './run-state.js';
import { createStyle, statusText, type Style } from './style.js';
import { formatDuration } from '../format-duration.js';
import { padEndWidth, shortKey, widthOf } from './text.js';
import { visible } from '../visible-text.js';

export interface SummaryOptions {
  /** Colors and symbols; off means no escape code at all. */
  readonly color: boolean;
  /** The folder holding this run's logs (`<logDir>/<runId>`), printed as `logs: <dir>`. Default: none. */
  readonly logsDir?: string;
}

function stepsCell(job: JobState): string {
  // A cached job ran no step: its steps neither passed nor were skipped in this run.
  if (job.status === 'cached') return '-';
  const passed = job.steps.filter((step) => step.status === 'passed').length;
  const total = stepTotal(job);
  return `${passed}/${total ?? '?'}`;
}

function durationCell(job: JobState): string {
  return job.durationMs === undefined ? '-' : formatDuration(job.durationMs);
}

function endedWith(exitCode: number | null, status: string): string {
  if (status === 'timed-out') return exitCode === null ? 'timed out' : `timed out (exit ${exitCode})`;
  return exitCode === null ? status : `exited ${exitCode}`;
}

/** ` on attempt 2/3` for a step with `retry`, else nothing. */
export function onAttempt(step: { readonly attempt?: number; readonly attempts?: number }): string {
  return step.attempt === undefined ? '' : ` on attempt ${step.attempt}/${step.attempts}`;
}

/** Why a job ended as it did, or the key of a cached job's result. */
function noteCell(job: JobState): string {
  if (job.reason) return oneLine(job.reason);
  if (job.status === 'cached' && job.cache?.key) return `key ${shortKey(job.cache.key)}`;
  return '';
}

/** A message on one line: line breaks become spaces, other control characters escapes. */
function oneLine(text: string): string {
  return visible(text.replace(/\r?\n/g, ' '));
}

/** Rows of cells padded to their column's width; `decorate` colors a padded cell (widths stay right). */
function table(
  rows: readonly (readonly string[])[],
  decorate: (cell: string, row: number, column: number) => string,
): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, widthOf(cell))));
  return rows.map((row, r) => {
    let last = row.length - 1;
    while (last > 0 && row[last] === '') last--;
    return row
      .slice(0, last + 1)
      .map((cell, i) => decorate(i === last ? cell : padEndWidth(cell, widths[i]!), r, i))
      .join('  ');
  });
}

/** The summary as text ending in a newline, for the plain and live reporters to print at run.end. */
export function renderSummary(state: RunState, options: SummaryOptions): string {
  const style = createStyle(options.color);
  const { c } = style;
  const jobs = state.jobOrder
    .map((name) => state.jobs[name])
    .filter((job): job is JobState => job !== undefined);
  const lines: string[] = [''];

  const header = ['job', 'status', 'steps', 'duration', ''];
  // Names, commands and reasons are the user's: their control characters show as escapes.
  const rows = jobs.map((job) => [
    visible(job.name),
    job.status,
    stepsCell(job),
    durationCell(job),
    noteCell(job),
  ]);
  const decorate = (cell: string, row: number, column: number): string => {
    if (row === 0) return c.bold(cell);
    if (column !== 1) return column === 4 ? c.dim(cell) : cell;
    const status = jobs[row - 1]!.status;
    return statusText(style, status) + cell.slice(status.length);
  };
  lines.push(...table([header, ...rows], decorate));

  for (const job of jobs) {
    for (const step of job.steps) {
      if (step.status !== 'passed' || (step.attempt ?? 1) === 1) continue;
      lines.push(
        '',
        `${style.ok} ${c.bold(`${visible(job.name)} / ${visible(step.name)}`)}: passed${onAttempt(step)}`,
      );
    }
    const failedSteps = job.steps.filter(
      (step) => (step.status === 'failed' || step.status === 'timed-out') && !step.allowFailure,
    );
    for (const step of failedSteps) {
      lines.push('');
      const duration = step.durationMs === undefined ? '' : ` (${formatDuration(step.durationMs)})`;
      lines.push(
        `${style.fail} ${c.bold(`${visible(job.name)} / ${visible(step.name)}`)}: ${endedWith(step.exitCode, step.status)}${onAttempt(step)}${duration}`,
      );
      lines.push(
        `  ${c.dim('$')} ${visible(step.command.trimEnd().replace(/\r\n/g, '\n'), '\n\t').replace(/\n/g, '\n    ')}`,
      );
      const output = lastLines(step, TAIL_LINES);
      for (const line of output) lines.push(`  ${style.bar} ${line}`);
      const total = step.lineCount + (step.partial.stdout ? 1 : 0) + (step.partial.stderr ? 1 : 0);
      const notes: string[] = [];
      if (output.length === 0) notes.push('no output');
      else if (total > output.length) notes.push(`last ${output.length} of ${total} lines`);
      if (options.logsDir)
        notes.push(`full log: ${stepLogPath(options.logsDir, job.name, step.index, step.name)}`);
      if (notes.length > 0) lines.push(c.dim(`  (${notes.join('; ')})`));
    }
    const failedServices = (job.services ?? []).filter((service) => service.status === 'failed');
    for (const service of failedServices) {
      lines.push(
        '',
        `${style.fail} ${c.bold(`${visible(job.name)} / service ${visible(service.name)}`)}: failed`,
      );
      const output = lastLines(service.output, TAIL_LINES);
      for (const line of output) lines.push(`  ${style.bar} ${line}`);
      const notes: string[] = [];
      if (output.length === 0) notes.push('no output');
      else notes.push(`its last ${output.length} line${output.length > 1 ? 's' : ''}`);
      if (options.logsDir) notes.push(`full log: ${serviceLogPath(options.logsDir, job.name, service.name)}`);
      lines.push(c.dim(`  (${notes.join('; ')})`));
    }
    if (job.status === 'failed' && failedSteps.length === 0 && job.reason) {
      lines.push('', `${style.fail} ${c.bold(visible(job.name))}: ${oneLine(job.reason)}`);
    }
  }

  lines.push('', runLine(state, jobs, style));
  if (options.logsDir) lines.push(`logs: ${options.logsDir}`);
  return lines.join('\n') + '\n';
}

function runLine(state: RunState, jobs: readonly JobState[], style: Style): string {
  const counts = new Map<string, number>();
  for (const job of jobs) counts.set(job.status, (counts.get(job.status) ?? 0) + 1);
  const order = [
    'passed',
    'cached',
    'failed',
    'timed-out',
    'cancelled',
    'skipped',
    'running',
    'waiting',
  ] as const;
  const tally = order
    .filter((status) => counts.has(status))
    .map((status) => `${counts.get(status)} ${status}`)
    .join(', ');
  const duration =
    state.durationMs ??
    (state.startedAt !== undefined && state.endedAt !== undefined
      ? state.endedAt - state.startedAt
      : undefined);
  const took = duration === undefined ? '' : ` in ${formatDuration(duration)}`;
  if (!state.status) return `${style.c.yellow('run did not finish')}${took}: ${tally || 'no jobs'}`;
  const icon = state.status === 'passed' || state.status === 'cached' ? style.ok : style.fail;
  return `${icon} run ${statusText(style, state.status)}${took}: ${tally || 'no jobs'}`;
}
