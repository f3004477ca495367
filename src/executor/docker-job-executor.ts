/**
 * Runs one job on a container engine: plan it (planJob: nothing acquired), acquire its mounts and its
 * container (every acquire pushes its release on the job's stack), run each step, and release everything
 * in LIFO order on every path.
 */
import { cancelledError, CancelledError, KilnError } from '../errors.js';
import type { Status } from '../events.js';
import type { CompiledJob, CompiledStep } from '../graph/types.js';
import { acquireMounts, type AcquireMountsContext } from '../mounts/acquire-mounts.js';
import { RunSecrets } from '../mounts/run-secrets.js';
import type { OutputPressure } from '../output-pressure.js';
import { ReleaseStack } from '../release.js';
import type { Engine } from '../runtime/engine.js';
import { cancelStatus } from '../scheduler/cancel-reason.js';
import type { DockerMount } from '../runtime/containers.js';
import type { ImageRuntime } from '../runtime/images.js';
import { DockerSockets, readMountInfo, type MountInfoEntry } from '../mounts/bind-sources.js';
import { hostOwner } from '../mounts/host-owner.js';
import type { JobContext, JobExecutor, JobOutcome, JobOutputRef, StepResult } from '../scheduler/types.js';
import { stateDir } from '../state-dir.js';
import type { RemoteBinds } from '../mounts/kinds/kind.js';
import { resultsDir } from '../results/index.js';
import { SourceDigests } from './job-key.js';
import type { Shipped } from '../runtime/source-volumes.js';
import { acquireServices, type ServicesContext } from '../services/acquire-services.js';
import { acquireContainer } from './acquire-container.js';
import { planJob, type JobPlan } from './plan-job.js';
import { runStep } from './run-step.js';
import type { DebugShell } from './debug-shell.js';
import type { JobContainer } from '../runtime/job-container.js';
import type { PreparedMounts } from '../mounts/types.js';

export interface DockerJobExecutorOptions {
  /** Environment for secret sources, SSH_AUTH_SOCK, KILN_WORKER, the state folder. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Step output is read from the engine only while nobody holds this. Default: read at once. */
  readonly pressure?: OutputPressure;
  /** Reuse every job's container across runs (`--reuse`), whatever the job says. Default false. */
  readonly reuse?: boolean;
  /** `kiln run --debug`: a shell into the container of each job whose step fails. Default none. */
  readonly debug?: DebugShell;
}

/**
 * What a caller that wraps the executor (the job cache) adds to one run of a job. Each part is optional;
 * without any, the job runs as `execute` runs it.
 */
export interface JobRunExtras {
  /** The job's plan, when the caller made it already (with {@link DockerJobExecutor.planJob}). */
  readonly plan?: JobPlan;
  /**
   * Acquired after the job's own mounts and before its container: more container mounts (the job's
   * output volumes). Push each release on `stack`; they run after the container's.
   */
  readonly acquireMounts?: (stack: ReleaseStack) => Promise<readonly DockerMount[]>;
  /**
   * Called once every step passed, with the running container, before anything is released: seals
   * what the job hands on. A throw fails the job.
   */
  readonly afterSteps?: (
    containerId: string,
    stack: ReleaseStack,
  ) => Promise<ReadonlyMap<string, JobOutputRef> | undefined>;
  /**
   * `kiln shell`: called with the running container instead of the steps (none runs); its status is
   * the job's.
   */
  readonly insteadOfSteps?: (container: JobContainer, mounts: PreparedMounts) => Promise<Status>;
}

/** What the jobs of one run share (see DockerJobExecutor). */
interface RunShared {
  readonly runId: string;
  readonly secrets: RunSecrets;
  readonly images: ImageRuntime;
  readonly mountInfo: Promise<readonly MountInfoEntry[]>;
  /** The Docker sockets binds are checked against, each found once per run. */
  readonly sockets: DockerSockets;
  /** Bind sources' digests, for shipping them to a remote engine (each walked once per run). */
  readonly sources: SourceDigests;
  /** Source volumes shipped to a remote engine in this run, by digest. */
  readonly shipped: Map<string, Promise<Shipped>>;
}

/** The outcome of a job that could not run: `error` is reported as an `error` event unless it is a cancel. */
export function outcomeOfError(
  job: CompiledJob,
  context: Pick<JobContext, 'emit' | 'signal'>,
  thrown: unknown,
): JobOutcome {
  const error = thrown instanceof Error ? thrown : new Error(String(thrown));
  const cancelled = error instanceof CancelledError;
  if (!cancelled) {
    const code = error instanceof KilnError ? error.code : 'E_INTERNAL';
    context.emit({ type: 'error', job: job.name, code, message: error.message });
  }
  return {
    status: cancelled ? cancelStatus(context.signal.reason) : 'failed',
    steps: skippedSteps(job, []),
    ...(cancelled ? {} : { error }),
  };
}

/**
 * Whether a step runs, by its `if:`: while the job has not failed (`success()`, the default), once it
 * has (`failure()`), or either way (`always()`); once the job is cancelled or has timed out, only an
 * `always()` step, and none after a second interrupt.
 */
function runsNow(
  step: CompiledStep,
  failed: Status | undefined,
  cancelled: boolean,
  killed: boolean,
): boolean {
  if (cancelled) return step.if === 'always' && !killed;
  if (step.if === 'always') return true;
  return failed === undefined ? step.if !== 'failure' : step.if === 'failure';
}

function skippedStep(step: CompiledStep): StepResult {
  return {
    name: step.name,
    status: 'skipped',
    exitCode: null,
    durationMs: 0,
    allowFailure: step.allowFailure,
  };
}

/** The step results so far, then every step that did not run as skipped. */
function skippedSteps(job: CompiledJob, steps: readonly StepResult[]): StepResult[] {
  return [...steps, ...job.steps.slice(steps.length).map(skippedStep)];
}

export class DockerJobExecutor implements JobExecutor {
  readonly #engine: Engine;
  readonly #env: NodeJS.ProcessEnv;
  readonly #pressure: OutputPressure | undefined;
  readonly #reuse: boolean;
  readonly #debug: DebugShell | undefined;

  constructor(engine: Engine, options: DockerJobExecutorOptions = {}) {
    this.#engine = engine;
    this.#env = options.env ?? process.env;
    this.#pressure = options.pressure;
    this.#reuse = options.reuse ?? false;
    this.#debug = options.debug;
  }

  /** The run's secrets: read once per run, and every one masks the output of every job. */
  #shared: RunShared | undefined;
  #secretsOf(context: Pick<JobContext, 'runId' | 'graph'>): RunSecrets {
    return this.#sharedOf(context).secrets;
  }

  /** What the jobs of one run share: its secrets, image IDs and this process's mounts, each read once. */
  #sharedOf(context: Pick<JobContext, 'runId' | 'graph'>): RunShared {
    if (this.#shared?.runId !== context.runId) {
      const images = this.#engine.images;
      const ids = new Map<string, Promise<string | undefined>>();
      this.#shared = {
        runId: context.runId,
        secrets: new RunSecrets(context.graph, this.#env),
        images: {
          // An ID found is kept for the run; a missing image is asked again (after its pull).
          idOf: (reference) => {
            let id = ids.get(reference);
            if (id === undefined) {
              id = images.idOf(reference);
              ids.set(reference, id);
              void id.then(
                (found) => found === undefined && ids.delete(reference),
                () => ids.delete(reference),
              );
            }
            return id;
          },
          pull: (reference) => images.pull(reference),
        },
        mountInfo: readMountInfo(),
        sockets: new DockerSockets(),
        sources: new SourceDigests(resultsDir(this.#env), context.graph.projectDir),
        shipped: new Map(),
      };
    }
    return this.#shared;
  }

  /**
   * What running the job will take (see JobPlan), without acquiring anything. Throws what would stop the
   * job before it acquires anything: a refused mount, a missing secret, an image that cannot be had.
   */
  planJob(
    job: CompiledJob,
    context: Pick<JobContext, 'graph' | 'runId' | 'signal'> & Partial<Pick<JobContext, 'needs'>>,
  ): Promise<JobPlan> {
    return planJob(job, context, {
      images: this.#sharedOf(context).images,
      mountInfo: this.#sharedOf(context).mountInfo,
      sockets: this.#sharedOf(context).sockets,
      ...(this.#engine.socketPath ? { engineSocketPath: this.#engine.socketPath } : {}),
      env: this.#env,
      secrets: this.#secretsOf(context),
      reuse: this.#reuse,
      ...(this.#engine.remote ? { remote: true } : {}),
    });
  }

  /** What shipping the job's bind sources to a remote engine takes (see mounts/ship-bind.ts). */
  #remoteBinds(plan: JobPlan, context: JobContext): RemoteBinds {
    const { sources, shipped } = this.#sharedOf(context);
    const resultsFolder = resultsDir(this.#env);
    const { projectDir } = context.graph;
    return {
      engine: this.#engine,
      image: plan.imageId,
      // A read-write bind's source is walked again: an earlier job of the run may have written to it.
      digest: (realPath, exclude, fresh) =>
        (fresh ? new SourceDigests(resultsFolder, projectDir) : sources).of(
          realPath,
          exclude,
          context.signal,
        ),
      shipped,
    };
  }

  execute(job: CompiledJob, context: JobContext): Promise<JobOutcome> {
    return this.run(job, context);
  }

  /** Runs the job, with what a wrapping executor adds (see JobRunExtras). */
  async run(job: CompiledJob, context: JobContext, extras: JobRunExtras = {}): Promise<JobOutcome> {
    const stack = new ReleaseStack({ emit: context.emit, job: job.name });
    const steps: StepResult[] = [];
    let outcome: JobOutcome;
    try {
      if (context.signal.aborted) throw cancelledError(context.signal);
      const plan = extras.plan ?? (await this.planJob(job, context));
      const ran = await this.#run(plan, context, stack, steps, extras);
      outcome = { ...ran, steps: skippedSteps(job, steps) };
    } catch (error) {
      outcome = { ...outcomeOfError(job, context, error), steps: skippedSteps(job, steps) };
    } finally {
      await stack.release();
    }
    return outcome;
  }

  /** What a job's services are started with (see services/acquire-services.ts). */
  #servicesContext(context: JobContext, stack: ReleaseStack): ServicesContext {
    return {
      engine: this.#engine,
      images: this.#sharedOf(context).images,
      project: context.graph.project,
      runId: context.runId,
      emit: context.emit,
      stack,
      signal: context.signal,
      killSignal: context.killSignal,
      graceMs: context.graceMs,
      mounts: this.#mountsContext(context, stack),
    };
  }

  /** What acquiring mounts takes, for the job's own mounts and its services'. */
  #mountsContext(context: JobContext, stack: ReleaseStack): AcquireMountsContext {
    return {
      volumes: this.#engine.volumes,
      graph: context.graph,
      runId: context.runId,
      emit: context.emit,
      stack,
      signal: context.signal,
      env: this.#env,
      secrets: this.#secretsOf(context),
    };
  }

  /** Acquires what the plan needs and runs the steps in order; the job's status (and outputs). */
  async #run(
    plan: JobPlan,
    context: JobContext,
    stack: ReleaseStack,
    results: StepResult[],
    extras: JobRunExtras,
  ): Promise<{ status: Status; outputs?: ReadonlyMap<string, JobOutputRef> }> {
    const { job } = plan;
    const secrets = this.#secretsOf(context);
    const mounts = await acquireMounts(job, plan.mounts, {
      ...this.#mountsContext(context, stack),
      ...(this.#engine.remote ? { remoteBinds: this.#remoteBinds(plan, context) } : {}),
    });
    const more = extras.acquireMounts ? await extras.acquireMounts(stack) : [];
    const mask = await secrets.mask();
    if (context.signal.aborted) throw cancelledError(context.signal);
    const all = more.length > 0 ? { ...mounts, mounts: [...mounts.mounts, ...more] } : mounts;
    const services = await acquireServices(job, this.#servicesContext(context, stack));
    const container = await acquireContainer(plan, all, {
      engine: this.#engine,
      project: context.graph.project,
      runId: context.runId,
      emit: context.emit,
      stack,
      signal: context.signal,
      stateDirectory: stateDir(this.#env),
      owner: hostOwner(this.#env),
      ...(this.#engine.remote ? { remote: true } : {}),
      ...(services ? { services } : {}),
    });
    await services?.ready(container.id);
    if (extras.insteadOfSteps) return { status: await extras.insteadOfSteps(container, all) };
    // The status of the first step that failed the job; later steps run only as their `if:` says.
    let failed: Status | undefined;
    for (const step of job.steps) {
      const cancelled = context.signal.aborted;
      if (!runsNow(step, failed, cancelled, context.killSignal.aborted)) {
        results.push(skippedStep(step));
        continue;
      }
      const result = await runStep({
        job,
        step,
        container,
        mounts: mounts.steps[step.index],
        mask,
        context,
        ...(this.#pressure ? { pressure: this.#pressure } : {}),
        ...(cancelled ? { cleanup: true } : {}),
      });
      results.push(result);
      if (result.status === 'passed' || (result.status === 'failed' && result.allowFailure)) continue;
      if (failed === undefined) {
        const stepMounts = mounts.steps[step.index];
        await this.#debug?.afterStep({ job, step, result, container, mounts: stepMounts, context });
      }
      failed ??= result.status;
    }
    if (context.signal.aborted) return { status: cancelStatus(context.signal.reason) };
    if (failed !== undefined) return { status: failed };
    const outputs = extras.afterSteps ? await extras.afterSteps(container.id, stack) : undefined;
    return { status: 'passed', ...(outputs ? { outputs } : {}) };
  }
}
