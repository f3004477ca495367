/**
 * The builder API: the same graph as a step file, written in TypeScript. Every builder is an immutable
 * value (immer underneath): each `with...` returns a new builder and leaves the old one as it was, so a
 * builder can be shared and specialised freely.
 *
 * ```ts
 * const build = job('build')
 *   .withImage('kiln-fixture/busybox:latest')
 *   .withMount(cache('ccache', '/root/.ccache', { sharing: 'locked' }))
 *   .withStep(step('compile', 'make -j2').withWorkdir('/build'))
 *   .withOutput('/out', { export: './dist' })
 *   .withStep(step('compile', 'make -j2 OUT=/out').withWorkdir('/build'))
 *   .withStep('echo done');
 * const publish = job('publish')
 *   .withMount(output(build, '/out', '/dist')) // needs `build`, and mounts its output /out read-only
 *   .withStep(step('ship', ['./publish.sh']).withMount(secret('npm-token')));
 * const definition = pipeline({ projectDir: '/abs/path' })
 *   .withSecret('npm-token', { env: 'NPM_TOKEN' })
 *   .withJob(publish) // `build` comes along: `publish` mounts its output
 *   .toDefinition();
 * ```
 *
 * `toDefinition()` validates the result against the step file's schema and throws a DefinitionError that
 * lists every problem (a job without steps, an invalid name, a `needs` or a `from` naming a job that is
 * not there).
 */
import { resolve } from 'node:path';
import { castDraft, freeze, produce, type Draft } from 'immer';
import { DefinitionError, type Diagnostic } from '../errors.js';
import { deepFreeze, definitionToDocument, documentToDefinition, type ForeignKey } from './convert.js';
import { escapeToken } from './pointer.js';
import type {
  BindMountSpec,
  CacheMountSpec,
  Defaults,
  Definition,
  JobCondition,
  JobSpec,
  MatrixSpec,
  MatrixValue,
  MountSpec,
  OutputSpec,
  RetrySpec,
  ReuseSpec,
  RunCommand,
  SecretMountSpec,
  SecretSource,
  ServiceSpec,
  SshMountSpec,
  StepCondition,
  StepSpec,
  TmpfsMountSpec,
} from './types.js';
import { closest, validateDocument } from './validate.js';

/** A duration: `500ms`, `90s`, `10m`, `1h30m`, or a number of seconds. */
export type Duration = string | number;

/** Environment variables: one name and value, or a map of them (merged over those set before). */
type EnvArguments = [name: string, value: string] | [variables: Readonly<Record<string, string>>];

function mergeEnv(
  current: Readonly<Record<string, string>> | undefined,
  args: EnvArguments,
): Record<string, string> {
  const added = args.length === 2 ? { [args[0]]: args[1] } : args[0];
  return { ...current, ...added };
}

/** Drops keys whose value is undefined, so that a built spec has only what was set. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

// ---------------------------------------------------------------------------------------------------
// Mounts

/** A host path mounted into the job's container. Relative sources resolve against the project folder. */
export function bind(
  source: string,
  target: string,
  options: Omit<BindMountSpec, 'type' | 'source' | 'target'> = {},
): BindMountSpec {
  return Object.freeze(defined<BindMountSpec>({ type: 'bind', source, target, ...options }));
}

/** The job each mount made by `output()` names, so that a builder given the mount brings the job along. */
const PRODUCERS = new WeakMap<MountSpec, JobBuilder>();

/**
 * An output of another job, mounted read-only at `target` (a bind with `from`): `path` is one of the
 * outputs of `fromJob`, as its `withOutput` names it (absolute, or relative to its workdir). The job
 * mounting it needs `fromJob`, and a pipeline that does not hold `fromJob` adds it, as with `withNeeds`.
 */
export function output(fromJob: JobBuilder, path: string, target: string): BindMountSpec {
  const spec: BindMountSpec = Object.freeze({ type: 'bind', from: fromJob.name, source: path, target });
  PRODUCERS.set(spec, fromJob);
  return spec;
}

/** The jobs whose outputs these mounts (made by `output()`) mount. */
function producersOf(mounts: readonly MountSpec[]): JobBuilder[] {
  return mounts.flatMap((mount) => {
    const producer = PRODUCERS.get(mount);
    return producer === undefined ? [] : [producer];
  });
}

/** A named volume kept across runs. Options: `sharing` (default `shared`), `readonly`. */
export function cache(
  id: string,
  target: string,
  options: Omit<CacheMountSpec, 'type' | 'id' | 'target'> = {},
): CacheMountSpec {
  return Object.freeze(defined<CacheMountSpec>({ type: 'cache', id, target, ...options }));
}

/** A folder in memory. Options: `size` (`256m`, or bytes), `mode` (default `1777`). */
export function tmpfs(target: string, options: Omit<TmpfsMountSpec, 'type' | 'target'> = {}): TmpfsMountSpec {
  return Object.freeze(defined<TmpfsMountSpec>({ type: 'tmpfs', target, ...options }));
}

/** A secret of the pipeline (see `withSecret`), as a file at `/run/secrets/<id>` (default) for one step. */
export function secret(id: string, options: Omit<SecretMountSpec, 'type' | 'id'> = {}): SecretMountSpec {
  return Object.freeze(defined<SecretMountSpec>({ type: 'secret', id, ...options }));
}

/** The host's SSH agent for one step. Options: `id` (default `default`), `target`, `required`. */
export function ssh(options: Omit<SshMountSpec, 'type'> = {}): SshMountSpec {
  return Object.freeze(defined<SshMountSpec>({ type: 'ssh', ...options }));
}

// ---------------------------------------------------------------------------------------------------
// Steps

/** A step: a StepBuilder, or just its command (an unnamed step). */
export type StepInput = StepBuilder | RunCommand;

export class StepBuilder {
  /** Use `step(...)`. `dependencies`: the jobs whose outputs its mounts name (see `output()`). */
  constructor(
    private readonly spec: StepSpec,
    readonly dependencies: readonly JobBuilder[] = [],
  ) {}

  private with(recipe: (draft: Draft<StepSpec>) => void): StepBuilder {
    return new StepBuilder(produce(this.spec, recipe), this.dependencies);
  }

  withName(name: string): StepBuilder {
    return this.with((d) => void (d.name = name));
  }
  /** A string runs through the job's shell; a list is the argv itself. */
  withRun(run: RunCommand): StepBuilder {
    return this.with((d) => void (d.run = castDraft(copyRun(run))));
  }
  /** Sets variables for this step, over those of its job. */
  withEnv(...args: EnvArguments): StepBuilder {
    return this.with((d) => void (d.env = mergeEnv(d.env, args)));
  }
  withWorkdir(workdir: string): StepBuilder {
    return this.with((d) => void (d.workdir = workdir));
  }
  withUser(user: string): StepBuilder {
    return this.with((d) => void (d.user = user));
  }
  /**
   * The shell of this step's string command, over its job's: `'sh'` (`/bin/sh -e -c`, the default),
   * `'bash'` (`bash -e -o pipefail -c`), another string split on spaces, or a list used as given.
   */
  withShell(shell: string | readonly string[]): StepBuilder {
    return this.with((d) => void (d.shell = typeof shell === 'string' ? shell : [...shell]));
  }
  /**
   * Adds mounts: secret and ssh ones exist only while this step runs; the others (an `output()` too)
   * are mounts of the job's container.
   */
  withMount(...mounts: MountSpec[]): StepBuilder {
    const spec = produce(this.spec, (d) => void (d.mounts = [...(d.mounts ?? []), ...castDraft(mounts)]));
    return new StepBuilder(spec, [...this.dependencies, ...producersOf(mounts)]);
  }
  withTimeout(timeout: Duration): StepBuilder {
    return this.with((d) => void (d.timeout = timeout));
  }
  /** When true (the default of this call), the step's failure does not fail its job. */
  withAllowFailure(allow = true): StepBuilder {
    return this.with((d) => void (d.allowFailure = allow));
  }
  /**
   * When the step runs: `'success()'` (the default) while no earlier step failed, `'failure()'` only once
   * one has, `'always()'` either way and after a cancel too (cleanup).
   */
  withIf(condition: StepCondition): StepBuilder {
    return this.with((d) => void (d.if = condition));
  }
  /**
   * Runs the step again when it fails: `attempts` in all (2 to 10), only on the exit codes `on` when
   * given, after `delay` (a duration) each time.
   */
  withRetry(retry: RetrySpec): StepBuilder {
    return this.with(
      (d) => void (d.retry = castDraft({ ...retry, ...(retry.on ? { on: [...retry.on] } : {}) })),
    );
  }

  toSpec(): StepSpec {
    return this.spec;
  }
}

function copyRun(run: RunCommand): RunCommand {
  return typeof run === 'string' ? run : [...run];
}

/** An unnamed step running `run`. */
export function step(run: RunCommand): StepBuilder;
/** A named step running `run`. */
export function step(name: string, run: RunCommand): StepBuilder;
export function step(first: RunCommand, second?: RunCommand): StepBuilder {
  if (second === undefined) return new StepBuilder(freeze({ run: copyRun(first) }, true));
  return new StepBuilder(freeze({ name: first as string, run: copyRun(second) }, true));
}

function toStepSpec(input: StepInput): StepSpec {
  return input instanceof StepBuilder ? input.toSpec() : freeze({ run: copyRun(input) }, true);
}

// ---------------------------------------------------------------------------------------------------
// Jobs

/** `include` and `exclude` of a matrix (values of its axes only), and whether an instance's failure stops the run. */
export interface MatrixOptions<A extends Readonly<Record<string, readonly MatrixValue[]>>> {
  readonly include?: readonly { readonly [K in keyof A]?: MatrixValue }[];
  readonly exclude?: readonly { readonly [K in keyof A]?: A[K][number] }[];
  /** Default true: a failing instance stops the run like any failing job. */
  readonly failFast?: boolean;
}

/** A job while it is being built: like JobSpec, but it may not have steps yet. */
type JobState = Omit<JobSpec, 'steps'> & { readonly steps: readonly StepSpec[] };

export class JobBuilder {
  /**
   * Use `job(name)`. `dependencies` are the builders given to `withNeeds`; a pipeline adds those it
   * does not hold yet.
   */
  constructor(
    readonly name: string,
    private readonly spec: JobState,
    readonly dependencies: readonly JobBuilder[] = [],
  ) {}

  private with(recipe: (draft: Draft<JobState>) => void): JobBuilder {
    return new JobBuilder(this.name, produce(this.spec, recipe), this.dependencies);
  }

  /** The same job under another name. */
  withName(name: string): JobBuilder {
    return new JobBuilder(name, this.spec, this.dependencies);
  }
  withImage(image: string): JobBuilder {
    return this.with((d) => void (d.image = image));
  }
  withWorkdir(workdir: string): JobBuilder {
    return this.with((d) => void (d.workdir = workdir));
  }
  /** Sets variables for the job's steps, over the defaults'. */
  withEnv(...args: EnvArguments): JobBuilder {
    return this.with((d) => void (d.env = mergeEnv(d.env, args)));
  }
  withUser(user: string): JobBuilder {
    return this.with((d) => void (d.user = user));
  }
  /**
   * The shell of string commands: `'sh'` (`/bin/sh -e -c`, the default: a failing line fails the step),
   * `'bash'` (`bash -e -o pipefail -c`), another string split on spaces, or a list used as given
   * (`['/bin/sh', '-c']` opts out of `-e`).
   */
  withShell(shell: string | readonly string[]): JobBuilder {
    return this.with((d) => void (d.shell = typeof shell === 'string' ? shell : [...shell]));
  }
  withNetwork(network: string): JobBuilder {
    return this.with((d) => void (d.network = network));
  }
  /**
   * A service beside the job (like Dagger's `withServiceBinding`): a container started before the job's,
   * reachable from its steps as `name` (and its `aliases`) on a network of the job's own, ready before the
   * first step. A service of that name given before (or in the defaults) is replaced.
   *
   * ```ts
   * job('test').withService('db', { image: 'kiln-fixture/redis:bookworm', ports: [6379] })
   * ```
   */
  withService(name: string, spec: ServiceSpec): JobBuilder {
    return this.with((d) => void (d.services = { ...d.services, [name]: castDraft(structuredClone(spec)) }));
  }
  /**
   * When the job runs: `'success()'` (the default) once every job it needs has passed, `'always()'` once
   * every job it needs has ended, whatever its status.
   */
  withIf(condition: JobCondition): JobBuilder {
    return this.with((d) => void (d.if = condition));
  }
  /**
   * Jobs that must pass before this one. Prefer the builders themselves: a pipeline that does not hold
   * a needed job adds it. A name must be the name of a job of the pipeline.
   */
  withNeeds(...jobs: readonly (JobBuilder | string)[]): JobBuilder {
    const names = jobs.map((j) => (typeof j === 'string' ? j : j.name));
    const spec = produce(this.spec, (d) => {
      const needs = d.needs ?? [];
      for (const name of names) if (!needs.includes(name)) needs.push(name);
      d.needs = needs;
    });
    const builders = jobs.filter((j): j is JobBuilder => typeof j !== 'string');
    return new JobBuilder(this.name, spec, [...this.dependencies, ...builders]);
  }
  /**
   * Adds mounts to the job's container (secret and ssh mounts: to each of its steps). The job of an
   * `output()` mount is needed, and comes along into the pipeline.
   */
  withMount(...mounts: MountSpec[]): JobBuilder {
    const spec = produce(this.spec, (d) => void (d.mounts = [...(d.mounts ?? []), ...castDraft(mounts)]));
    return new JobBuilder(this.name, spec, [...this.dependencies, ...producersOf(mounts)]);
  }
  /**
   * Adds an output: a folder of the container (absolute, or relative to the workdir) whose content, once
   * the job passes, is sealed as its output; other jobs mount it with `output(thisJob, path, target)`.
   * Options: `export`, a folder of the project to copy it into; `allowOutsideProject`, to let that
   * folder be outside the project (default false).
   */
  withOutput(path: string, options: Omit<Extract<OutputSpec, object>, 'path'> = {}): JobBuilder {
    const set = defined({ export: options.export, allowOutsideProject: options.allowOutsideProject });
    const entry: OutputSpec = Object.keys(set).length === 0 ? path : { path, ...set };
    return this.with((d) => void (d.outputs = [...(d.outputs ?? []), castDraft(entry)]));
  }
  /**
   * The job cache for this job: `true` caches it even where it would not be by default (a secret's
   * value is not part of what decides a hit), `false` always runs it. Default: cached when all its
   * inputs are content-addressed.
   */
  withCache(enabled: boolean): JobBuilder {
    return this.with((d) => void (d.cache = enabled));
  }
  /** The longest the whole job may run. */
  withTimeout(timeout: Duration): JobBuilder {
    return this.with((d) => void (d.timeout = timeout));
  }
  /** Keep the container across runs: `true` (the default of this call) or `{ name }`. */
  withReuse(reuse: ReuseSpec = true): JobBuilder {
    return this.with((d) => void (d.reuse = typeof reuse === 'boolean' ? reuse : { name: reuse.name }));
  }
  /** Whether the default mounts apply to this job. Default true. */
  withDefaultMounts(enabled: boolean): JobBuilder {
    return this.with((d) => void (d.defaultMounts = enabled));
  }
  /**
   * Runs the job once per combination of the axes' values (`{ cc: ['gcc', 'clang'] }`), each instance
   * named `build (cc=gcc)` and seeing its values as `${{ matrix.cc }}` and `KILN_MATRIX_CC`. Options:
   * `include` and `exclude`, combinations to add or remove (naming the axes only); `failFast: false` keeps
   * the run going when an instance fails (default true). A loop over `job()` remains possible too.
   */
  withMatrix<const A extends Readonly<Record<string, readonly MatrixValue[]>>>(
    axes: A,
    options: MatrixOptions<A> = {},
  ): JobBuilder {
    const matrix = {
      ...axes,
      ...(options.include !== undefined ? { include: options.include } : {}),
      ...(options.exclude !== undefined ? { exclude: options.exclude } : {}),
    } as MatrixSpec;
    return this.with((d) => {
      d.matrix = castDraft(matrix);
      if (options.failFast !== undefined) d.failFast = options.failFast;
    });
  }
  /** Appends a step: a StepBuilder, or a command (string or argv) for an unnamed step. */
  withStep(input: StepInput): JobBuilder {
    const stepSpec = toStepSpec(input);
    const spec = produce(this.spec, (d) => void d.steps.push(castDraft(stepSpec)));
    const added = input instanceof StepBuilder ? input.dependencies : [];
    return new JobBuilder(this.name, spec, [...this.dependencies, ...added]);
  }

  /** The job as declared so far. */
  toSpec(): JobSpec {
    return this.spec;
  }
}

/** A new job, without steps yet. Names: letters, digits, `_`, `.` and `-`, starting with a letter or digit. */
export function job(name: string): JobBuilder {
  return new JobBuilder(name, freeze({ steps: [] } as JobState, true));
}

// ---------------------------------------------------------------------------------------------------
// Pipelines

export interface PipelineOptions {
  /** The folder relative paths (bind sources, secret files) resolve against. Default: `process.cwd()`. */
  readonly projectDir?: string;
}

interface PipelineState {
  readonly defaults?: Defaults;
  readonly secrets?: Readonly<Record<string, SecretSource>>;
  /** In the order added; a job added again under the same name replaces the first, in its place. */
  readonly jobs: Readonly<Record<string, JobBuilder>>;
}

export class PipelineBuilder {
  /** Use `pipeline(...)`. */
  constructor(
    readonly projectDir: string,
    private readonly state: PipelineState,
  ) {}

  private with(recipe: (draft: Draft<PipelineState>) => void): PipelineBuilder {
    return new PipelineBuilder(this.projectDir, produce(this.state, recipe));
  }

  /** Sets defaults; fields given replace those set before (`env` is merged). */
  withDefaults(defaults: Defaults): PipelineBuilder {
    return this.with((d) => {
      const env = defaults.env === undefined ? d.defaults?.env : { ...d.defaults?.env, ...defaults.env };
      d.defaults = castDraft(defined({ ...d.defaults, ...structuredClone(defaults), env }));
    });
  }
  /** Declares where secret `id`'s value comes from: `{ env: 'NAME' }` or `{ file: 'path' }`. */
  withSecret(id: string, source: SecretSource): PipelineBuilder {
    return this.with((d) => void (d.secrets = { ...d.secrets, [id]: { ...source } }));
  }
  /** Adds jobs (with the jobs they need that the pipeline does not hold, when it is built). */
  withJob(...jobs: JobBuilder[]): PipelineBuilder {
    return this.with((d) => {
      for (const j of jobs) d.jobs[j.name] = castDraft(j);
    });
  }

  /**
   * The definition: frozen, validated against the step file's schema, with the jobs needed through
   * builders added. Throws a DefinitionError listing every problem.
   */
  toDefinition(): Definition {
    const builders = new Map<string, JobBuilder>(Object.entries(this.state.jobs));
    const pending = [...builders.values()];
    for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
      for (const dependency of next.dependencies) {
        if (builders.has(dependency.name)) continue;
        builders.set(dependency.name, dependency);
        pending.push(dependency);
      }
    }
    const jobs: Record<string, JobSpec> = {};
    for (const [name, builder] of builders) jobs[name] = builder.toSpec();

    const diagnostics: Diagnostic[] = [];
    /** `what`: how the job names the one it needs, as a message begins (`job 'a' needs`). */
    const missing = (name: string, needed: string, what: string, pointer: string): void => {
      if (Object.hasOwn(jobs, needed)) return;
      const guess = closest(needed, Object.keys(jobs));
      diagnostics.push({
        message:
          `${what} '${needed}', which is not in the pipeline` +
          (guess === undefined ? '' : `; did you mean '${guess}'?`),
        pointer,
        jobs: [name, needed],
      });
    };
    for (const [name, spec] of Object.entries(jobs)) {
      const at = `/jobs/${escapeToken(name)}`;
      (spec.needs ?? []).forEach((needed, index) =>
        missing(name, needed, `job '${name}' needs`, `${at}/needs/${index}`),
      );
      // A spec built in JavaScript may hold anything: what is not a bind with `from` is left to the schema.
      const froms = (mounts: unknown, mountsAt: string, label: string): void =>
        (Array.isArray(mounts) ? (mounts as unknown[]) : []).forEach((mount, index) => {
          if (isBindFrom(mount)) {
            const what = `job '${name}', ${label}[${index}] mounts an output of`;
            missing(name, mount.from, what, `${mountsAt}/${index}/from`);
          }
        });
      froms(spec.mounts, `${at}/mounts`, 'mounts');
      (Array.isArray(spec.steps) ? spec.steps : []).forEach((s, index) =>
        froms(s?.mounts, `${at}/steps/${index}/mounts`, `step ${index + 1} mounts`),
      );
    }
    const foreign: ForeignKey[] = [];
    const document = definitionToDocument(
      defined({ version: 1, defaults: this.state.defaults, secrets: this.state.secrets, jobs }),
      foreign,
    );
    for (const { pointer, key, field, fields } of foreign) {
      diagnostics.push({ message: `${pointer || '/'}: ${foreignKeyMessage(key, field, fields)}`, pointer });
    }
    for (const problem of validateDocument(document)) {
      diagnostics.push({ message: problem.message, pointer: problem.pointer });
    }
    if (diagnostics.length > 0) throw new DefinitionError(diagnostics);
    return deepFreeze({ ...documentToDefinition(document), projectDir: this.projectDir });
  }
}

/**
 * Why a key given in code is refused: code spells options as the step file's keys in camelCase
 * (`allow-outside-project` is `allowOutsideProject`), and nothing else is an option.
 */
function foreignKeyMessage(key: string, field: string | undefined, fields: readonly string[]): string {
  if (field !== undefined) {
    return `'${key}' is how the step file spells it; in code, write '${field}'`;
  }
  const guess = closest(key, fields);
  return (
    `unknown option '${key}'` +
    (guess === undefined ? '' : `; did you mean '${guess}'?`) +
    ` (options here: ${fields.join(', ')})`
  );
}

function isBindFrom(mount: unknown): mount is BindMountSpec & { readonly from: string } {
  if (mount === null || typeof mount !== 'object') return false;
  const { type, from } = mount as { type?: unknown; from?: unknown };
  return type === 'bind' && typeof from === 'string';
}

/** A new, empty pipeline. */
export function pipeline(options: PipelineOptions = {}): PipelineBuilder {
  return new PipelineBuilder(resolve(options.projectDir ?? process.cwd()), { jobs: {} });
}
