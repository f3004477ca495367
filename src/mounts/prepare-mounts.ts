/**
 * prepareMounts: planMounts then acquireMounts, for callers that do not need the plan on its own.
 * Container mounts keep the compiler's order (parents first), with the ssh agent sockets appended.
 */
import type { CompiledJob } from '../graph/types.js';
import { acquireMounts, type AcquireMountsContext } from './acquire-mounts.js';
import { planMounts, type PlanMountsContext } from './plan-mounts.js';
import { RunSecrets } from './run-secrets.js';
import type { PreparedMounts } from './types.js';

export interface PrepareMountsContext
  extends Omit<PlanMountsContext, 'signal'>, Omit<AcquireMountsContext, 'secrets'> {
  /** The run's secrets (see PlanMountsContext). Default: read for this job alone. */
  readonly secrets?: RunSecrets;
}

export async function prepareMounts(job: CompiledJob, ctx: PrepareMountsContext): Promise<PreparedMounts> {
  const secrets = ctx.secrets ?? new RunSecrets(ctx.graph, ctx.env ?? process.env);
  const plan = await planMounts(job, { ...ctx, secrets });
  return acquireMounts(job, plan, { ...ctx, secrets });
}
