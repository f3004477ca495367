/**
 * The compiler: a Definition (from a step file or the builder API) into the immutable BuildGraph the
 * scheduler runs. Every problem found is collected and thrown at the end as one DefinitionError, each
 * diagnostic carrying the JSON pointer of the offending value and, for a step file, its position.
 */
import path, { posix } from 'node:path';
import { parseDuration } from '../definition/durations.js';
import { definitionMountKind } from '../definition/mount-kinds/index.js';
import type {
  Definition,
  JobSpec,
  MountSpec,
  SecretSource,
  ServiceSpec,
  StepSpec,
} from '../definition/types.js';
import {
  compileMountList,
  isStepMount,
  mergeContainerMounts,
  mergeStepMounts,
  type DeclaredOutputs,
  type MountContext,
  type PlacedMount,
} from './compile-mounts.js';
import {
  checkExports,
  checkOutputMounts,
  compileOutputs,
  declaredOutputPaths,
  type JobOutputs,
  type PlacedOutput,
} from './compile-outputs.js';
import { compileServices } from './compile-services.js';
import { DiagnosticCollector, pointer } from './diagnostics.js';
import { imageReferenceProblem } from './image-reference.js';
import { freezeGraph } from './freeze.js';
import { MAX_TIMEOUT_MS, parseWait } from './wait-limit.js';
import { interpolateVariables } from './variables.js';
import { expandMatrix } from './matrix.js';
import { JobNumbers, orderByNeeds, resolveNeeds, writtenNeeds, type WrittenNeed } from './needs.js';
import { projectName } from './project-name.js';
import { hasControlCharacters } from '../visible-text.js';
import { homeDir as homeDirOf, resolveUserPath } from '../home-path.js';
import type {
  BuildGraph,
  CompiledContainerMount,
  CompiledJob,
  CompiledOutputMount,
  CompiledRetry,
  CompiledStep,
  CompiledStepMount,
} from './types.js';

export interface CompileOptions {
  /**
   * Mounts for every job, from `KILN_DEFAULT_MOUNTS` (parsed by the caller with `parseDefaultMounts`).
   * They come after `defaults.mounts`; a job with `default-mounts: false` gets neither. Default: none.
   */
  readonly defaultMounts?: readonly MountSpec[];
  /**
   * The environment the compiler reads: `HOME`, which `~` in bind sources and secret files expands to
   * (`os.homedir()` when unset). Default: `process.env`.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Values of `${{ env.NAME }}` given on the command line (`--env`), besides `env-passthrough`. Default: none. */
  readonly envValues?: Readonly<Record<string, string>>;
  /** What `${{ run.id }}` is. Default: a new id on each compile. */
  readonly runId?: string;
}

/** The workdir of a job that sets none, in the job or the defaults. */
export const DEFAULT_WORKDIR = '/workspace';
/**
 * The shell of a step that sets none (nor its job, nor the defaults): a string `run` becomes
 * `[...shell, run]`. `-e` makes a failing line fail the step, not only the last one; a step file opts out
 * with `shell: [/bin/sh, -c]`. Also what `shell: sh` means.
 */
export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-e', '-c'];
/** What `shell: bash` means: stop at the first failing line, and at a failing command before a `|`. */
export const BASH_SHELL: readonly string[] = ['bash', '-e', '-o', 'pipefail', '-c'];

export { MAX_TIMEOUT_MS } from './wait-limit.js';

/** Compile a definition. Throws a DefinitionError listing every problem found. */
export function compile(asWritten: Definition, options: CompileOptions = {}): BuildGraph {
  const matrix = expandMatrix(asWritten);
  const diagnostics = new DiagnosticCollector(matrix.definition.sourceMap);
  for (const problem of matrix.problems) diagnostics.add(problem.message, problem.pointer);
  const definition = interpolateVariables(matrix.definition, options, diagnostics);
  if (definition.version !== 1) {
    diagnostics.add(
      `unsupported version ${JSON.stringify(definition.version)}: kiln reads version 1`,
      '/version',
    );
  }
  const projectDir = path.resolve(definition.projectDir);
  const homeDir = homeDirOf(options.env ?? process.env);
  const secrets = compileSecrets(definition.secrets ?? {}, projectDir, homeDir, diagnostics);
  const outputs = new Map<string, DeclaredOutputs>();
  const context: MountContext = {
    projectDir,
    homeDir,
    secretIds: new Set(Object.keys(secrets)),
    outputs,
    diagnostics,
  };

  const jobSpecs = definition.jobs ?? {};
  const names = Object.keys(jobSpecs);
  if (names.length === 0) diagnostics.add('no jobs: declare at least one under `jobs:`', '/jobs');
  const numbers = new JobNumbers(names);

  const base = compileDefaults(definition, options, context);
  // Every job's output paths, before any job is compiled: a bind with `from` may name a job declared
  // after it.
  for (const name of names) {
    const spec = jobSpecs[name] as Partial<JobSpec> | null;
    const workdir = jobWorkdir(spec?.workdir, base);
    outputs.set(name, { workdir, paths: declaredOutputPaths(spec?.outputs, workdir) });
  }
  const jobs: CompiledJob[] = [];
  const needNumbers: number[][] = [];
  const written = new Map<string, readonly WrittenNeed[]>();
  const exports: JobOutputs[] = [];
  for (const name of names) {
    const compiled = compileJob(name, jobSpecs[name]!, base, numbers, context);
    const instance = matrix.instances.get(name);
    jobs.push(instance === undefined ? compiled.job : { ...compiled.job, matrix: instance });
    needNumbers.push(compiled.needs);
    written.set(name, compiled.written);
    exports.push({ job: name, outputs: compiled.outputs });
  }
  checkExports(exports, diagnostics);
  const order = orderByNeeds(numbers, needNumbers, (name) => written.get(name) ?? [], diagnostics);

  diagnostics.throwIfAny();
  return freezeGraph({
    projectDir,
    project: projectName(projectDir),
    ...(definition.file !== undefined ? { file: definition.file } : {}),
    secrets,
    jobs: new Map(jobs.map((job) => [job.name, job])),
    order,
  });
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The defaults every job starts from. */
interface Base {
  readonly image?: string;
  readonly workdir: string;
  readonly env: Readonly<Record<string, string>>;
  readonly user?: string;
  readonly shell: readonly string[];
  readonly network?: string;
  /** `defaults.services`, merged under each job's by name. */
  readonly services?: Readonly<Record<string, ServiceSpec>>;
  /** `defaults.mounts` then the options' default mounts, compiled per job workdir (cached). */
  readonly mountsFor: (workdir: string) => readonly PlacedMount<CompiledContainerMount>[];
}

function compileDefaults(definition: Definition, options: CompileOptions, context: MountContext): Base {
  const defaults = definition.defaults ?? {};
  const { diagnostics } = context;
  const workdir = posix.resolve('/', stringOr(defaults.workdir, DEFAULT_WORKDIR));
  const shell =
    defaults.shell === undefined
      ? DEFAULT_SHELL
      : (parseShell(defaults.shell, 'defaults', '/defaults/shell', diagnostics) ?? DEFAULT_SHELL);
  const env = compileEnv(defaults.env, 'defaults', '/defaults/env', diagnostics);
  for (const key of ['image', 'workdir', 'user', 'network'] as const) {
    const value = defaults[key];
    if (typeof value === 'string') engineText(value, `defaults: ${key}`, `/defaults/${key}`, diagnostics);
  }
  if (typeof defaults.image === 'string')
    checkImage(defaults.image, 'defaults', '/defaults/image', diagnostics);

  const cache = new Map<string, PlacedMount<CompiledContainerMount>[]>();
  const mountsFor = (jobWorkdir: string) => {
    let placed = cache.get(jobWorkdir);
    if (placed === undefined) {
      placed = [
        ...compileMountList(
          defaults.mounts,
          {
            entryName: (i) => `defaults.mounts[${i}]`,
            at: '/defaults/mounts',
            workdir: jobWorkdir,
            reportOnce: true,
          },
          context,
        ),
        ...compileMountList(
          options.defaultMounts,
          { entryName: (i) => `KILN_DEFAULT_MOUNTS entry ${i + 1}`, workdir: jobWorkdir, reportOnce: true },
          context,
        ),
      ].filter((entry): entry is PlacedMount<CompiledContainerMount> => {
        if (!isStepMount(entry.mount)) return true;
        diagnostics.addOnce(
          `${entry.name}: ${definitionMountKind(entry.mount.type)?.article ?? 'a'} ${entry.mount.type} mount cannot be a default for every job; ` +
            `declare it on the job or the step that needs it`,
          entry.at,
        );
        return false;
      });
      cache.set(jobWorkdir, placed);
    }
    return placed;
  };

  return {
    ...(defaults.image !== undefined ? { image: defaults.image } : {}),
    workdir,
    env,
    ...(defaults.user !== undefined ? { user: defaults.user } : {}),
    shell,
    ...(defaults.network !== undefined ? { network: defaults.network } : {}),
    ...(defaults.services !== undefined ? { services: defaults.services } : {}),
    mountsFor,
  };
}

function compileJob(
  name: string,
  spec: JobSpec,
  base: Base,
  numbers: JobNumbers,
  context: MountContext,
): { job: CompiledJob; needs: number[]; written: WrittenNeed[]; outputs: PlacedOutput[] } {
  const { diagnostics } = context;
  const at = pointer('jobs', name);
  const label = `job '${name}'`;
  if (spec === null || typeof spec !== 'object') {
    diagnostics.add(`${label}: a job must be an object with steps`, at);
    spec = { steps: [] };
  }
  const settings = jobSettings(name, spec, base, diagnostics);
  const timeoutMs =
    spec.timeout === undefined ? undefined : timeout(spec.timeout, label, `${at}/timeout`, diagnostics);
  const written = writtenNeeds(name, spec);
  const needs = resolveNeeds(name, spec, written, numbers, diagnostics);
  const outputs = compileOutputs(spec.outputs, settings, context);
  const { container, jobStepMounts } = jobMounts(spec, base, settings, context);
  const { steps, ownStepMounts } = compileSteps(spec, settings, container, context);

  const mounts = mergeContainerMounts(name, container, diagnostics);
  const containerTargets = new Set(mounts.map((m) => m.target));
  steps.forEach((step, index) => {
    const declared = [...jobStepMounts, ...ownStepMounts[index]!];
    if (declared.length > 0) step.mounts = mergeStepMounts(name, declared, containerTargets, diagnostics);
  });
  checkOutputMounts(
    settings,
    outputs,
    [...container, ...jobStepMounts, ...ownStepMounts.flat()],
    diagnostics,
  );
  const cache = compileCache(spec.cache, label, `${at}/cache`, diagnostics);
  const jobIf = condition(spec.if, ['always'], label, `${at}/if`, diagnostics);
  if (jobIf === 'always') {
    const consumed = mounts.find((m): m is CompiledOutputMount => m.type === 'output');
    if (consumed !== undefined) {
      diagnostics.add(
        `${label}: a job with if: always() runs after a job it needs failed, so it cannot mount an output ` +
          `of another job (${consumed.job}): that output may not exist; drop the \`from\` bind or the condition`,
        `${at}/if`,
        [name],
      );
    }
  }

  const { image, workdir, env, user, shell, network } = settings;
  const reuse = compileReuse(spec.reuse, label, `${at}/reuse`, diagnostics);
  const services = compileServices(
    { name, label, at, reuse: reuse !== false, ...(network !== undefined ? { network } : {}) },
    spec.services,
    base.services,
    diagnostics,
  );
  const job: CompiledJob = {
    name,
    image: typeof image === 'string' ? image : '',
    workdir,
    env,
    ...(user !== undefined ? { user } : {}),
    shell,
    ...(network !== undefined ? { network } : {}),
    ...(services.length > 0 ? { services } : {}),
    needs: needs.map((n) => numbers.names[n]!),
    ...(jobIf !== undefined ? { if: jobIf } : {}),
    mounts,
    steps,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    reuse,
    outputs: outputs.map((placed) => placed.output),
    ...(cache !== undefined ? { cache } : {}),
  };
  return { job, needs, written, outputs };
}

/** `cache:` as the job says it: true, false, or (unset) undefined. */
function compileCache(
  cache: unknown,
  label: string,
  at: string,
  diagnostics: DiagnosticCollector,
): boolean | undefined {
  if (cache === undefined || typeof cache === 'boolean') return cache;
  diagnostics.add(`${label}: cache must be true or false`, at);
  return undefined;
}

/**
 * An `if:` as written: one of `allowed` (a job's `always`, a step's `failure` or `always`, each written
 * with `()`); undefined for `success()` (the default) or a bad value, which is reported.
 */
function condition<C extends 'failure' | 'always'>(
  value: unknown,
  allowed: readonly C[],
  label: string,
  at: string,
  diagnostics: DiagnosticCollector,
): C | undefined {
  if (value === undefined || value === 'success()') return undefined;
  const found = allowed.find((name) => value === `${name}()`);
  if (found !== undefined) return found;
  const names = ['success', ...allowed].map((name) => `${name}()`);
  diagnostics.add(
    `${label}: if must be ${names.slice(0, -1).join(', ')} or ${names.at(-1)!}, not ${JSON.stringify(value)}`,
    at,
  );
  return undefined;
}

/** The most attempts a step's `retry` may ask for. */
export const MAX_ATTEMPTS = 10;

/** A step's `retry:`, checked: attempts 2 to MAX_ATTEMPTS, exit codes 1 to 255, a delay. */
function compileRetry(
  retry: unknown,
  label: string,
  at: string,
  diagnostics: DiagnosticCollector,
): CompiledRetry | undefined {
  if (retry === null || typeof retry !== 'object' || Array.isArray(retry)) {
    diagnostics.add(`${label}: retry must be an object such as { attempts: 3 }`, at);
    return undefined;
  }
  const { attempts, on, delay } = retry as { attempts?: unknown; on?: unknown; delay?: unknown };
  let ok = true;
  if (!(
    typeof attempts === 'number' &&
    Number.isInteger(attempts) &&
    attempts >= 2 &&
    attempts <= MAX_ATTEMPTS
  )) {
    diagnostics.add(
      `${label}: retry attempts must be a whole number from 2 to ${MAX_ATTEMPTS} (the first attempt included), not ${JSON.stringify(attempts)}`,
      `${at}/attempts`,
    );
    ok = false;
  }
  const isCode = (code: unknown): code is number =>
    typeof code === 'number' && Number.isInteger(code) && code >= 1 && code <= 255;
  if (on !== undefined && !(Array.isArray(on) && on.length > 0 && on.every(isCode))) {
    diagnostics.add(
      `${label}: retry on must be a list of exit codes from 1 to 255, such as [1, 137]`,
      `${at}/on`,
    );
    ok = false;
  }
  let delayMs = 0;
  if (delay !== undefined) {
    try {
      delayMs = parseWait(delay as string | number);
    } catch (error) {
      diagnostics.add(`${label}: retry delay: ${(error as Error).message}`, `${at}/delay`);
      ok = false;
    }
  }
  if (!ok) return undefined;
  return {
    attempts: attempts as number,
    ...(on !== undefined ? { on: [...new Set(on as number[])] } : {}),
    delayMs,
  };
}

/** The workdir of a job: its own, resolved against the defaults' (or the defaults'). */
function jobWorkdir(workdir: unknown, base: Base): string {
  return posix.resolve(base.workdir, stringOr(workdir, base.workdir));
}

/** A job's own settings with the defaults filled in: what its steps start from. */
interface JobSettings {
  readonly name: string;
  /** `job 'name'`, as messages begin. */
  readonly label: string;
  /** JSON pointer of the job. */
  readonly at: string;
  /** The image as written (checked; `''` in the graph when it is not a string). */
  readonly image: unknown;
  readonly workdir: string;
  readonly env: Readonly<Record<string, string>>;
  readonly user?: string;
  readonly shell: readonly string[];
  readonly network?: string;
}

function jobSettings(name: string, spec: JobSpec, base: Base, diagnostics: DiagnosticCollector): JobSettings {
  const at = pointer('jobs', name);
  const label = `job '${name}'`;
  const image = spec.image ?? base.image;
  if (typeof image !== 'string' || image.trim() === '') {
    diagnostics.add(
      image === undefined
        ? `${label} has no image: set image on the job or under defaults`
        : `${label}: image must be a non-empty string`,
      image === undefined ? at : `${at}/image`,
    );
  } else if (spec.image !== undefined) {
    engineText(image, `${label}: image`, `${at}/image`, diagnostics);
    checkImage(image, label, `${at}/image`, diagnostics);
  }
  for (const key of ['workdir', 'user', 'network'] as const) {
    const value = spec[key];
    if (typeof value === 'string') engineText(value, `${label}: ${key}`, `${at}/${key}`, diagnostics);
  }
  const env =
    spec.env === undefined
      ? base.env
      : { ...base.env, ...compileEnv(spec.env, label, `${at}/env`, diagnostics) };
  const shell =
    spec.shell === undefined
      ? base.shell
      : (parseShell(spec.shell, label, `${at}/shell`, diagnostics) ?? base.shell);
  const user = spec.user ?? base.user;
  const network = spec.network ?? base.network;
  return {
    name,
    label,
    at,
    image,
    workdir: jobWorkdir(spec.workdir, base),
    env,
    ...(user !== undefined ? { user } : {}),
    shell,
    ...(network !== undefined ? { network } : {}),
  };
}

/**
 * Mounts of the job's container: the defaults (unless the job opts out), the job's own, then (added by
 * compileSteps) the bind, cache and tmpfs mounts declared on its steps. Those are hoisted because the
 * container is created once for all the steps; a step-level one therefore exists for the whole job.
 * Secret and ssh mounts exist only while a step runs: a job-level one is given to each of its steps.
 */
function jobMounts(
  spec: JobSpec,
  base: Base,
  job: JobSettings,
  context: MountContext,
): { container: PlacedMount<CompiledContainerMount>[]; jobStepMounts: PlacedMount<CompiledStepMount>[] } {
  const container: PlacedMount<CompiledContainerMount>[] =
    spec.defaultMounts === false ? [] : [...base.mountsFor(job.workdir)];
  const jobStepMounts: PlacedMount<CompiledStepMount>[] = [];
  for (const entry of compileMountList(
    spec.mounts,
    { job: job.name, entryName: (i) => `mounts[${i}]`, at: `${job.at}/mounts`, workdir: job.workdir },
    context,
  )) {
    if (isStepMount(entry.mount)) jobStepMounts.push(entry as PlacedMount<CompiledStepMount>);
    else container.push(entry as PlacedMount<CompiledContainerMount>);
  }
  return { container, jobStepMounts };
}

/**
 * The job's steps, without their mounts: the secret and ssh mounts each step declares are returned
 * beside them (merged once the container's are known); its other mounts join `container`.
 */
function compileSteps(
  spec: JobSpec,
  job: JobSettings,
  container: PlacedMount<CompiledContainerMount>[],
  context: MountContext,
): { steps: Mutable<CompiledStep>[]; ownStepMounts: PlacedMount<CompiledStepMount>[][] } {
  const stepSpecs: readonly StepSpec[] = Array.isArray(spec.steps) ? spec.steps : [];
  if (stepSpecs.length === 0) {
    context.diagnostics.add(
      `${job.label} has no steps: give it at least one step with run`,
      `${job.at}/steps`,
    );
  }
  const stepNames = new Map<string, number>();
  const ownStepMounts: PlacedMount<CompiledStepMount>[][] = [];
  const steps = stepSpecs.map((step, index) => {
    const compiled = compileStep(step, index, job, stepNames, container, context);
    ownStepMounts.push(compiled.own);
    return compiled.step;
  });
  return { steps, ownStepMounts };
}

function compileStep(
  step: StepSpec,
  index: number,
  job: JobSettings,
  stepNames: Map<string, number>,
  container: PlacedMount<CompiledContainerMount>[],
  context: MountContext,
): { step: Mutable<CompiledStep>; own: PlacedMount<CompiledStepMount>[] } {
  const { diagnostics } = context;
  const { name, label } = job;
  const stepAt = `${job.at}/steps/${index}`;
  if (step === null || typeof step !== 'object') {
    diagnostics.add(`${label}, step ${index + 1}: a step must be an object with run`, stepAt);
    step = { run: [] };
  }
  const stepName = checkedStepName(step, index, stepNames, job, stepAt, diagnostics);
  const stepLabel = `${label}, step '${stepName}'`;
  const stepWorkdir = posix.resolve(job.workdir, stringOr(step.workdir, job.workdir));

  const own: PlacedMount<CompiledStepMount>[] = [];
  for (const entry of compileMountList(
    step.mounts,
    {
      job: name,
      entryName: (i) => `step '${stepName}' mounts[${i}]`,
      at: `${stepAt}/mounts`,
      workdir: stepWorkdir,
    },
    context,
  )) {
    if (isStepMount(entry.mount)) own.push(entry as PlacedMount<CompiledStepMount>);
    else container.push(entry as PlacedMount<CompiledContainerMount>);
  }

  const shell =
    step.shell === undefined
      ? job.shell
      : (parseShell(step.shell, stepLabel, `${stepAt}/shell`, diagnostics) ?? job.shell);
  const { argv, display } = command(step.run, shell, stepLabel, `${stepAt}/run`, diagnostics);
  const stepEnv =
    step.env === undefined
      ? job.env
      : { ...job.env, ...compileEnv(step.env, stepLabel, `${stepAt}/env`, diagnostics) };
  const stepUser = step.user ?? job.user;
  const stepTimeout =
    step.timeout === undefined
      ? undefined
      : timeout(step.timeout, stepLabel, `${stepAt}/timeout`, diagnostics);
  const compiled: Mutable<CompiledStep> = {
    index,
    name: stepName,
    argv,
    display,
    env: stepEnv,
    workdir: stepWorkdir,
    mounts: [],
    allowFailure: step.allowFailure === true,
  };
  if (stepUser !== undefined) compiled.user = stepUser;
  if (stepTimeout !== undefined) compiled.timeoutMs = stepTimeout;
  const stepIf = condition(step.if, ['failure', 'always'], stepLabel, `${stepAt}/if`, diagnostics);
  if (stepIf !== undefined) compiled.if = stepIf;
  const retry =
    step.retry === undefined
      ? undefined
      : compileRetry(step.retry, stepLabel, `${stepAt}/retry`, diagnostics);
  if (retry !== undefined) compiled.retry = retry;
  return { step: compiled, own };
}

/**
 * A step's name (`step-N` when it has none), checked: printable, unique in the job (`stepNames` holds
 * the names seen so far), and its workdir and user fit for the engine.
 */
function checkedStepName(
  step: StepSpec,
  index: number,
  stepNames: Map<string, number>,
  job: JobSettings,
  stepAt: string,
  diagnostics: DiagnosticCollector,
): string {
  const { name, label } = job;
  const stepName = step.name ?? `step-${index + 1}`;
  if (typeof step.name === 'string' && hasControlCharacters(step.name)) {
    diagnostics.add(
      `${label}, step ${index + 1}: its name holds a control character; names are printed on terminals, ` +
        `so they may not hold newlines, tabs, escapes or other control characters`,
      `${stepAt}/name`,
      [name],
    );
  }
  for (const key of ['workdir', 'user'] as const) {
    const value = step[key];
    if (typeof value === 'string') {
      engineText(value, `${label}, step ${index + 1}: ${key}`, `${stepAt}/${key}`, diagnostics);
    }
  }
  const earlier = stepNames.get(stepName);
  if (earlier !== undefined) {
    diagnostics.add(
      `${label}: steps ${earlier + 1} and ${index + 1} are both named '${stepName}'; step names must be unique in a job`,
      step.name === undefined ? stepAt : `${stepAt}/name`,
      [name],
    );
  } else stepNames.set(stepName, index);
  return stepName;
}

function command(
  run: StepSpec['run'],
  shell: readonly string[],
  label: string,
  at: string,
  diagnostics: DiagnosticCollector,
): { argv: readonly string[]; display: string } {
  if (typeof run === 'string' && run.trim() !== '') {
    engineText(run, `${label}: run`, at, diagnostics);
    return { argv: [...shell, run], display: run };
  }
  if (Array.isArray(run) && run.length > 0 && run.every((arg) => typeof arg === 'string') && run[0] !== '') {
    run.forEach((arg, i) => engineText(arg, `${label}: run[${i}]`, `${at}/${i}`, diagnostics));
    return { argv: [...run], display: run.map(shellQuote).join(' ') };
  }
  diagnostics.add(
    run === undefined
      ? `${label}: missing run (a command string, or a list of arguments)`
      : `${label}: run must be a non-empty command string or a non-empty list of strings`,
    at,
  );
  return { argv: [], display: '' };
}

/** An argument as a POSIX shell would need it written: bare when safe, single-quoted otherwise. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * A `shell:` as written: `sh` and `bash` are the safe shells (DEFAULT_SHELL, BASH_SHELL), another string
 * is split on spaces, a list is used as given.
 */
function parseShell(
  shell: string | readonly string[],
  label: string,
  at: string,
  diagnostics: DiagnosticCollector,
): readonly string[] | undefined {
  const argv =
    shell === 'sh'
      ? DEFAULT_SHELL
      : shell === 'bash'
        ? BASH_SHELL
        : typeof shell === 'string'
          ? shell.split(/\s+/).filter((part) => part !== '')
          : shell;
  if (
    Array.isArray(argv) &&
    argv.length > 0 &&
    argv.every((part) => typeof part === 'string' && part !== '')
  ) {
    argv.forEach((part) => engineText(part, `${label}: shell`, at, diagnostics));
    return [...argv];
  }
  diagnostics.add(
    `${label}: shell must be sh, bash, a command such as "/bin/ash -e -c" or a list such as ["/bin/sh", "-c"]`,
    at,
  );
  return undefined;
}

function compileEnv(
  env: Readonly<Record<string, unknown>> | undefined,
  label: string,
  at: string,
  diagnostics: DiagnosticCollector,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (env === undefined) return out;
  if (env === null || typeof env !== 'object' || Array.isArray(env)) {
    diagnostics.add(`${label}: env must be a map of NAME: value`, at);
    return out;
  }
  for (const [key, value] of Object.entries(env)) {
    const valueAt = `${at}/${pointer(key).slice(1)}`;
    if (key === '' || key.includes('=') || key.includes('\u0000')) {
      diagnostics.add(
        `${label}: env name ${JSON.stringify(key)} must be non-empty, without '=' or NUL`,
        valueAt,
      );
      continue;
    }
    if (typeof value === 'string') engineText(value, `${label}: env ${key}`, valueAt, diagnostics);
    if (typeof value === 'string') out[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') out[key] = String(value);
    else diagnostics.add(`${label}: env ${key} must be a string`, `${at}/${pointer(key).slice(1)}`);
  }
  return out;
}

function timeout(
  value: string | number,
  label: string,
  at: string,
  diagnostics: DiagnosticCollector,
): number | undefined {
  try {
    const ms = parseDuration(value);
    if (ms > MAX_TIMEOUT_MS) {
      diagnostics.add(
        `${label}: timeout ${typeof value === 'string' ? value : `${value}s`} is longer than the most kiln can wait, ` +
          `596h31m23s (2147483647 ms, about 24.8 days); write a shorter timeout, or none`,
        at,
      );
      return undefined;
    }
    if (ms > 0) return ms;
    diagnostics.add(`${label}: timeout must be longer than 0`, at);
  } catch (error) {
    diagnostics.add(`${label}: timeout: ${(error as Error).message}`, at);
  }
  return undefined;
}

function compileReuse(
  reuse: JobSpec['reuse'],
  label: string,
  at: string,
  diagnostics: DiagnosticCollector,
): CompiledJob['reuse'] {
  if (reuse === undefined || reuse === false) return false;
  if (reuse === true) return {};
  if (reuse !== null && typeof reuse === 'object' && typeof reuse.name === 'string' && reuse.name !== '') {
    if (!CONTAINER_NAME.test(reuse.name) || reuse.name.length > MAX_CONTAINER_NAME) {
      diagnostics.add(
        `${label}: reuse name ${JSON.stringify(reuse.name)} is not a container name Docker takes: letters, digits, ` +
          `'_', '.' and '-', starting with a letter or digit, at most ${MAX_CONTAINER_NAME} characters`,
        `${at}/name`,
      );
      return false;
    }
    return { name: reuse.name };
  }
  diagnostics.add(`${label}: reuse must be true, false, or { name: <container name> }`, at);
  return false;
}

/** The secrets' sources, with `file` paths made absolute (against the project folder; `~` is home). */
function compileSecrets(
  secrets: Readonly<Record<string, SecretSource>>,
  projectDir: string,
  homeDir: string,
  diagnostics: DiagnosticCollector,
): Record<string, SecretSource> {
  const out: Record<string, SecretSource> = {};
  for (const [id, source] of Object.entries(secrets)) {
    const at = pointer('secrets', id);
    if (source !== null && typeof source === 'object' && 'env' in source && typeof source.env === 'string') {
      out[id] = { env: source.env };
    } else if (
      source !== null &&
      typeof source === 'object' &&
      'file' in source &&
      typeof source.file === 'string'
    ) {
      out[id] = { file: resolveUserPath(source.file, projectDir, homeDir) };
    } else {
      diagnostics.add(
        `secret '${id}' must say where its value comes from: { env: NAME } or { file: PATH }`,
        at,
      );
    }
  }
  return out;
}

/** Docker's container names, as `reuse: { name }` may give one. */
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX_CONTAINER_NAME = 128;

/**
 * A value handed to the engine (an argument, an environment variable, a path, a name) cannot hold a
 * NUL character: each is a C string there. The schema refuses them in step files; this catches
 * definitions built in code.
 */
function engineText(value: string, what: string, at: string, diagnostics: DiagnosticCollector): void {
  if (value.includes('\u0000')) {
    diagnostics.addOnce(`${what} holds a NUL character (\\0), which the engine cannot take; remove it`, at);
  }
}

/** An image reference the engine would refuse, reported once per place it is written. */
function checkImage(image: string, label: string, at: string, diagnostics: DiagnosticCollector): void {
  if (image.includes('\u0000')) return;
  const problem = imageReferenceProblem(image);
  if (problem !== undefined) diagnostics.addOnce(`${label}: image ${JSON.stringify(image)} ${problem}`, at);
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' && value !== '' ? value : fallback;
}
