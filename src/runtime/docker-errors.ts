/**
 * Translates errors of dockerode calls into kiln's error classes, once, at the runtime's boundary: the
 * Docker implementations (docker-*.ts) are the only callers, and nothing above them sees a dockerode
 * error. An engine that cannot be reached is an EngineUnavailableError; any other failed request an
 * EngineRequestError carrying the HTTP status, so that a caller can tell "not there" from a fault
 * without knowing Docker's error shapes.
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

/** The HTTP status of a failed dockerode request (undefined for a connection fault). */
export function statusOf(error: unknown): number | undefined {
  const status = (error as DockerodeError | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** A request the engine answered with an error: what kiln was doing, and the engine's own words. */
export class EngineRequestError extends InfrastructureError {
  /** The HTTP status (404 not found, 409 conflict, 500 server error...), when the engine gave one. */
  readonly status: number | undefined;
  /** The engine's message, without dockerode's `(HTTP code ...)` prefix. */
  readonly detail: string;
  constructor(doing: string, detail: string, status: number | undefined, cause: unknown) {
    super(`${doing}: ${detail}`, cause);
    this.status = status;
    this.detail = detail;
  }
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

/** Whether `endpoint` is on another machine (tcp, ssh): the advice is then about that host, not this one. */
export function isNetworkEndpoint(endpoint: string): boolean {
  return /^(tcp|ssh|https?):\/\//.test(endpoint);
}

/** What to check when a TLS handshake failed with `code`, or undefined when `code` is not a TLS fault. */
function tlsHint(code: string): string | undefined {
  if (/ALTNAME|HOSTNAME/.test(code)) {
    return (
      "the engine's certificate does not name the host of DOCKER_HOST: reach it by a name or address its " +
      'certificate lists'
    );
  }
  if (/ALERT_(BAD|UNKNOWN|UNSUPPORTED|CERTIFICATE|HANDSHAKE)|CERTIFICATE_REQUIRED/.test(code)) {
    return (
      'the engine refused this client: DOCKER_CERT_PATH must hold a client certificate (cert.pem, key.pem) ' +
      'signed by the CA the engine trusts (its --tlscacert)'
    );
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)|ERR_TLS|ERR_SSL|EPROTO/.test(code)) {
    return (
      "the engine's certificate is not signed by the CA of DOCKER_CERT_PATH's ca.pem (or has expired): use " +
      "the ca.pem of the CA that signed the engine's --tlscert"
    );
  }
  return undefined;
}

/** The error for an engine kiln cannot talk to: missing, refused, permission denied, or gone mid-run. */
export function unreachableError(
  endpoint: string,
  error: unknown,
  options: UnreachableOptions = {},
): EngineUnavailableError {
  const e = error as DockerodeError | undefined;
  const code = e?.code ?? (e instanceof Error ? e.message : undefined);
  const tls = code !== undefined ? tlsHint(code) : undefined;
  if (tls !== undefined) {
    return new EngineUnavailableError(
      `the TLS handshake with the Docker engine at ${endpoint} failed (${code}): ${tls}.`,
      endpoint,
      error,
    );
  }
  if (e?.statusCode === 400 && /HTTP request to an HTTPS server/i.test(dockerMessage(error))) {
    return new EngineUnavailableError(
      `the Docker engine at ${endpoint} speaks TLS only: set DOCKER_TLS_VERIFY=1 and point DOCKER_CERT_PATH ` +
        'at the folder that holds its ca.pem and your client certificate (cert.pem, key.pem).',
      endpoint,
      error,
    );
  }
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
  if (endpoint.startsWith('ssh://')) {
    return new EngineUnavailableError(
      `cannot reach the Docker engine at ${endpoint} over ssh: ${what(code, endpoint)} (${code ?? dockerMessage(error)}). ` +
        'kiln logs in with the keys of the ssh agent that SSH_AUTH_SOCK names and runs `docker system ' +
        'dial-stdio` there: check that `ssh` to that user and host works with that agent (ssh-add -l lists ' +
        'its keys) and that the docker CLI on that host reaches its engine.',
      endpoint,
      error,
    );
  }
  if (isNetworkEndpoint(endpoint)) {
    return new EngineUnavailableError(
      `cannot reach the Docker engine at ${endpoint}: ${what(code, endpoint)} (${code ?? dockerMessage(error)}). ` +
        `Check that the engine on that host runs and listens at this address (docker -H ${endpoint} info, ` +
        'with the same DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), or point DOCKER_HOST at another engine.',
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

/**
 * Wraps a Docker call's failure: a KilnError as it is, an unreachable engine as EngineUnavailableError,
 * anything else as an EngineRequestError saying what was being done.
 */
export function translate(error: unknown, doing: string, endpoint: string): KilnError {
  if (error instanceof KilnError) return error;
  if (isUnreachable(error)) return unreachableError(endpoint, error);
  return new EngineRequestError(doing, dockerMessage(error), statusOf(error), error);
}

/** Did the engine answer "no such object" (404)? */
export function isNotFound(error: unknown): boolean {
  return error instanceof EngineRequestError && error.status === 404;
}

/** Did the engine answer "conflict" (409: in use, already being removed, name taken)? */
export function isConflict(error: unknown): boolean {
  return error instanceof EngineRequestError && error.status === 409;
}

/** Runs a Docker call, translating its failure (see {@link translate}). */
export async function dockerCall<T>(doing: string, endpoint: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw translate(error, doing, endpoint);
  }
}

/** Runs a Docker call; a 404 answer ("no such object") is `undefined`, any other failure is translated. */
export async function unlessMissing<T>(
  doing: string,
  endpoint: string,
  call: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await dockerCall(doing, endpoint, call);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
