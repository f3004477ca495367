/**
 * Runs one job on a container engine: plan it (planJob: nothing acquired), acquire its mounts and its
 * container (every acquire pushes its release on the job's stack), run each step, and release everything
 * in LIFO order on every path.
 */
import { cancelledError, CancelledError, KilnError } from '../errors.js';
import type { Status } from '../events.js';
import type { CompiledJob } from '../graph/types.js';
import { acquireMounts } from '../mounts/acquire-mounts.js';
import { RunSecrets } from '../mounts/run-secrets.js';
import type { OutputPressure } from '../output-pressure.js';
import { ReleaseStack } from '../release.js';
import type { Engine } from '../runtime/engine.js';
import { cancelStatus } from '../scheduler/cancel-reason.js';
import type { JobContext, JobExecutor, JobOutcome, StepResult } from '../scheduler/types.js';
import { stateDir } from '../state-dir.js';
import { acquireContainer } from './acquire-container.js';
import { planJob, type JobPlan } from './plan-job.js';
import { runStep } from './run-step.js';

export interface DockerJobExecutorOptions {
  /** Environment for secret sources, SSH_AUTH_SOCK, KILN_WORKER, the state folder. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Step output is read from the engine only while nobody holds this. Default: read at once. */
  readonly pressure?: OutputPressure;
  /** Reuse every job's container across runs (`--reuse`), whatever the job says. Default false. */
  readonly reuse?: boolean;
}

export class DockerJobExecutor implements JobExecutor {
  readonly #engine: Engine;
  readonly #env: NodeJS.ProcessEnv;
  readonly #pressure: OutputPressure | undefined;
  readonly #reuse: boolean;

  constructor(engine: Engine, options: DockerJobExecutorOptions = {}) {
    this.#engine = engine;
    this.#env = options.env ?? process.env;
    this.#pressure = options.pressure;
    this.#reuse = options.reuse ?? false;
  }

  /** The run's secrets: read once per run, and every one masks the output of every job. */
  #runSecrets: { readonly runId: string; readonly secrets: RunSecrets } | undefined;
  #secretsOf(context: Pick<JobContext, 'runId' | 'graph'>): RunSecrets {
    if (this.#runSecrets?.runId !== context.runId) {
      this.#runSecrets = { runId: context.runId, secrets: new RunSecrets(context.graph, this.#env) };
    }
    return this.#runSecrets.secrets;
  }

  /**
   * What running the job will take (see JobPlan), without acquiring anything. Throws what would stop the
   * job before it acquires anything: a refused mount, a missing secret, an image that cannot be had.
   */
  planJob(job: CompiledJob, context: Pick<JobContext, 'graph' | 'runId' | 'signal'>): Promise<JobPlan> {
    return planJob(job, context, {
      images: this.#engine.images,
      ...(this.#engine.socketPath ? { engineSocketPath: this.#engine.socketPath } : {}),
      env: this.#env,
      secrets: this.#secretsOf(context),
      reuse: this.#reuse,
    });
  }

  async execute(job: CompiledJob, context: JobContext): Promise<JobOutcome> {
    const stack = new ReleaseStack({ emit: context.emit, job: job.name });
    const steps: StepResult[] = [];
    let status: Status;
    let error: Error | undefined;
    try {
      if (context.signal.aborted) throw cancelledError(context.signal);
      const plan = await this.planJob(job, context);
      status = await this.#run(plan, context, stack, steps);
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
      status = e instanceof CancelledError ? cancelStatus(context.signal.reason) : 'failed';
      if (!(e instanceof CancelledError)) {
        const code = e instanceof KilnError ? e.code : 'E_INTERNAL';
        context.emit({ type: 'error', job: job.name, code, message: error.message });
      }
    } finally {
      await stack.release();
    }
    for (const step of job.steps.slice(steps.length)) {
      steps.push({
        name: step.name,
        status: 'skipped',
        exitCode: null,
        durationMs: 0,
        allowFailure: step.allowFailure,
      });
    }
    return { status, steps, ...(error && !(error instanceof CancelledError) ? { error } : {}) };
  }

  /** Acquires what the plan needs and runs the steps in order; the job's status. */
  async #run(
    plan: JobPlan,
    context: JobContext,
    stack: ReleaseStack,
    results: StepResult[],
  ): Promise<Status> {
    const { job } = plan;
    const secrets = this.#secretsOf(context);
    const mounts = await acquireMounts(job, plan.mounts, {
      volumes: this.#engine.volumes,
      graph: context.graph,
      runId: context.runId,
      emit: context.emit,
      stack,
      signal: context.signal,
      env: this.#env,
      secrets,
    });
    const mask = await secrets.mask();
    if (context.signal.aborted) throw cancelledError(context.signal);
    const container = await acquireContainer(plan, mounts, {
      engine: this.#engine,
      project: context.graph.project,
      runId: context.runId,
      emit: context.emit,
      stack,
      signal: context.signal,
      stateDirectory: stateDir(this.#env),
    });
    for (const step of job.steps) {
      if (context.signal.aborted) return cancelStatus(context.signal.reason);
      const result = await runStep({
        job,
        step,
        container,
        mounts: mounts.steps[step.index],
        mask,
        context,
        ...(this.#pressure ? { pressure: this.#pressure } : {}),
      });
      results.push(result);
      if (result.status === 'passed' || (result.status === 'failed' && result.allowFailure)) continue;
      return result.status;
    }
    return 'passed';
  }
}
