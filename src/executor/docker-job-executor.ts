/**
 * Runs one job on a Docker engine: prepare its mounts, start (or reuse) its container, exec each step,
 * stream the output masked of secrets, and release everything in LIFO order on every path.
 */
import { CancelledError, KilnError } from '../errors.js';
import type { Emit, Status } from '../events.js';
import type { CompiledJob, CompiledStep } from '../graph/types.js';
import {
  prepareMounts,
  RunSecrets,
  type CompiledMask,
  type StreamChunk,
  type StreamsMasker,
} from '../mounts/index.js';
import type { PreparedMounts, PreparedStepMounts } from '../mounts/types.js';
import type { OutputPressure } from '../output-pressure.js';
import { ReleaseStack } from '../release.js';
import { stateDir } from '../state-dir.js';
import type { Engine } from '../runtime/engine.js';
import { startJobContainer, type StartedJobContainer } from '../runtime/job-container.js';
import type { OutputStream } from '../runtime/demux.js';
import { OutputEncoder, type EncodedChunk } from './output-chunks.js';
import type { CancelReason, JobContext, JobExecutor, JobOutcome, StepResult } from '../scheduler/types.js';

export interface DockerJobExecutorOptions {
  /** Environment for secret sources, SSH_AUTH_SOCK, KILN_WORKER. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Step output is read from the engine only while nobody holds this. Default: read at once. */
  readonly pressure?: OutputPressure;
}

function reasonOf(signal: AbortSignal): CancelReason | undefined {
  if (!signal.aborted) return undefined;
  const r = signal.reason as Partial<CancelReason> | undefined;
  return { kind: r?.kind ?? 'interrupt', message: r?.message ?? 'cancelled' };
}

function cancelStatus(reason: CancelReason | undefined): Status {
  return reason?.kind === 'timeout' ? 'timed-out' : 'cancelled';
}

/**
 * The output of one step: both streams masked together of every secret of the run (see StreamsMasker:
 * a secret split across stdout and stderr is hidden too), each stream as text, or base64 where it is
 * not UTF-8.
 */
class OutputChannel {
  readonly #masker: StreamsMasker<OutputStream>;
  readonly #encoders: Record<OutputStream, OutputEncoder> = {
    stdout: new OutputEncoder(),
    stderr: new OutputEncoder(),
  };
  constructor(
    mask: CompiledMask,
    private readonly emitChunk: (stream: OutputStream, chunk: EncodedChunk) => void,
  ) {
    this.#masker = mask.createStreamsMasker<OutputStream>();
  }
  push(stream: OutputStream, chunk: Buffer): void {
    this.#show(this.#masker.push(stream, chunk));
  }
  end(): void {
    this.#show(this.#masker.flush());
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.#encoders[stream].end();
      if (rest) this.emitChunk(stream, rest);
    }
  }
  #show(chunks: readonly StreamChunk<OutputStream>[]): void {
    for (const { stream, data } of chunks) {
      const encoded = this.#encoders[stream].push(data);
      if (encoded) this.emitChunk(stream, encoded);
    }
  }
}

export class DockerJobExecutor implements JobExecutor {
  readonly #engine: Engine;
  readonly #env: NodeJS.ProcessEnv;
  readonly #pressure: OutputPressure | undefined;

  constructor(engine: Engine, options: DockerJobExecutorOptions = {}) {
    this.#engine = engine;
    this.#env = options.env ?? process.env;
    this.#pressure = options.pressure;
  }

  /** The run's secrets: read once per run, and every one masks the output of every job. */
  #runSecrets: { readonly runId: string; readonly secrets: RunSecrets } | undefined;
  #secretsOf(context: JobContext): RunSecrets {
    if (this.#runSecrets?.runId !== context.runId) {
      this.#runSecrets = { runId: context.runId, secrets: new RunSecrets(context.graph, this.#env) };
    }
    return this.#runSecrets.secrets;
  }

  async execute(job: CompiledJob, context: JobContext): Promise<JobOutcome> {
    const { emit } = context;
    const stack = new ReleaseStack({ emit, job: job.name });
    const results: StepResult[] = [];
    let status: Status = 'passed';
    let error: Error | undefined;
    try {
      if (context.signal.aborted) throw new CancelledError(reasonOf(context.signal)?.message);
      const secrets = this.#secretsOf(context);
      const prepared = await prepareMounts(job, {
        docker: this.#engine.docker,
        graph: context.graph,
        runId: context.runId,
        emit,
        stack,
        signal: context.signal,
        env: this.#env,
        secrets,
      });
      const mask = await secrets.mask();
      if (context.signal.aborted) throw new CancelledError(reasonOf(context.signal)?.message);
      const container = await this.#startContainer(job, context, prepared, stack);
      for (const step of job.steps) {
        if (context.signal.aborted) {
          status = cancelStatus(reasonOf(context.signal));
          break;
        }
        const result = await this.#runStep(job, step, container, prepared.steps[step.index], mask, context);
        results.push(result);
        if (result.status === 'passed' || (result.status === 'failed' && result.allowFailure)) continue;
        status = result.status;
        break;
      }
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
      status = e instanceof CancelledError ? cancelStatus(reasonOf(context.signal)) : 'failed';
      if (!(e instanceof CancelledError)) {
        emit({
          type: 'error',
          job: job.name,
          code: e instanceof KilnError ? e.code : 'E_INTERNAL',
          message: error.message,
        });
      }
    } finally {
      await stack.release();
    }
    for (const step of job.steps.slice(results.length)) {
      results.push({
        name: step.name,
        status: 'skipped',
        exitCode: null,
        durationMs: 0,
        allowFailure: step.allowFailure,
      });
    }
    return { status, steps: results, ...(error && !(error instanceof CancelledError) ? { error } : {}) };
  }

  async #startContainer(
    job: CompiledJob,
    context: JobContext,
    prepared: PreparedMounts & { readonly tmpfs?: Readonly<Record<string, string>> },
    stack: ReleaseStack,
  ): Promise<StartedJobContainer> {
    const reuse = job.reuse !== false || context.reuse;
    const workdirs = [...new Set([job.workdir, ...job.steps.map((s) => s.workdir)])];
    const secretTargets = prepared.steps.flatMap((s) => s?.secrets.map((x) => x.target) ?? []);
    return startJobContainer(
      this.#engine,
      {
        project: context.graph.project,
        job: job.name,
        runId: context.runId,
        image: job.image,
        mounts: prepared.mounts,
        ...(prepared.tmpfs ? { tmpfs: prepared.tmpfs } : {}),
        ...(job.network ? { network: job.network } : {}),
        ...(job.user ? { user: job.user } : {}),
        workdirs,
        ...(reuse
          ? {
              reuse: {
                worker: this.#env.KILN_WORKER ?? '0',
                ...(job.reuse && job.reuse.name ? { name: job.reuse.name } : {}),
              },
            }
          : {}),
      },
      {
        emit: context.emit,
        stack,
        secretTargets,
        signal: context.signal,
        stateDirectory: stateDir(this.#env),
      },
    );
  }

  async #runStep(
    job: CompiledJob,
    step: CompiledStep,
    container: StartedJobContainer,
    mounts: PreparedStepMounts | undefined,
    mask: CompiledMask,
    context: JobContext,
  ): Promise<StepResult> {
    const emit: Emit = context.emit;
    const base = { job: job.name, step: step.name };
    const stepStack = new ReleaseStack({ emit, job: job.name });
    const started = Date.now();
    emit({ type: 'step.start', ...base, index: step.index, command: step.display });

    const stepTimeout = step.timeoutMs !== undefined ? AbortSignal.timeout(step.timeoutMs) : undefined;
    const signal = stepTimeout ? AbortSignal.any([context.signal, stepTimeout]) : context.signal;
    const output = new OutputChannel(mask, (stream, chunk) =>
      emit({ type: 'step.output', ...base, stream, ...chunk }),
    );

    let exitCode: number | null = null;
    let status: Status;
    try {
      const env: Record<string, string> = { ...step.env };
      const envFromFiles: Record<string, string> = {};
      const secretFiles: string[] = [];
      await container.recordSecrets((mounts?.secrets ?? []).map((secret) => secret.target));
      for (const secret of mounts?.secrets ?? []) {
        const written = await container.writeSecret(secret, step.index);
        stepStack.push('secret', secret.id, written.remove);
        if (secret.env) envFromFiles[secret.env] = written.path;
        secretFiles.push(written.path);
        if (secret.target !== written.path) secretFiles.push(secret.target);
      }
      for (const ssh of mounts?.ssh ?? []) env.SSH_AUTH_SOCK = ssh.target;
      const result = await container.runStep({
        argv: step.argv,
        env,
        envFromFiles,
        removeWhenAbandoned: secretFiles,
        workdir: step.workdir,
        ...(step.user ? { user: step.user } : {}),
        signal,
        killSignal: context.killSignal,
        graceMs: context.graceMs,
        onOutput: (stream, chunk) => output.push(stream, chunk),
        ...(this.#pressure ? { pressure: this.#pressure } : {}),
      });
      exitCode = result.exitCode;
      if (exitCode === 0) status = 'passed';
      else if (result.cancelled !== 'no') {
        status =
          stepTimeout?.aborted && !context.signal.aborted
            ? 'timed-out'
            : cancelStatus(reasonOf(context.signal));
      } else status = 'failed';
    } finally {
      output.end();
      await stepStack.release();
    }
    const durationMs = Date.now() - started;
    emit({
      type: 'step.end',
      ...base,
      index: step.index,
      exitCode,
      status,
      durationMs,
      ...(step.allowFailure ? { allowFailure: true } : {}),
    });
    return { name: step.name, status, exitCode, durationMs, allowFailure: step.allowFailure };
  }
}
