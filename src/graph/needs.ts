/**
 * The `needs` of jobs checked as one graph: each need names another job, and no jobs need each other in
 * a cycle. The compiler checks a definition's needs job by job as it compiles them, then the cycles;
 * `kiln validate` also checks what the loader could read of a file that failed its schema (checkNeeds),
 * so that both kinds of problem are reported in one pass.
 */
import { DefinitionError, inFileOrder } from '../errors.js';
import { DiagnosticCollector, pointer } from './diagnostics.js';
import { orderJobs } from './order.js';
import { didYouMean } from './suggest.js';

/** The jobs' names in declaration order, and the number of each. */
export class JobNumbers {
  readonly names: readonly string[];
  readonly #numbers: ReadonlyMap<string, number>;

  constructor(names: readonly string[]) {
    this.names = names;
    this.#numbers = new Map(names.map((name, index) => [name, index]));
  }

  numberOf(name: string): number | undefined {
    return this.#numbers.get(name);
  }
}

/**
 * One job's needs as written (`raw`), resolved to job numbers without repeats; adds a diagnostic for
 * needs that are not a list, name no job, or name the job itself. Values that are not strings are left
 * to the schema.
 */
export function resolveNeeds(
  name: string,
  raw: unknown,
  jobs: JobNumbers,
  diagnostics: DiagnosticCollector,
): number[] {
  const at = pointer('jobs', name, 'needs');
  const label = `job '${name}'`;
  if (raw !== undefined && !Array.isArray(raw)) {
    diagnostics.add(`${label}: needs must be a list of job names`, at);
  }
  const numbers: number[] = [];
  const seen = new Set<number>();
  (Array.isArray(raw) ? (raw as unknown[]) : []).forEach((need, index) => {
    if (typeof need !== 'string') return;
    const number = jobs.numberOf(need);
    if (need === name) {
      diagnostics.add(`${label} needs itself; remove '${need}' from its needs`, `${at}/${index}`, [name]);
    } else if (number === undefined) {
      const others = jobs.names.filter((other) => other !== name);
      diagnostics.add(
        `${label} needs '${need}', which is not a job${diagnostics.reporting ? didYouMean(need, others) : ''}`,
        `${at}/${index}`,
        [name],
      );
    } else if (!seen.has(number)) {
      seen.add(number);
      numbers.push(number);
    }
  });
  return numbers;
}

/** The most jobs of a cycle its message names. */
const LISTED_CYCLE_JOBS = 12;

/**
 * The order jobs can run in (every job after all it needs; partial on a cycle), adding a diagnostic for
 * each cycle, placed at the need that closes it. `needs[i]` holds the resolved needs of job `i`;
 * `written(name)` returns a job's needs as written.
 */
export function orderByNeeds(
  jobs: JobNumbers,
  needs: ReadonlyArray<readonly number[]>,
  written: (name: string) => unknown,
  diagnostics: DiagnosticCollector,
): string[] {
  const { order, cycles } = orderJobs(needs);
  for (const cycle of cycles) {
    const cycleNames = cycle.map((n) => jobs.names[n]!);
    const first = cycleNames[0]!;
    const next = cycleNames[1 % cycleNames.length]!;
    const raw = written(first);
    const needIndex = Array.isArray(raw) ? raw.indexOf(next) : -1;
    const path =
      cycleNames.length <= LISTED_CYCLE_JOBS
        ? [...cycleNames, first].join(' -> ')
        : `${cycleNames.slice(0, LISTED_CYCLE_JOBS).join(' -> ')} -> ... ` +
          `(${cycleNames.length - LISTED_CYCLE_JOBS} more jobs) -> ${first}`;
    diagnostics.add(
      `jobs form a cycle through needs: ${path} (each needs the next); ` + `remove one of these needs`,
      pointer('jobs', first, 'needs', needIndex),
      cycleNames,
    );
  }
  return order.map((n) => jobs.names[n]!);
}

/** Both checks at once, on jobs as a document holds them (any job may be malformed). */
export function checkNeeds(jobs: Readonly<Record<string, unknown>>, diagnostics: DiagnosticCollector): void {
  const numbers = new JobNumbers(Object.keys(jobs));
  const written = (name: string): unknown => {
    const job = jobs[name];
    return job !== null && typeof job === 'object' ? (job as { needs?: unknown }).needs : undefined;
  };
  const needs = numbers.names.map((name) => resolveNeeds(name, written(name), numbers, diagnostics));
  orderByNeeds(numbers, needs, written, diagnostics);
}

/**
 * The loader's error for a step file that failed its schema, with the problems of its jobs' needs added
 * (needs naming no job, cycles), so that one pass reports both kinds; any other error as it is. Where the
 * schema already found a fault in a value, that value is not checked again.
 */
export function withNeedProblems(error: unknown): unknown {
  if (!(error instanceof DefinitionError) || error.document === undefined) return error;
  const jobs = (error.document.data as { jobs?: unknown }).jobs;
  if (jobs === null || typeof jobs !== 'object' || Array.isArray(jobs)) return error;
  const collector = new DiagnosticCollector(error.document.sourceMap);
  checkNeeds(jobs as Record<string, unknown>, collector);
  const faulty = new Set(error.diagnostics.map((d) => d.pointer));
  const added = collector.diagnostics.filter((d) => !faulty.has(d.pointer));
  if (added.length === 0) return error;
  return new DefinitionError(inFileOrder([...error.diagnostics, ...added]), {
    cause: error.cause,
    document: error.document,
  });
}
