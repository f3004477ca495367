/**
 * The `needs` of jobs checked as one graph: each need names another job, and no jobs need each other in
 * a cycle. A bind with `from` needs the job it names, as if that job were in `needs`. The compiler checks
 * a definition's needs job by job as it compiles them, then the cycles; `kiln validate` also checks what
 * the loader could read of a file that failed its schema (checkNeeds), so that both kinds of problem are
 * reported in one pass.
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

/** A job that another job depends on, and where the dependant says so. */
export interface WrittenNeed {
  /** The job depended on, as written. */
  readonly job: string;
  /** JSON pointer of the value that names it: an entry of `needs`, or the `from` of a bind. */
  readonly at: string;
  /** Through `needs`, or through a bind with `from` (named as messages name mounts: `mounts[0]`). */
  readonly via: 'needs' | { readonly mount: string };
}

/**
 * What a job depends on as it is written (any shape: a document that failed its schema, or a
 * Definition): the names in its `needs`, then the jobs named by the `from` of its binds (the job's own
 * mounts, then its steps'), in the order written. Values that are not strings are left out.
 */
export function writtenNeeds(name: string, job: unknown): WrittenNeed[] {
  const out: WrittenNeed[] = [];
  if (!isRecord(job)) return out;
  if (Array.isArray(job['needs'])) {
    (job['needs'] as unknown[]).forEach((need, index) => {
      if (typeof need === 'string')
        out.push({ job: need, at: pointer('jobs', name, 'needs', index), via: 'needs' });
    });
  }
  const fromMounts = (mounts: unknown, at: string, entryName: (index: number) => string): void => {
    if (!Array.isArray(mounts)) return;
    (mounts as unknown[]).forEach((mount, index) => {
      if (!isRecord(mount) || mount['type'] !== 'bind' || typeof mount['from'] !== 'string') return;
      out.push({ job: mount['from'], at: `${at}/${index}/from`, via: { mount: entryName(index) } });
    });
  };
  fromMounts(job['mounts'], pointer('jobs', name, 'mounts'), (i) => `mounts[${i}]`);
  if (Array.isArray(job['steps'])) {
    (job['steps'] as unknown[]).forEach((step, index) => {
      if (!isRecord(step)) return;
      const stepName = typeof step['name'] === 'string' ? step['name'] : `step-${index + 1}`;
      fromMounts(
        step['mounts'],
        pointer('jobs', name, 'steps', index, 'mounts'),
        (i) => `step '${stepName}' mounts[${i}]`,
      );
    });
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * One job's needs resolved to job numbers without repeats, in the order written: its `needs`, then the
 * jobs its binds with `from` mount an output of (`written`, from writtenNeeds). Adds a diagnostic for
 * needs that are not a list, and for a need or a `from` that names no job or the job itself.
 */
export function resolveNeeds(
  name: string,
  job: unknown,
  written: readonly WrittenNeed[],
  jobs: JobNumbers,
  diagnostics: DiagnosticCollector,
): number[] {
  const label = `job '${name}'`;
  const raw = isRecord(job) ? job['needs'] : undefined;
  if (raw !== undefined && !Array.isArray(raw)) {
    diagnostics.add(`${label}: needs must be a list of job names`, pointer('jobs', name, 'needs'));
  }
  const numbers: number[] = [];
  const seen = new Set<number>();
  for (const { job: need, at, via } of written) {
    const number = jobs.numberOf(need);
    const hint = (): string =>
      diagnostics.reporting
        ? didYouMean(
            need,
            jobs.names.filter((other) => other !== name),
          )
        : '';
    if (need === name) {
      diagnostics.add(
        via === 'needs'
          ? `${label} needs itself; remove '${need}' from its needs`
          : `${label}, ${via.mount}: from '${need}' is this job: a job cannot mount its own outputs ` +
              `(its steps write them where its outputs say; use those paths)`,
        at,
        [name],
      );
    } else if (number === undefined) {
      diagnostics.add(
        via === 'needs'
          ? `${label} needs '${need}', which is not a job${hint()}`
          : `${label}, ${via.mount}: from '${need}' is not a job${hint()}`,
        at,
        [name],
      );
    } else if (!seen.has(number)) {
      seen.add(number);
      numbers.push(number);
    }
  }
  return numbers;
}

/** The most jobs of a cycle its message names. */
const LISTED_CYCLE_JOBS = 12;

/**
 * The order jobs can run in (every job after all it needs; partial on a cycle), adding a diagnostic for
 * each cycle, placed at the need (or the bind's `from`) that closes it. `needs[i]` holds the resolved
 * needs of job `i`; `written(name)` returns what a job depends on as written (writtenNeeds).
 */
export function orderByNeeds(
  jobs: JobNumbers,
  needs: ReadonlyArray<readonly number[]>,
  written: (name: string) => readonly WrittenNeed[],
  diagnostics: DiagnosticCollector,
): string[] {
  const { order, cycles } = orderJobs(needs);
  for (const cycle of cycles) {
    const cycleNames = cycle.map((n) => jobs.names[n]!);
    const first = cycleNames[0]!;
    const listed = cycleNames.slice(0, LISTED_CYCLE_JOBS);
    const path =
      cycleNames.length <= LISTED_CYCLE_JOBS
        ? [...cycleNames, first].join(' -> ')
        : `${listed.join(' -> ')} -> ... ` +
          `(${cycleNames.length - LISTED_CYCLE_JOBS} more jobs) -> ${first}`;
    // Each link of the cycle as written: a need where there is one, else the first bind with `from`.
    const link = (index: number): WrittenNeed | undefined => {
      const from = cycleNames[index]!;
      const to = cycleNames[(index + 1) % cycleNames.length]!;
      const edges = written(from).filter((edge) => edge.job === to);
      return edges.find((edge) => edge.via === 'needs') ?? edges[0];
    };
    const closing = link(0);
    const fromLinks = listed.flatMap((job, index) => {
      const edge =
        cycleNames.length <= LISTED_CYCLE_JOBS || index < listed.length - 1 ? link(index) : undefined;
      return edge === undefined || edge.via === 'needs'
        ? []
        : [`${job}'s ${edge.via.mount} from ${edge.job}`];
    });
    diagnostics.add(
      fromLinks.length === 0
        ? `jobs form a cycle through needs: ${path} (each needs the next); remove one of these needs`
        : `jobs form a cycle through needs: ${path} (each needs the next; a bind with from needs the job it ` +
            `names: ${fromLinks.join(', ')}); remove one of these needs or binds`,
      closing?.at ?? pointer('jobs', first, 'needs'),
      cycleNames,
    );
  }
  return order.map((n) => jobs.names[n]!);
}

/** Both checks at once, on jobs as a document holds them (any job may be malformed). */
export function checkNeeds(jobs: Readonly<Record<string, unknown>>, diagnostics: DiagnosticCollector): void {
  const numbers = new JobNumbers(Object.keys(jobs));
  const written = new Map(numbers.names.map((name) => [name, writtenNeeds(name, jobs[name])]));
  const needs = numbers.names.map((name) =>
    resolveNeeds(name, jobs[name], written.get(name)!, numbers, diagnostics),
  );
  orderByNeeds(numbers, needs, (name) => written.get(name) ?? [], diagnostics);
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
