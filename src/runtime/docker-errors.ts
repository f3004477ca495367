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

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'EPERM', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** Is this error the engine being unreachable (socket missing, refused, permission denied, gone)? */
export function isUnreachable(error: unknown): boolean {
  const code = (error as DockerodeError | undefined)?.code;
  return code !== undefined && UNREACHABLE.has(code);
}

export function unreachableError(endpoint: string, error: unknown): EngineUnavailableError {
  const code = (error as DockerodeError).code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new EngineUnavailableError(
      `permission denied on the Docker socket ${endpoint}. Run kiln as a user in the 'docker' group ` +
        `(sudo usermod -aG docker $USER, then log in again), or as root.`,
      endpoint,
      error,
    );
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return new EngineUnavailableError(
      `the Docker engine at ${endpoint} went away during the run (${code}). Check that dockerd is still running ` +
        `(docker info), then run again.`,
      endpoint,
      error,
    );
  }
  return new EngineUnavailableError(
    `cannot reach a Docker engine at ${endpoint} (${code ?? dockerMessage(error)}). Start one ` +
      `(as root: bash scripts/ensure-engine.sh, or sudo systemctl start docker), or point DOCKER_HOST at a running engine.`,
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
