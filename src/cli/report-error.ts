/**
 * How the CLI tells a person that a command failed: the message, plainly; a stack only with --debug.
 */
import { relative, isAbsolute } from 'node:path';
import { DefinitionError, ExitCode, formatDiagnostic, isKilnError, type Diagnostic } from '../errors.js';

/** A step file's path as the user would type it: relative to the working folder when inside it. */
export function displayPath(file: string, cwd: string = process.cwd()): string {
  if (!isAbsolute(file)) return file;
  const rel = relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/**
 * One line per problem: `FILE:LINE:COL: message` where the problem has a position (so that editors and
 * terminals can jump to it), `kiln: message` otherwise.
 */
export function formatDiagnostics(diagnostics: readonly Diagnostic[], cwd: string = process.cwd()): string {
  const lines = diagnostics.map((d) =>
    d.position
      ? formatDiagnostic({ ...d, position: { ...d.position, file: displayPath(d.position.file, cwd) } })
      : `kiln: ${d.message}`,
  );
  if (diagnostics.length > 1) lines.push(`kiln: ${diagnostics.length} problems`);
  return `${lines.join('\n')}\n`;
}

/** Prints an error for a person: the message, a stack only with --debug. Returns the exit code. */
export function reportError(error: unknown, debug: boolean): number {
  if (error instanceof DefinitionError && error.diagnostics.length > 0) {
    process.stderr.write(formatDiagnostics(error.diagnostics));
  } else if (isKilnError(error)) {
    process.stderr.write(`kiln: ${error.message}\n`);
  } else {
    process.stderr.write(`kiln: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (!debug) process.stderr.write('(run again with --debug for details)\n');
  }
  if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return isKilnError(error) ? error.exitCode : ExitCode.infrastructure;
}
