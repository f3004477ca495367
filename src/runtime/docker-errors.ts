/**
 * Translates errors of dockerode calls into kiln's error classes, once, at the runtime's boundary.
 */
import { EngineUnavailableError, InfrastructureError, KilnError } from '../errors.js';

interface DockerodeError extends Error {
  statusCode?: number;
  code?: string;
  json?: { message?: string } | null;
  reason?: string;
}

export function dockerMessage(error: unknown): string {
  const e = error as DockerodeError;
  const fromJson = e?.json && typeof e.json === 'object' ? e.json.message : undefined;
  return (fromJson ?? e?.message ?? String(error)).replace(/^\(HTTP code \d+\)\s*[a-z ]*-\s*/i, '').trim();
}

export function statusOf(error: unknown): number | undefined {
  return (error as DockerodeError | undefined)?.statusCode;
}

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EACCES',
  'EPERM',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_SOCKET_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Is this error the engine being unreachable (socket missing, refused, permission denied, gone)? */
export function isUnreachable(error: unknown): boolean {
  const e = error as DockerodeError | undefined;
  if (e === undefined || e === null || e.statusCode !== undefined) return false;
  if (e.code !== undefined && UNREACHABLE.has(e.code)) return true;
  // Node's HTTP client reports a connection closed under a request without a code.
  return e instanceof Error && /^(socket hang up|aborted)$/.test(e.message);
}

/** Endpoints that answered in this process: once one has, losing it means the engine went away. */
const answered = new Set<string>();

/** Records that the engine at `endpoint` answered (called once the engine is checked). */
export function markAnswered(endpoint: string): void {
  answered.add(endpoint);
}

/** Has the engine at `endpoint` answered before in this process? */
export function hasAnswered(endpoint: string): boolean {
  return answered.has(endpoint);
}

function what(code: string | undefined, endpoint: string): string {
  switch (code) {
    case 'ENOENT':
      return `there is no socket at ${endpoint.replace(/^unix:\/\//, '')}`;
    case 'ECONNREFUSED':
      return 'the connection was refused';
    case 'ETIMEDOUT':
      return 'it did not answer in time';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'the host is unreachable';
    default:
      return 'the connection failed';
  }
}

export interface UnreachableOptions {
  /**
   * Whether the engine answered earlier, so that it went away rather than never was there. Default: whether
   * it answered before in this process (see markAnswered).
   */
  readonly answeredBefore?: boolean;
}

/** The error for an engine kiln cannot talk to: missing, refused, permission denied, or gone mid-run. */
export function unreachableError(
  endpoint: string,
  error: unknown,
  options: UnreachableOptions = {},
): EngineUnavailableError {
  const e = error as DockerodeError | undefined;
  const code = e?.code ?? (e instanceof Error ? e.message : undefined);
  if (code === 'EACCES' || code === 'EPERM') {
    return new EngineUnavailableError(
      `permission denied on the Docker socket ${endpoint} (${code}). Run kiln as a user in the 'docker' group ` +
        `(sudo usermod -aG docker $USER, then log in again), as root, or point DOCKER_HOST at an engine you may use.`,
      endpoint,
      error,
    );
  }
  if (options.answeredBefore ?? answered.has(endpoint)) {
    return new EngineUnavailableError(
      `the Docker engine at ${endpoint} went away during the run (${code ?? 'connection closed'}). ` +
        `Check that it is still running (docker info; sudo systemctl status docker), then run again: ` +
        `the next run (or kiln prune) removes the containers this run left.`,
      endpoint,
      error,
    );
  }
  return new EngineUnavailableError(
    `cannot reach a Docker engine at ${endpoint}: ${what(code, endpoint)} (${code ?? dockerMessage(error)}). ` +
      `Start the engine (sudo systemctl start docker, or run dockerd), or point DOCKER_HOST at a running one ` +
      `(e.g. DOCKER_HOST=unix:///var/run/docker.sock or tcp://HOST:2375).`,
    endpoint,
    error,
  );
}

/** Wraps a Docker call's failure: unreachable engine, else an infrastructure error saying what was being done. */
export function translate(error: unknown, doing: string, endpoint: string): KilnError {
  if (error instanceof KilnError) return error;
  if (isUnreachable(error)) return unreachableError(endpoint, error);
  return new InfrastructureError(`${doing}: ${dockerMessage(error)}`, error);
}
