/**
 * When a service is ready: its health check (exec'd in the service, Docker's healthcheck semantics), else
 * its ports accepting TCP connections (checked from the job's container, on the job's network, never from
 * this host), else as soon as it runs. A service that exits first, or never becomes ready, is a
 * ServiceError; a cancelled run stops the wait at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { cancelledError, ServiceError } from '../errors.js';
import type { CompiledService, CompiledServiceHealth } from '../graph/types.js';
import type { Engine } from '../runtime/engine.js';
import { runExec } from '../runtime/run-exec.js';

/** How often ports are tried, and for how long at most, for a service without a health check. */
export const PORT_CHECK = { intervalMs: 250, timeoutMs: 2_000, giveUpAfterMs: 60_000 } as const;

/**
 * Tries one TCP port from inside a container: bash's /dev/tcp, else `nc`; 127 when the image has neither.
 * Arguments: host, port.
 */
const PORT_PROBE = [
  'h=$1; p=$2',
  'if command -v bash >/dev/null 2>&1; then exec bash -c \'exec 3<>"/dev/tcp/$0/$1"\' "$h" "$p" 2>/dev/null; fi',
  'if command -v nc >/dev/null 2>&1; then nc -w 1 "$h" "$p" </dev/null >/dev/null 2>&1; exit $?; fi',
  'exit 127',
].join('\n');

export interface ReadinessContext {
  readonly engine: Pick<Engine, 'containers' | 'exec'>;
  readonly job: string;
  readonly signal: AbortSignal;
}

/** A started service, as readiness sees it. */
export interface WaitingService {
  readonly spec: CompiledService;
  readonly containerId: string;
  /** When it was started (ms since the epoch). */
  readonly startedAt: number;
}

/** Why a check failed, when it says something. */
interface CheckResult {
  readonly ok: boolean;
  readonly detail?: string;
  /** The check cannot work at all (no tool to try a port with): stop waiting. */
  readonly hopeless?: string;
}

/** Waits until the service is ready; throws a ServiceError (or a CancelledError) when it will not be. */
export async function waitUntilReady(
  service: WaitingService,
  jobContainerId: string,
  ctx: ReadinessContext,
): Promise<void> {
  const { spec } = service;
  if (spec.health)
    return waitForChecks(service, spec.health, () => healthCheck(service, spec.health!, ctx), ctx);
  if (spec.ports.length > 0) {
    const open = new Set<number>();
    const rounds = Math.ceil(PORT_CHECK.giveUpAfterMs / PORT_CHECK.intervalMs);
    const check = async (): Promise<CheckResult> => {
      for (const port of spec.ports) {
        if (open.has(port)) continue;
        const result = await portCheck(spec.name, port, jobContainerId, ctx);
        if (!result.ok) return result;
        open.add(port);
      }
      return { ok: true };
    };
    return waitForChecks(
      service,
      {
        argv: [],
        intervalMs: PORT_CHECK.intervalMs,
        timeoutMs: PORT_CHECK.timeoutMs,
        retries: rounds,
        startPeriodMs: 0,
      },
      check,
      ctx,
      `its port${spec.ports.length > 1 ? 's' : ''} ${spec.ports.join(', ')}`,
    );
  }
  await exitedCheck(service, ctx);
}

/** Throws the ServiceError of a service that is no longer running. */
async function exitedCheck(service: WaitingService, ctx: ReadinessContext): Promise<void> {
  const state = await ctx.engine.containers.inspect(service.containerId);
  if (state?.running) return;
  if (ctx.signal.aborted) throw cancelledError(ctx.signal);
  throw new ServiceError(
    ctx.job,
    service.spec.name,
    state === undefined
      ? 'its container is gone before the job started'
      : `exited with code ${state.exitCode ?? 'unknown'} before it was ready`,
  );
}

/**
 * Runs `check` every `interval` until it passes; a failure after the start period counts, `retries` in a
 * row fail the service. The service exiting ends the wait at once.
 */
async function waitForChecks(
  service: WaitingService,
  timing: CompiledServiceHealth,
  check: () => Promise<CheckResult>,
  ctx: ReadinessContext,
  what = 'its health check',
): Promise<void> {
  let failures = 0;
  let last: string | undefined;
  for (;;) {
    if (ctx.signal.aborted) throw cancelledError(ctx.signal);
    await exitedCheck(service, ctx);
    const began = Date.now();
    const result = await check();
    if (result.ok) return;
    if (result.hopeless) throw new ServiceError(ctx.job, service.spec.name, result.hopeless);
    last = result.detail;
    if (began - service.startedAt >= timing.startPeriodMs) failures += 1;
    if (failures >= timing.retries) {
      await exitedCheck(service, ctx);
      throw new ServiceError(
        ctx.job,
        service.spec.name,
        `never became ready: ${what} failed ${failures} time${failures > 1 ? 's' : ''} in a row` +
          (last ? ` (last: ${last})` : ''),
      );
    }
    const wait = Math.max(0, timing.intervalMs - (Date.now() - began));
    try {
      await sleep(wait, undefined, { signal: ctx.signal });
    } catch {
      throw cancelledError(ctx.signal);
    }
  }
}

/** Runs a command in a container, failing it once it takes longer than `timeoutMs`. */
async function execWithin(
  ctx: ReadinessContext,
  containerId: string,
  argv: readonly string[],
  timeoutMs: number,
  description: string,
): Promise<{ code: number | 'timeout'; output: string }> {
  const chunks: Buffer[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const code = await Promise.race([
      runExec(ctx.engine.exec, containerId, {
        argv,
        description,
        onOutput: (_stream, chunk) => {
          if (chunks.length < 64) chunks.push(chunk);
        },
      }),
      timedOut,
    ]);
    return { code, output: Buffer.concat(chunks).toString('utf8').trim() };
  } finally {
    clearTimeout(timer);
  }
}

async function healthCheck(
  service: WaitingService,
  health: CompiledServiceHealth,
  ctx: ReadinessContext,
): Promise<CheckResult> {
  const { code, output } = await execWithin(
    ctx,
    service.containerId,
    health.argv,
    health.timeoutMs,
    `the health check of service ${service.spec.name}`,
  );
  if (code === 0) return { ok: true };
  const said = output.split('\n').slice(-2).join('; ').slice(0, 200);
  return {
    ok: false,
    detail:
      code === 'timeout'
        ? `timed out after ${health.timeoutMs / 1000} s`
        : `exit code ${code}${said ? `: ${said}` : ''}`,
  };
}

async function portCheck(
  name: string,
  port: number,
  jobContainerId: string,
  ctx: ReadinessContext,
): Promise<CheckResult> {
  const { code } = await execWithin(
    ctx,
    jobContainerId,
    ['/bin/sh', '-c', PORT_PROBE, 'kiln-port-check', name, String(port)],
    PORT_CHECK.timeoutMs,
    `the check of port ${port} of service ${name}`,
  );
  if (code === 0) return { ok: true };
  if (code === 127)
    return {
      ok: false,
      hopeless:
        `cannot check that port ${port} accepts connections: the job's image has neither bash nor nc; ` +
        `give the service a health check (health: { run: ... }) instead`,
    };
  return {
    ok: false,
    detail: `port ${port} ${code === 'timeout' ? 'did not answer' : 'refused the connection'}`,
  };
}
