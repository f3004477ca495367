/**
 * The job cache's own errors. Faults of its files in the state folder are never errors (a damaged file
 * reads as a miss, with a warning); what is left is a source kiln cannot read to digest, and a refused
 * or failed export.
 */
import { ExitCode, KilnError } from '../errors.js';

/**
 * A path under a bind source could not be read while computing its content digest. A permission
 * problem is the user's to fix (exit 2); any other fault is the machine's (exit 3).
 */
export class SourceReadError extends KilnError {
  readonly path: string;
  constructor(path: string, doing: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    const denied = code === 'EACCES' || code === 'EPERM';
    super(
      `cannot ${doing} ${path} to compute the content digest of a bind source (${code ?? String(cause)})` +
        (denied
          ? `; make it readable by the user running kiln, or leave it out of the key with the mount's exclude: or .kilnignore`
          : ''),
      { code: 'E_SOURCE_READ', exitCode: denied ? ExitCode.usage : ExitCode.infrastructure, cause },
    );
    this.path = path;
  }
}

/** An output could not be exported where it was asked to be (refused destination: exit 2; fault: exit 3). */
export class ExportError extends KilnError {
  readonly destination: string;
  constructor(destination: string, message: string, options: { refused: boolean; cause?: unknown }) {
    super(message, {
      code: 'E_EXPORT',
      exitCode: options.refused ? ExitCode.usage : ExitCode.infrastructure,
      cause: options.cause,
    });
    this.destination = destination;
  }
}
