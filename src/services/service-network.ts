/**
 * The network of a job with services: a user-defined bridge made for the job of one run, labelled like
 * everything kiln makes (so that a dead run's is swept), removed once its containers are.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Label, ownerLabels } from '../labels.js';
import type { ReleaseStack } from '../release.js';
import type { Engine } from '../runtime/engine.js';
import { KILN_VERSION } from '../runtime/version.js';

/** A network's name for a job of a run: unique even for two kiln processes that share a run id. */
export function serviceNetworkName(runId: string, job: string): string {
  const jobPart = createHash('sha256').update(job).digest('hex').slice(0, 8);
  return `kiln-${runId}-${jobPart}-${randomBytes(2).toString('hex')}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/** The labels of what a job's services are made of (their network and containers). */
export function serviceLabels(project: string, job: string, runId: string): Record<string, string> {
  return {
    ...ownerLabels(runId),
    [Label.scope]: 'run',
    [Label.project]: project,
    [Label.job]: job,
    [Label.version]: KILN_VERSION,
  };
}

/** Makes the job's network and pushes its removal (after everything on it, which is pushed later). */
export async function acquireServiceNetwork(
  engine: Pick<Engine, 'networks'>,
  stack: ReleaseStack,
  labels: Readonly<Record<string, string>>,
  name: string,
): Promise<void> {
  await engine.networks.create(name, labels);
  stack.push('network', name, async () => {
    await engine.networks.remove(name);
  });
}
