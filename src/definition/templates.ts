/**
 * Templates: a job's `extends: <name>` starts it from another job or from a top-level `x-<name>`
 * template, before the document is checked against the schema. The rules:
 *
 * - maps merge key by key, deeply (`env` is merged, not replaced as YAML's `<<` does); lists (`steps`,
 *   `mounts`, `needs`, `outputs`) and scalars replace what they extend;
 * - `extends` chains (a template may extend another) and a cycle is an error;
 * - a name starting with `x-` is a top-level template, any other name a job; extending a job copies its
 *   spec but not its `needs` (nor its name);
 * - a problem with a value a job inherited is reported at the template's line, where it can be fixed.
 */
import type { SourcePosition } from '../errors.js';
import { LazySourceMap } from './fast-read.js';
import { closest, validateDocument, type SchemaProblem } from './validate.js';
import { escapeToken, splitPointer } from './pointer.js';

type JsonObject = Record<string, unknown>;

/** A schema problem, with the pointer of the value in the file it came from when that differs. */
export interface TemplateProblem extends SchemaProblem {
  /** Where to place the problem in the file: the template's value a job inherited. */
  readonly source?: string;
}

/** The document with every `extends` resolved and the problems of the templates and of the result. */
export interface ExpandedDocument {
  readonly document: unknown;
  readonly problems: TemplateProblem[];
  /** Pointer of an inherited value in `document` -> pointer of that value in the file. */
  readonly origins: ReadonlyMap<string, string>;
}

/** Expands templates, then validates the result against the schema. */
export function validateWithTemplates(document: unknown): ExpandedDocument {
  const expansion = expandTemplates(document);
  if (expansion.origins.size === 0 && expansion.problems.length === 0) {
    return { document, problems: validateDocument(document), origins: expansion.origins };
  }
  const problems: TemplateProblem[] = [...expansion.problems];
  const seen = new Set<string>();
  for (const problem of validateDocument(expansion.document)) {
    const tokens = splitPointer(problem.pointer);
    // A job whose `extends` failed is not checked further: its missing steps would only be noise.
    if (tokens[0] === 'jobs' && tokens[1] !== undefined && expansion.failed.has(tokens[1])) continue;
    const source = sourceOf(problem.pointer, expansion.origins);
    // A fault of a template used by several jobs is reported once.
    const key = `${problem.at} ${source ?? problem.pointer}`;
    if (source !== undefined && seen.has(key)) continue;
    seen.add(key);
    problems.push(source === undefined ? problem : { ...problem, source });
  }
  return { document: expansion.document, problems, origins: expansion.origins };
}

/**
 * The file's source map, where an inherited value (`/jobs/a/needs/0` from `x-base`) is found at the
 * template's value it came from, so that later diagnostics (the compiler's) point at the template.
 */
export function withInheritedPositions(
  map: ReadonlyMap<string, SourcePosition>,
  checked: ExpandedDocument,
): ReadonlyMap<string, SourcePosition> {
  return checked.origins.size === 0 ? map : new InheritedSourceMap(map, checked.origins);
}

class InheritedSourceMap extends LazySourceMap {
  constructor(
    map: ReadonlyMap<string, SourcePosition>,
    private readonly origins: ReadonlyMap<string, string>,
  ) {
    super(() => map);
  }
  override get(pointer: string): SourcePosition | undefined {
    const own = super.get(pointer);
    if (own !== undefined) return own;
    const source = sourceOf(pointer, this.origins);
    return source === undefined ? undefined : super.get(source);
  }
  override has(pointer: string): boolean {
    return this.get(pointer) !== undefined;
  }
}

interface Expansion {
  readonly document: unknown;
  readonly problems: TemplateProblem[];
  /** Pointer of an inherited value in the result -> pointer of that value in the file. */
  readonly origins: Map<string, string>;
  /** Jobs whose `extends` could not be resolved. */
  readonly failed: Set<string>;
}

/** A resolved job or template: its merged fields and where each came from (relative pointer -> file pointer). */
interface Resolved {
  readonly spec: JsonObject;
  readonly origins: Map<string, string>;
}

const isMap = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Resolves every job's `extends`; returns the document unchanged when no job has one. */
function expandTemplates(document: unknown): Expansion {
  const problems: TemplateProblem[] = [];
  const origins = new Map<string, string>();
  const failed = new Set<string>();
  if (!isMap(document) || !isMap(document['jobs'])) return { document, problems, origins, failed };
  const jobs = document['jobs'];
  const extending = Object.keys(jobs).filter((name) => isMap(jobs[name]) && 'extends' in jobs[name]);
  if (extending.length === 0) return { document, problems, origins, failed };

  const done = new Map<string, Resolved | undefined>();
  const pointerOf = (name: string): string =>
    name.startsWith('x-') ? `/${escapeToken(name)}` : `/jobs/${escapeToken(name)}`;
  const valueOf = (name: string): unknown => (name.startsWith('x-') ? document[name] : jobs[name]);

  const resolve = (name: string, chain: readonly string[]): Resolved | undefined => {
    if (done.has(name)) return done.get(name);
    const at = pointerOf(name);
    const own = valueOf(name) as JsonObject;
    let base: Resolved = { spec: {}, origins: new Map() };
    let ok = true;
    if ('extends' in own) {
      const target = own['extends'];
      const where = `${at}/extends`;
      const what = name.startsWith('x-') ? `template '${name}'` : `job '${name}'`;
      const problem = extendsProblem(name, target, what, chain, document, jobs);
      if (problem !== undefined) {
        problems.push({ message: problem, pointer: where, at: 'value' });
        ok = false;
      } else {
        const parent = resolve(target as string, [...chain, name]);
        if (parent === undefined) ok = false;
        else base = (target as string).startsWith('x-') ? parent : withoutNeeds(parent);
      }
    }
    if (!ok) {
      done.set(name, undefined);
      return undefined;
    }
    const spec = structuredClone(base.spec);
    const from = new Map(base.origins);
    mergeInto(spec, own, at, '', from);
    delete spec['extends'];
    from.delete('/extends');
    const result = { spec, origins: from };
    done.set(name, result);
    return result;
  };

  const expandedJobs: JsonObject = { ...jobs };
  for (const name of extending) {
    const resolved = resolve(name, []);
    if (resolved === undefined) {
      failed.add(name);
      continue;
    }
    expandedJobs[name] = resolved.spec;
    const prefix = `/jobs/${escapeToken(name)}`;
    for (const [relative, source] of resolved.origins) origins.set(prefix + relative, source);
  }
  return { document: { ...document, jobs: expandedJobs }, problems, origins, failed };
}

/** A job's spec as another job inherits it: without its `needs`. */
function withoutNeeds(resolved: Resolved): Resolved {
  const spec = { ...resolved.spec };
  delete spec['needs'];
  const origins = new Map([...resolved.origins].filter(([p]) => p !== '/needs' && !p.startsWith('/needs/')));
  return { spec, origins };
}

/** Merges `source` (at `at` in the file) into `target`: maps key by key, anything else replaces. */
function mergeInto(
  target: JsonObject,
  source: JsonObject,
  at: string,
  relative: string,
  origins: Map<string, string>,
): void {
  for (const [key, value] of Object.entries(source)) {
    const here = `${relative}/${escapeToken(key)}`;
    const there = `${at}/${escapeToken(key)}`;
    if (isMap(value) && isMap(target[key])) {
      mergeInto(target[key], value, there, here, origins);
      continue;
    }
    target[key] = structuredClone(value);
    for (const inherited of [...origins.keys()]) {
      if (inherited.startsWith(`${here}/`)) origins.delete(inherited);
    }
    origins.set(here, there);
  }
}

/** The file pointer a problem at `pointer` of the expanded document comes from, if inherited. */
function sourceOf(pointer: string, origins: ReadonlyMap<string, string>): string | undefined {
  for (let p = pointer; p !== ''; p = p.slice(0, p.lastIndexOf('/'))) {
    const source = origins.get(p);
    if (source === undefined) continue;
    const found = source + pointer.slice(p.length);
    return found === pointer ? undefined : found;
  }
  return undefined;
}

/** Why a job's or template's `extends` cannot be followed, or undefined when it can. */
function extendsProblem(
  name: string,
  target: unknown,
  what: string,
  chain: readonly string[],
  document: JsonObject,
  jobs: JsonObject,
): string | undefined {
  const valueOf = (n: string): unknown => (n.startsWith('x-') ? document[n] : jobs[n]);
  if (typeof target !== 'string' || target === '') {
    return `'extends' of ${what} must be the name of a job or of an x- template`;
  }
  if (valueOf(target) === undefined || (!target.startsWith('x-') && !Object.hasOwn(jobs, target))) {
    const names = [...Object.keys(jobs), ...Object.keys(document).filter((k) => k.startsWith('x-'))];
    const guess = closest(
      target,
      names.filter((n) => n !== name),
    );
    return (
      `${what} extends '${target}', which is neither a job nor a top-level x- template` +
      (guess === undefined ? '' : `; did you mean '${guess}'?`)
    );
  }
  if (!isMap(valueOf(target))) return `${what} extends '${target}', which is not a map of job fields`;
  if (chain.includes(target)) {
    return `'extends' makes a cycle: ${[...chain.slice(chain.indexOf(target)), name, target].join(' → ')}`;
  }
  return undefined;
}
