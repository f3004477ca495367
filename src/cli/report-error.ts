/**
 * How the CLI tells a person that a command failed: the message, plainly; a stack only with --debug.
 */
import { relative, isAbsolute } from 'node:path';
import { MAX_REPORTED_PROBLEMS } from '../definition/diagnostic-limit.js';
import { DefinitionError, ExitCode, formatDiagnostic, isKilnError, type Diagnostic } from '../errors.js';
import { visible } from '../visible-text.js';

/** A step file's path as the user would type it: relative to the working folder when inside it. */
export function displayPath(file: string, cwd: string = process.cwd()): string {
  if (!isAbsolute(file)) return file;
  const rel = relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/**
 * One line per problem: `FILE:LINE:COL: message` where the problem has a position (so that editors and
 * terminals can jump to it), `kiln: message` otherwise; the first MAX_REPORTED_PROBLEMS of them. Control
 * characters of file names and quoted values are shown as escapes, so that no problem spans two lines.
 */
export function formatDiagnostics(diagnostics: readonly Diagnostic[], cwd: string = process.cwd()): string {
  const lines = diagnostics.slice(0, MAX_REPORTED_PROBLEMS).map((d) =>
    d.position
      ? formatDiagnostic({
          message: visible(d.message),
          position: { ...d.position, file: visible(displayPath(d.position.file, cwd)) },
        })
      : `kiln: ${visible(d.message)}`,
  );
  const count = diagnostics.length;
  if (count > MAX_REPORTED_PROBLEMS)
    lines.push(`kiln: ${count} problems, the first ${MAX_REPORTED_PROBLEMS} shown`);
  else if (count > 1) lines.push(`kiln: ${count} problems`);
  return `${lines.join('\n')}\n`;
}

/** Prints an error for a person: the message, a stack only with --debug. Returns the exit code. */
export function reportError(error: unknown, debug: boolean): number {
  if (error instanceof DefinitionError && error.diagnostics.length > 0) {
    process.stderr.write(formatDiagnostics(error.diagnostics));
  } else if (isKilnError(error)) {
    // Messages of several lines are meant so; any other control character came from a quoted value.
    process.stderr.write(`kiln: ${visible(error.message, '\n')}\n`);
  } else {
    process.stderr.write(
      `kiln: internal error: ${visible(error instanceof Error ? error.message : String(error), '\n')}\n`,
    );
    if (!debug) process.stderr.write('(run again as kiln --debug COMMAND ... for details)\n');
  }
  if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return isKilnError(error) ? error.exitCode : ExitCode.infrastructure;
}
