/**
 * The step-file loader: reads `kiln.yaml`, parses it keeping source positions, validates it against
 * `schema/kiln.schema.json`, and converts it to a Definition. Every problem found (YAML syntax, duplicate
 * keys, schema faults) is reported at once in one DefinitionError, each diagnostic positioned at the
 * offending key (unknown keys, invalid names) or value (wrong types and values).
 */
import { constants, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { CST, Document, YAMLError } from 'yaml';
import {
  DefinitionError,
  inFileOrder,
  type Diagnostic,
  type RejectedDocument,
  type SourcePosition,
} from '../errors.js';
import { MAX_NESTING, measureAliases } from './alias-budget.js';
import { deepFreeze, documentToDefinition } from './convert.js';
import { describeContainer, splitPointer } from './pointer.js';
import { LazySourceMap, readFast } from './fast-read.js';
import { collectOffsets, LineIndex, PositionFinder, SourceOffsets } from './source-positions.js';
import type { Definition } from './types.js';
import { validateWithTemplates, withInheritedPositions } from './templates.js';
import { yamlPackage } from './yaml-package.js';

/** The step file kiln reads when none is given. */
export const DEFAULT_STEP_FILE = 'kiln.yaml';

/**
 * The largest step file kiln reads: 4 MiB, far more than any step file needs, and little enough that
 * reading and checking it stays quick.
 */
export const MAX_STEP_FILE_BYTES = 4 * 1024 * 1024;

/**
 * Reads and loads a step file. Throws a DefinitionError when the file is missing, unreadable, not a
 * regular file, larger than MAX_STEP_FILE_BYTES, not a step file, or invalid; never another error for
 * a bad file.
 */
export async function loadDefinitionFile(file: string): Promise<Definition> {
  const bytes = await readStepFile(file);
  if (looksBinary(bytes)) throw new DefinitionError([{ message: binaryMessage(file) }]);
  return loadDefinitionText(new TextDecoder('utf-8').decode(bytes), file);
}

/**
 * The bytes of a step file. Devices (`/dev/zero`), FIFOs and sockets are refused before they are read,
 * since reading them may never end; a file is read up to one byte past the limit, so a file that grows
 * while it is read cannot make kiln read more.
 */
async function readStepFile(file: string): Promise<Buffer> {
  const refuse = (message: string, cause?: unknown): DefinitionError =>
    new DefinitionError([{ message }], cause === undefined ? {} : { cause });
  let info: Stats;
  try {
    info = await stat(file);
  } catch (error) {
    throw refuse(unreadableMessage(file, error), error);
  }
  const wrongKind = (found: Stats): string | undefined =>
    found.isDirectory()
      ? unreadableMessage(file, { code: 'EISDIR' })
      : found.isFile()
        ? undefined
        : notRegularMessage(file, found);
  const kind = wrongKind(info);
  if (kind !== undefined) throw refuse(kind);
  if (info.size > MAX_STEP_FILE_BYTES) throw refuse(tooLargeMessage(file));
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // O_NONBLOCK: should the path have become a FIFO since it was looked at, opening it does not wait
    // for a writer; the check below then refuses it.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw refuse(unreadableMessage(file, error), error);
  }
  try {
    const opened = wrongKind(await handle.stat());
    if (opened !== undefined) throw refuse(opened);
    const buffer = Buffer.alloc(Math.min(info.size, MAX_STEP_FILE_BYTES) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > MAX_STEP_FILE_BYTES) throw refuse(tooLargeMessage(file));
        break;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } catch (error) {
    if (error instanceof DefinitionError) throw error;
    throw refuse(unreadableMessage(file, error), error);
  } finally {
    await handle.close();
  }
}

/**
 * Loads a step file's text. `file` names it in positions (as given) and sets `projectDir` (its folder)
 * and `file` (absolute) of the Definition.
 */
export function loadDefinitionText(text: string, file: string): Definition {
  if (text.includes('\u0000')) throw new DefinitionError([{ message: binaryMessage(file) }]);
  const absolute = resolve(file);
  const fast = readFast(text);
  // Templates (`extends`) are expanded before the schema checks the jobs.
  const fastChecked = fast === undefined ? undefined : validateWithTemplates(fast);
  if (fastChecked !== undefined && fastChecked.problems.length === 0) {
    return deepFreeze({
      ...documentToDefinition(fastChecked.document),
      projectDir: dirname(absolute),
      file: absolute,
      sourceMap: withInheritedPositions(
        new LazySourceMap(() => {
          const lines = new LineIndex(text);
          return new PositionFinder(lines, file, parseWithYaml(text, file, lines).offsets).sourceMap();
        }),
        fastChecked,
      ),
    });
  }
  const lines = new LineIndex(text);
  const { data, offsets, diagnostics } = parseWithYaml(text, file, lines);
  const positions = new PositionFinder(lines, file, offsets);
  // The fast reader reads what it accepts as the `yaml` package does: its problems are those of `data`.
  const checked = fastChecked ?? validateWithTemplates(data);
  for (const problem of checked.problems) {
    const job = jobOf(problem.pointer);
    const at = problem.source ?? problem.pointer;
    diagnostics.push({
      message: problem.message,
      position: problem.at === 'key' ? positions.key(at) : positions.value(at),
      pointer: problem.pointer,
      ...(job === undefined ? {} : { jobs: [job] }),
    });
  }
  if (diagnostics.length > 0)
    throw failure(diagnostics, undefined, { data, sourceMap: positions.sourceMap() });

  return deepFreeze({
    ...documentToDefinition(checked.document),
    projectDir: dirname(absolute),
    file: absolute,
    sourceMap: withInheritedPositions(positions.sourceMap(), checked),
  });
}

/** What a reader found: the data, its offsets, and problems that do not stop validation (duplicate keys). */
interface ParsedText {
  readonly data: unknown;
  readonly offsets: SourceOffsets;
  readonly diagnostics: Diagnostic[];
}

/**
 * Reads any YAML with the `yaml` package. Throws a DefinitionError with every syntax problem and
 * unresolved alias, or saying that the text is not a step file; returns duplicate keys as diagnostics.
 */
function parseWithYaml(text: string, file: string, lines: LineIndex): ParsedText {
  const { document, stoppedAt } = parseYaml(text);
  const diagnostics: Diagnostic[] = [];
  // After the errors found before it, which share its position.
  const stopped = (): void => {
    if (stoppedAt === undefined) return;
    diagnostics.push({
      message: `too many YAML errors to go on: kiln stopped reading here (fix those before it first)`,
      position: lines.position(file, stoppedAt),
    });
  };
  // Aliases are measured before anything walks the document: what they expand to can be exponential.
  const aliases = measureAliases(document);
  if (aliases.problem !== undefined) {
    const at = new PositionFinder(lines, file, new SourceOffsets(undefined));
    for (const error of document.errors) {
      if (!isTooDeep(error)) diagnostics.push(syntaxDiagnostic(error, at));
    }
    stopped();
    diagnostics.push({ message: aliases.problem.message, position: at.at(aliases.problem.offset) });
    throw failure(diagnostics);
  }
  const { offsets, duplicates, unresolvedAliases } = collectOffsets(document, aliases.targets);
  const positions = new PositionFinder(lines, file, offsets);

  for (const error of document.errors) diagnostics.push(syntaxDiagnostic(error, positions));
  stopped();
  for (const duplicate of duplicates) {
    const first = positions.at(duplicate.firstOffset);
    diagnostics.push({
      message: `duplicate key '${duplicate.key}' ${describeContainer(duplicate.mapPointer)} (first at line ${first.line})`,
      position: positions.at(duplicate.offset),
      pointer: duplicate.mapPointer,
    });
  }
  for (const alias of unresolvedAliases) {
    diagnostics.push({
      message: `alias '*${alias.name}' has no anchor '&${alias.name}' before it`,
      position: positions.at(alias.offset),
      pointer: alias.pointer,
    });
  }
  if (document.errors.length > 0 || unresolvedAliases.length > 0) throw failure(diagnostics);

  const root = document.contents;
  if (root === null) {
    diagnostics.push({
      message: `${file} is empty; a step file needs at least 'version: 1' and 'jobs'`,
      position: { file, line: 1, column: 1 },
    });
    throw failure(diagnostics);
  }
  let data: unknown;
  try {
    // measureAliases bounded what aliases expand to; the package's own count would walk them again.
    data = document.toJS({ maxAliasCount: -1 });
  } catch (error) {
    diagnostics.push({ message: `${file}: ${(error as Error).message}`, position: positions.value('') });
    throw failure(diagnostics, error);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    diagnostics.push({
      message:
        `${file} is not a step file: it holds ${kindOf(data)}, ` +
        `where a step file is a map with 'version: 1' and 'jobs'`,
      position: positions.value(''),
    });
    throw failure(diagnostics);
  }
  return { data, offsets, diagnostics };
}

/** Syntax errors at the top level of a file after which reading it stops (a file of `]` has millions). */
const MAX_STREAM_ERRORS = 50;

/**
 * The file's first YAML document, as the `yaml` package's parseDocument reads it, but reading stops at
 * the MAX_STREAM_ERRORS-th error the parser finds between documents, and errors are made without stack
 * traces (they are reported by position): a file of megabytes of stray brackets is refused in
 * milliseconds, where each of its characters was an error (minutes).
 */
function parseYaml(text: string): { document: Document; stoppedAt?: number } {
  const { Composer, Parser, YAMLParseError } = yamlPackage();
  // logLevel 'error': the package would print warnings (a map used as a key) on kiln's stderr.
  const composer = new Composer({ uniqueKeys: false, merge: true, prettyErrors: false, logLevel: 'error' });
  let errors = 0;
  let stoppedAt: number | undefined;
  function* tokens(): Generator<CST.Token> {
    for (const token of new Parser().parse(text)) {
      yield token;
      if (token.type === 'error' && ++errors >= MAX_STREAM_ERRORS) {
        stoppedAt = token.offset;
        return;
      }
    }
  }
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    let document: Document | undefined;
    for (const found of composer.compose(tokens(), true, text.length)) {
      if (document === undefined) {
        document = found;
        continue;
      }
      document.errors.push(
        new YAMLParseError([found.range[0], found.range[1]], 'MULTIPLE_DOCS', 'another document starts here'),
      );
      break;
    }
    return { document: document!, ...(stoppedAt === undefined ? {} : { stoppedAt }) };
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * The position of `pointer` in the file a definition came from, or of its nearest ancestor that has
 * one (`/jobs/a/steps/0/run` falls back to `/jobs/a/steps/0`, then `/jobs/a`...). `undefined` for a
 * definition built in code.
 */
export function locate(definition: Definition, pointer: string): SourcePosition | undefined {
  const map = definition.sourceMap;
  if (map === undefined) return undefined;
  for (let p = pointer; ; p = p.slice(0, p.lastIndexOf('/'))) {
    const position = map.get(p);
    if (position !== undefined) return position;
    if (p === '') return undefined;
  }
}

function failure(diagnostics: Diagnostic[], cause?: unknown, document?: RejectedDocument): DefinitionError {
  return new DefinitionError(inFileOrder(diagnostics), {
    ...(cause === undefined ? {} : { cause }),
    ...(document ? { document } : {}),
  });
}

const SYNTAX_MESSAGES: Readonly<Record<string, string>> = {
  MULTIPLE_DOCS: "a step file holds one YAML document, but another one starts here (remove the '---')",
};

function syntaxDiagnostic(error: YAMLError, positions: PositionFinder): Diagnostic {
  const message =
    SYNTAX_MESSAGES[error.code] ??
    (isTooDeep(error)
      ? `lists and maps nest more than ${MAX_NESTING} levels deep here; a step file needs far fewer`
      : `invalid YAML: ${error.message.replace(/ at line \d+, column \d+.*$/s, '')}`);
  return { message, position: positions.at(error.pos[0]) };
}

/** The `yaml` package reports a document nested deeper than its stack as a syntax error. */
function isTooDeep(error: YAMLError): boolean {
  return /call stack/i.test(error.message);
}

function jobOf(pointer: string): string | undefined {
  const tokens = splitPointer(pointer);
  return tokens[0] === 'jobs' && tokens.length >= 2 ? tokens[1] : undefined;
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return 'text';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  return 'nothing';
}

function unreadableMessage(file: string, error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return `${file}: no such step file; create one or pass -f`;
    case 'EISDIR':
      return `${file} is a folder, not a step file; pass -f with the step file's path`;
    case 'EACCES':
    case 'EPERM':
      return `${file}: permission denied; make the step file readable`;
    default:
      return `${file}: cannot read the step file (${(error as Error).message})`;
  }
}

function notRegularMessage(file: string, info: Stats): string {
  const kind = info.isFIFO()
    ? 'a FIFO (named pipe)'
    : info.isCharacterDevice() || info.isBlockDevice()
      ? 'a device'
      : info.isSocket()
        ? 'a socket'
        : 'not a regular file';
  return `${file} is ${kind === 'not a regular file' ? kind : `${kind}, not a regular file`}; kiln reads step files from regular files only`;
}

function tooLargeMessage(file: string): string {
  return `${file} is larger than ${MAX_STEP_FILE_BYTES / 1024 / 1024} MiB, the most kiln reads of a step file; is it the right file?`;
}

function binaryMessage(file: string): string {
  return `${file} is not a step file: it holds binary data, not YAML text`;
}

/** NUL bytes, or bytes that are not UTF-8. */
function looksBinary(bytes: Uint8Array): boolean {
  if (bytes.subarray(0, 8192).includes(0)) return true;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return false;
  } catch {
    return true;
  }
}
