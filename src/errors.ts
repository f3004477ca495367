/**
 * kiln's error classes. Every expected fault is a KilnError with a stable `code`, the process exit code
 * of the CLI contract it maps to, and a message a user can act on. The CLI prints `message` only (the stack
 * with `--debug`).
 */

/** Exit codes of the CLI contract. */
export const ExitCode = {
  passed: 0,
  stepFailed: 1,
  usage: 2,
  infrastructure: 3,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class KilnError extends Error {
  /** A stable, machine-readable code such as `E_DEFINITION`. */
  readonly code: string;
  /** The exit code the CLI uses when this error ends a command. */
  readonly exitCode: ExitCodeValue;

  constructor(message: string, options: { code: string; exitCode: ExitCodeValue; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.exitCode = options.exitCode;
  }
}

/** Where in a step file a problem was found (1-based line and column). */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** One problem found while loading or compiling a definition. */
export interface Diagnostic {
  readonly message: string;
  /** Position in the step file, when the definition came from one. */
  readonly position?: SourcePosition;
  /** JSON pointer of the offending value inside the definition, e.g. `/jobs/build/needs/0`. */
  readonly pointer?: string;
  /** Jobs the problem concerns (a cycle names all of its jobs). */
  readonly jobs?: readonly string[];
}

export function formatDiagnostic(d: Diagnostic): string {
  if (d.position) return `${d.position.file}:${d.position.line}:${d.position.column}: ${d.message}`;
  return d.message;
}

/** Diagnostics in file order (line, then column); those without a position first; ties as given. */
export function inFileOrder(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const order = (d: Diagnostic): number =>
    d.position === undefined ? -1 : d.position.line * 1_000_000 + d.position.column;
  return diagnostics
    .map((d, i) => [d, i] as const)
    .sort(([a, i], [b, j]) => order(a) - order(b) || i - j)
    .map(([d]) => d);
}

/** What the loader could read of a step file it rejected, so that later checks can still look at it. */
export interface RejectedDocument {
  /** The file's data as parsed (it failed the schema: any part may be malformed). */
  readonly data: unknown;
  /** Positions of the data's values, by JSON pointer. */
  readonly sourceMap: ReadonlyMap<string, SourcePosition>;
}

/** The definition is invalid: every problem found is in `diagnostics`. Exit code 2. */
export class DefinitionError extends KilnError {
  readonly diagnostics: readonly Diagnostic[];
  /** Set by the loader when the file parsed but failed its schema. */
  readonly document?: RejectedDocument;

  constructor(
    diagnostics: readonly Diagnostic[],
    options: { cause?: unknown; document?: RejectedDocument } = {},
  ) {
    const lines = diagnostics.map(formatDiagnostic);
    super(lines.join('\n') || 'invalid definition', {
      code: 'E_DEFINITION',
      exitCode: ExitCode.usage,
      cause: options.cause,
    });
    this.diagnostics = diagnostics;
    if (options.document) this.document = options.document;
  }
}

/** The command line was wrong. Exit code 2. */
export class UsageError extends KilnError {
  constructor(message: string) {
    super(message, { code: 'E_USAGE', exitCode: ExitCode.usage });
  }
}

/** The Docker engine could not be reached, or refused us. Exit code 3. */
export class EngineUnavailableError extends KilnError {
  readonly endpoint: string;
  constructor(message: string, endpoint: string, cause?: unknown) {
    super(message, { code: 'E_ENGINE_UNAVAILABLE', exitCode: ExitCode.infrastructure, cause });
    this.endpoint = endpoint;
  }
}

/** Any other fault of the engine or the machine (a Docker call failed, a volume could not be made). Exit code 3. */
export class InfrastructureError extends KilnError {
  constructor(message: string, cause?: unknown, code = 'E_INFRASTRUCTURE') {
    super(message, { code, exitCode: ExitCode.infrastructure, cause });
  }
}

/** An image a job needs is not present and cannot be pulled. Exit code 3. */
export class ImageNotFoundError extends KilnError {
  readonly image: string;
  readonly job: string | undefined;
  constructor(image: string, job: string | undefined, cause?: unknown) {
    const fixture = /^kiln-fixture\/(busybox|debian-gcc|redis):/.exec(image)?.[1];
    super(
      `image ${image}${job ? ` (job ${job})` : ''} is not present on the engine and could not be pulled; ` +
        (fixture
          ? `build it with: bash scripts/build-fixtures.sh ${fixture}`
          : 'build it (docker build, docker import) or load it (docker load) on the engine first, ' +
            'or make a registry that holds it reachable'),
      { code: 'E_IMAGE_NOT_FOUND', exitCode: ExitCode.infrastructure, cause },
    );
    this.image = image;
    this.job = job;
  }
}

/** A mount could not be prepared (missing bind source, refused path, missing secret or agent). Exit code 2. */
export class MountError extends KilnError {
  readonly job: string;
  readonly mount: string;
  constructor(job: string, mount: string, message: string, cause?: unknown) {
    super(`job ${job}, mount ${mount}: ${message}`, { code: 'E_MOUNT', exitCode: ExitCode.usage, cause });
    this.job = job;
    this.mount = mount;
  }
}

/**
 * A service of a job exited, or never became ready, before the job's first step: the job fails without
 * running a step; the run's summary shows its last lines of output. Exit code 1.
 */
export class ServiceError extends KilnError {
  readonly job: string;
  readonly service: string;
  /** The service's last lines of output, once known. */
  lastLines: readonly string[] = [];
  constructor(job: string, service: string, message: string, cause?: unknown) {
    super(`job ${job}, service ${service}: ${message}`, {
      code: 'E_SERVICE',
      exitCode: ExitCode.stepFailed,
      cause,
    });
    this.job = job;
    this.service = service;
  }
}

/** The run was cancelled (signal or timeout). Exit code 130. */
export class CancelledError extends KilnError {
  constructor(reason = 'cancelled') {
    super(reason, { code: 'E_CANCELLED', exitCode: ExitCode.interrupted });
  }
}

/** The CancelledError for an aborted signal, saying its reason where it has words. */
export function cancelledError(signal: AbortSignal): CancelledError {
  const reason: unknown = signal.reason;
  if (reason instanceof CancelledError) return reason;
  if (reason instanceof Error) return new CancelledError(reason.message);
  if (typeof reason === 'string') return new CancelledError(reason);
  const message = (reason as { message?: unknown } | undefined)?.message;
  return new CancelledError(typeof message === 'string' ? message : 'cancelled');
}

export function isKilnError(error: unknown): error is KilnError {
  return error instanceof KilnError;
}
