/**
 * A reducer of a run's events into what the live view and the summary draw: jobs, their steps,
 * statuses, times, and the last lines each step printed. Only the tail of each output chunk is looked
 * at, so a step printing hundreds of megabytes costs a scan for newlines and nothing more.
 *
 * A run state belongs to the one reporter that folds events into it: {@link reduceRun} updates it in
 * place (its jobs record, job order, warnings and errors), so that an event costs the same however many
 * jobs the run has. A job's own state is replaced, never changed, so a JobState read earlier stays as it was.
 */
import {
  stepOutputText,
  type JobCacheEvent,
  type KilnEvent,
  type Status,
  type StepOutputEvent,
  type StepStartEvent,
} from '../events.js';
import { MAX_DISPLAY_LINE, sanitizeLine } from './text.js';
import type { RunPlan } from './types.js';

/** How many of a step's last output lines the state keeps (the summary prints them for failed steps). */
export const TAIL_LINES = 20;

export type JobStatus = 'waiting' | 'running' | Status;
export type StepStatus = 'running' | Status;
/**
 * What a running job is doing: looking itself up in the job cache (from job.start to job.cache; a job
 * whose executor does not use the job cache leaves it at its first mount, container or step event),
 * preparing its mounts, getting its container, running steps, releasing.
 */
export type JobPhase = 'cache' | 'mounts' | 'container' | 'steps' | 'release';

/** What the job cache made of a job (its job.cache event). */
export interface JobCacheState {
  readonly result: JobCacheEvent['result'];
  /** The job's key (`sha256:...`); absent when caching is disabled for the job. */
  readonly key?: string;
  /** Why it missed, or why caching is disabled; empty on a hit. */
  readonly reasons: readonly string[];
  /** On a hit: where the result came from. */
  readonly source?: JobCacheEvent['source'];
}

export interface StepState {
  readonly name: string;
  /** 0-based position in the job. */
  readonly index: number;
  readonly command: string;
  readonly status: StepStatus;
  readonly exitCode: number | null;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly durationMs?: number;
  readonly allowFailure: boolean;
  /** For a step with `retry`: its attempt (1-based; a new attempt replaces the last), and the most. */
  readonly attempt?: number;
  readonly attempts?: number;
  /** The last TAIL_LINES complete lines (stdout and stderr as they came), sanitised for display. */
  readonly tail: readonly string[];
  /** The unfinished last line of each stream (its tail, when very long). */
  readonly partial: { readonly stdout: string; readonly stderr: string };
  /** Complete lines printed so far. */
  readonly lineCount: number;
}

export interface JobState {
  readonly name: string;
  readonly status: JobStatus;
  readonly phase?: JobPhase;
  readonly image?: string;
  /** Epoch ms. */
  readonly startedAt?: number;
  readonly endedAt?: number;
  readonly durationMs?: number;
  /** Why the job was skipped, cancelled or failed outside a step. */
  readonly reason?: string;
  /** The job's step names when the plan is known. */
  readonly plannedSteps?: readonly string[];
  /** Steps that started, in the order they started. */
  readonly steps: readonly StepState[];
  /** Set while the job waits for a locked cache. */
  readonly waitingFor?: { readonly cache: string; readonly holder: string; readonly since: number };
  readonly container?: {
    readonly id: string;
    readonly name?: string;
    readonly how: 'create' | 'reuse' | 'recreate';
  };
  /** Set once the job cache said what it made of the job. */
  readonly cache?: JobCacheState;
  /** The job's services, in the order they started. */
  readonly services?: readonly ServiceState[];
}

/** A service beside a job: starting (until ready), ready, then stopped by kiln, or failed. */
export interface ServiceState {
  readonly name: string;
  readonly image: string;
  readonly status: 'starting' | 'ready' | 'stopped' | 'failed';
  /** Epoch ms. */
  readonly startedAt: number;
  /** How long it took to be ready. */
  readonly readyMs?: number;
  /** Its last lines of output (the summary shows them when it failed). */
  readonly output: OutputTail;
}

/** The last lines of a stream of output, as a step or a service keeps them. */
export type OutputTail = Pick<StepState, 'tail' | 'partial' | 'lineCount'>;

function withService(job: JobState, name: string, change: (s: ServiceState) => ServiceState): JobState {
  if (!job.services?.some((s) => s.name === name)) return job;
  return { ...job, services: job.services.map((s) => (s.name === name ? change(s) : s)) };
}

export interface RunState {
  readonly runId?: string;
  readonly project?: string;
  readonly startedAt?: number;
  readonly endedAt?: number;
  readonly status?: Status;
  readonly exitCode?: number;
  readonly durationMs?: number;
  /** Job names in the order run.start gave them (jobs first seen later are appended). */
  readonly jobOrder: readonly string[];
  readonly jobs: Readonly<Record<string, JobState>>;
  readonly warnings: readonly { readonly job?: string; readonly message: string }[];
  readonly errors: readonly { readonly job?: string; readonly code: string; readonly message: string }[];
}

/** A run state as reduceRun updates it; readers see it as RunState. */
type RunScalars = Omit<RunState, 'jobOrder' | 'jobs' | 'warnings' | 'errors'>;
type OwnedRunState = { -readonly [K in keyof RunScalars]: RunScalars[K] } & {
  jobOrder: string[];
  jobs: Record<string, JobState>;
  warnings: RunState['warnings'][number][];
  errors: RunState['errors'][number][];
};

/** Whether a job has ended, whatever its status. */
export function isDone(job: JobState): boolean {
  return job.status !== 'waiting' && job.status !== 'running';
}

/**
 * The state before any event, for one reporter to fold a run into (see reduceRun); `plan` pre-fills
 * jobs and their step totals.
 */
export function createRunState(plan?: RunPlan): RunState {
  const jobs: Record<string, JobState> = {};
  for (const [name, steps] of Object.entries(plan ?? {})) {
    jobs[name] = { name, status: 'waiting', plannedSteps: steps, steps: [] };
  }
  const state: OwnedRunState = { jobOrder: Object.keys(jobs), jobs, warnings: [], errors: [] };
  return state;
}

/** The number of steps of a job, when known (from the plan, or once the job ended). */
export function stepTotal(job: JobState): number | undefined {
  if (job.plannedSteps) return Math.max(job.plannedSteps.length, job.steps.length);
  if (isDone(job)) return job.steps.length;
  return undefined;
}

/** The step currently running in a job, if any. */
export function currentStep(job: JobState): StepState | undefined {
  for (let i = job.steps.length - 1; i >= 0; i--) {
    const step = job.steps[i]!;
    if (step.status === 'running') return step;
  }
  return undefined;
}

/** The last `count` lines a step printed, its unfinished lines included. */
export function lastLines(step: OutputTail, count: number = TAIL_LINES): string[] {
  const lines = [...step.tail];
  if (step.partial.stdout) lines.push(sanitizeLine(step.partial.stdout));
  if (step.partial.stderr) lines.push(sanitizeLine(step.partial.stderr));
  return lines.slice(-count);
}

function timeOf(event: KilnEvent): number {
  const ms = Date.parse(event.time);
  return Number.isNaN(ms) ? 0 : ms;
}

/** Replaces the job's state with `update` of it (a job first seen goes to the end of the order). */
function withJob(state: OwnedRunState, name: string, update: (job: JobState) => JobState): RunState {
  const existing = Object.hasOwn(state.jobs, name) ? state.jobs[name] : undefined;
  const job = existing ?? { name, status: 'waiting', steps: [] };
  const next = update(job);
  if (next === existing) return state;
  if (existing === undefined) state.jobOrder.push(name);
  state.jobs[name] = next;
  return state;
}

function withStep(job: JobState, name: string, update: (step: StepState) => StepState): JobState {
  for (let i = job.steps.length - 1; i >= 0; i--) {
    const step = job.steps[i]!;
    if (step.name !== name) continue;
    const steps = job.steps.slice();
    steps[i] = update(step);
    return { ...job, steps };
  }
  return job;
}

/** The longest unfinished line kept; beyond it only its tail is kept. */
const MAX_PARTIAL = MAX_DISPLAY_LINE * 4;

function clipPartial(text: string): string {
  return text.length > MAX_PARTIAL ? text.slice(-MAX_PARTIAL) : text;
}

function countNewlines(text: string, end: number): number {
  let count = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i <= end; i = text.indexOf('\n', i + 1)) count++;
  return count;
}

/** Adds one chunk of output to a step: its last complete lines go to the tail, the rest to `partial`. */
export function appendOutput<T extends OutputTail>(
  step: T,
  stream: StepOutputEvent['stream'],
  data: string,
): T {
  const before = step.partial[stream];
  const lastNewline = data.lastIndexOf('\n');
  if (lastNewline === -1) {
    return { ...step, partial: { ...step.partial, [stream]: clipPartial(before + data) } };
  }
  // Find where the last TAIL_LINES complete lines of this chunk begin, scanning backwards only.
  let start = lastNewline;
  let found = 0;
  while (found < TAIL_LINES && start > 0) {
    const previous = data.lastIndexOf('\n', start - 1);
    if (previous === -1) break;
    start = previous;
    found++;
  }
  let fresh: string[];
  if (found === TAIL_LINES) {
    fresh = data.slice(start + 1, lastNewline).split('\n');
  } else {
    // The chunk has fewer lines than the tail holds: its first line completes the unfinished one.
    fresh = (clipPartial(before) + data.slice(0, lastNewline)).split('\n');
  }
  const tail = step.tail.concat(fresh.map(sanitizeLine)).slice(-TAIL_LINES);
  return {
    ...step,
    tail,
    lineCount: step.lineCount + countNewlines(data, lastNewline),
    partial: { ...step.partial, [stream]: clipPartial(data.slice(lastNewline + 1)) },
  };
}

/**
 * Folds one event into the run state, in place, and returns that same state (see the top of this
 * module): fold each run into a state of its own, made by createRunState. A job's state is replaced,
 * not changed.
 */
export function reduceRun(runState: RunState, event: KilnEvent): RunState {
  const state = runState as OwnedRunState;
  const at = timeOf(event);
  switch (event.type) {
    case 'run.start': {
      // The run's jobs are those run.start names; the plan may hold more (a run of selected jobs).
      const jobs: Record<string, JobState> = {};
      for (const name of event.jobs) {
        jobs[name] = (Object.hasOwn(state.jobs, name) ? state.jobs[name] : undefined) ?? {
          name,
          status: 'waiting',
          steps: [],
        };
      }
      Object.assign(state, { runId: event.runId, project: event.project, startedAt: at });
      state.jobOrder = [...event.jobs];
      state.jobs = jobs;
      return state;
    }
    case 'run.end':
      state.status = event.status;
      state.exitCode = event.exitCode;
      state.durationMs = event.durationMs;
      state.endedAt = at;
      return state;
    case 'warning':
      state.warnings.push({ job: event.job, message: event.message });
      return state;
    case 'error':
      state.errors.push({ job: event.job, code: event.code, message: event.message });
      return state;
    case 'step.output': {
      const text = stepOutputText(event);
      if (text === '') return state;
      return withJob(state, event.job, (job) =>
        withStep(job, event.step, (step) => appendOutput(step, event.stream, text)),
      );
    }
    case 'release':
      if (!event.job) return state;
      return withJob(state, event.job, (job) =>
        job.status === 'running' && job.phase !== 'release' ? { ...job, phase: 'release' } : job,
      );
    case 'debug.shell':
      return state;
    case 'service.output':
      if (event.data === '') return state;
      return withJob(state, event.job, (job) =>
        withService(job, event.service, (service) => ({
          ...service,
          output: appendOutput(service.output, event.stream, event.data),
        })),
      );
    default:
      return withJob(state, event.job, (job) => reduceJob(job, event, at));
  }
}

const CONTAINER_HOW = {
  'container.create': 'create',
  'container.reuse': 'reuse',
  'container.recreate': 'recreate',
} as const;

/** A step that has just started. */
/** The steps with `started` added, or in place of the earlier attempt of the same step. */
function withAttempt(steps: readonly StepState[], started: StepState): StepState[] {
  const earlier = steps.findIndex((step) => step.index === started.index && step.name === started.name);
  if (earlier === -1) return [...steps, started];
  const next = steps.slice();
  next[earlier] = started;
  return next;
}

function startedStep(event: StepStartEvent, at: number): StepState {
  return {
    ...(event.attempt !== undefined ? { attempt: event.attempt, attempts: event.attempts } : {}),
    name: event.step,
    index: event.index,
    command: event.command,
    status: 'running',
    exitCode: null,
    startedAt: at,
    allowFailure: false,
    tail: [],
    partial: { stdout: '', stderr: '' },
    lineCount: 0,
  };
}

/** The events that change one job's state and nothing else. */
type JobEvent = Exclude<
  KilnEvent,
  {
    type:
      | 'run.start'
      | 'run.end'
      | 'warning'
      | 'error'
      | 'step.output'
      | 'release'
      | 'debug.shell'
      | 'service.output';
  }
>;

/** Folds one of a job's events into its state. */
function reduceJob(job: JobState, event: JobEvent, at: number): JobState {
  switch (event.type) {
    case 'job.start':
      return {
        ...job,
        status: 'running',
        phase: 'cache',
        image: event.image,
        startedAt: at,
        // A reporter given no plan learns the job's steps here.
        ...(job.plannedSteps === undefined && event.steps ? { plannedSteps: event.steps } : {}),
      };
    case 'job.cache':
      return {
        ...job,
        phase: job.phase === 'cache' ? 'mounts' : job.phase,
        cache: {
          result: event.result,
          reasons: [...event.reasons],
          ...(event.key === undefined ? {} : { key: event.key }),
          ...(event.source === undefined ? {} : { source: event.source }),
        },
      };
    case 'mount.prepare':
      return job.phase === 'cache' ? { ...job, phase: 'mounts' } : job;
    case 'mount.wait':
      return {
        ...job,
        phase: job.phase === 'cache' ? 'mounts' : job.phase,
        waitingFor: { cache: event.cache, holder: event.holder, since: at - event.heldForMs },
      };
    case 'container.create':
    case 'container.reuse':
    case 'container.recreate': {
      const how = CONTAINER_HOW[event.type];
      return {
        ...job,
        phase: job.phase === 'mounts' || job.phase === 'cache' ? 'container' : job.phase,
        waitingFor: undefined,
        container: { id: event.container, name: event.name, how },
      };
    }
    case 'step.start':
      return {
        ...job,
        status: 'running',
        phase: 'steps',
        waitingFor: undefined,
        steps: withAttempt(job.steps, startedStep(event, at)),
      };
    case 'step.end':
      return withStep(job, event.step, (step) => ({
        ...step,
        status: event.status,
        exitCode: event.exitCode,
        durationMs: event.durationMs,
        allowFailure: event.allowFailure ?? false,
        ...(event.attempt !== undefined ? { attempt: event.attempt, attempts: event.attempts } : {}),
      }));
    case 'service.start':
    case 'service.ready':
    case 'service.end':
      return reduceService(job, event, at);
    case 'job.end':
      return {
        ...job,
        status: event.status,
        phase: undefined,
        waitingFor: undefined,
        endedAt: at,
        durationMs: event.durationMs ?? (job.startedAt === undefined ? undefined : at - job.startedAt),
        reason: event.reason,
      };
  }
}

/** Folds a service's start, readiness or end into its job's state. */
function reduceService(
  job: JobState,
  event: Extract<JobEvent, { type: 'service.start' | 'service.ready' | 'service.end' }>,
  at: number,
): JobState {
  switch (event.type) {
    case 'service.start':
      return {
        ...job,
        services: [
          ...(job.services ?? []).filter((s) => s.name !== event.service),
          {
            name: event.service,
            image: event.image,
            status: 'starting',
            startedAt: at,
            output: { tail: [], partial: { stdout: '', stderr: '' }, lineCount: 0 },
          },
        ],
      };
    case 'service.ready':
      return withService(job, event.service, (s) => ({ ...s, status: 'ready', readyMs: event.durationMs }));
    case 'service.end':
      return withService(job, event.service, (s) => ({ ...s, status: event.status }));
  }
}
