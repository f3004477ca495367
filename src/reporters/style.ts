/**
 * Colors and symbols of the human reporters. With color off there are no escape codes at all and the
 * symbols fall back to ASCII words.
 */
import pc from 'picocolors';
import type { JobStatus, StepStatus } from './run-state.js';

export type Colors = ReturnType<typeof pc.createColors>;

export interface Style {
  readonly color: boolean;
  readonly c: Colors;
  readonly ok: string;
  /** A job whose result came from the job cache. */
  readonly cached: string;
  readonly fail: string;
  readonly start: string;
  readonly skip: string;
  readonly wait: string;
  /** The bar before a step's output lines. */
  readonly bar: string;
}

/** The icon of a job whose result came from the job cache (its ASCII form is `ok`). */
export const CACHED_ICON = '↻';

export function createStyle(color: boolean): Style {
  const c = pc.createColors(color);
  return color
    ? {
        color,
        c,
        ok: c.green('✔'),
        cached: c.blue(CACHED_ICON),
        fail: c.red('✖'),
        start: c.cyan('▶'),
        skip: c.dim('-'),
        wait: c.dim('·'),
        bar: c.dim('│'),
      }
    : { color, c, ok: 'ok', cached: 'ok', fail: 'FAIL', start: '>', skip: '-', wait: '.', bar: '|' };
}

/** A status word, colored by how it went. */
export function statusText(style: Style, status: JobStatus | StepStatus): string {
  const { c } = style;
  switch (status) {
    case 'passed':
      return c.green(status);
    case 'cached':
      return c.blue(status);
    case 'failed':
    case 'timed-out':
      return c.red(status);
    case 'cancelled':
      return c.yellow(status);
    case 'skipped':
    case 'waiting':
      return c.dim(status);
    case 'running':
      return c.cyan(status);
  }
}

/**
 * Decides whether to color: a non-empty NO_COLOR turns color off, FORCE_COLOR (`0`/`false` off, else on)
 * forces it, and otherwise color is on for a TTY whose TERM is not `dumb`.
 */
export function shouldColor(stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR) return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}
