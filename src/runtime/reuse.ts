/**
 * Reuse mode on the engine: a stable container name per project, job and worker slot, and whether the
 * container found under it may be reused (it must be kiln's, of this project, running, of the same
 * image and fingerprint, and handed over clean).
 */
import { ExitCode, InfrastructureError, KilnError } from '../errors.js';
import { Label } from '../labels.js';
import { safeName } from '../names.js';
import type { ContainerState } from './containers.js';
import type { Engine } from './engine.js';
import { handOver } from './hand-over.js';

/** `kiln-<project>-<job>-w<slot>`; the project name already carries a hash of its folder. */
export function reuseName(project: string, job: string, worker: string): string {
  return safeName(`kiln-${project}-${job}-w${worker}`);
}

/** What to do with the container found under a reuse name. */
export type ReuseDecision =
  /** Nothing of that name: make it. */
  | { readonly kind: 'create' }
  /** Reuse it: it was handed over, clean. */
  | { readonly kind: 'reuse'; readonly id: string }
  /** Make it afresh, for this reason (its image or config changed, it stopped, it lost its shell). */
  | { readonly kind: 'recreate'; readonly id: string; readonly reason: string };

export interface ReuseCandidate {
  readonly project: string;
  readonly job: string;
  readonly name: string;
  readonly imageId: string;
  readonly fingerprint: string;
  readonly workdirs: readonly string[];
}

/**
 * Looks at the container under the reuse name and decides. One that matches is handed over first: a
 * kiln that died may have left processes and secrets behind, and none of them lives into this run.
 * Throws when the name is taken by a container that is not this project's, or one that cannot be
 * emptied. Call it while holding the container's lock.
 */
export async function decideReuse(
  engine: Pick<Engine, 'containers' | 'exec'>,
  want: ReuseCandidate,
): Promise<ReuseDecision> {
  const existing = await engine.containers.inspect(want.name);
  if (existing === undefined) return { kind: 'create' };
  checkOwner(existing, want);
  const recreate = (reason: string): ReuseDecision => ({ kind: 'recreate', id: existing.id, reason });
  if (!existing.running) return recreate('it was not running');
  if (existing.imageId !== want.imageId)
    return recreate(`its image changed (${existing.imageId.slice(7, 19)} -> ${want.imageId.slice(7, 19)})`);
  if (existing.labels[Label.fingerprint] !== want.fingerprint)
    return recreate('its mounts, network, user or kiln version changed');
  const handed = await handOver(engine, existing.id, want.workdirs);
  if (handed.lacksShell) return recreate('its /bin/sh is gone (a step removed or replaced it)');
  if (handed.code !== 0) {
    throw new InfrastructureError(
      `job ${want.job}: the reused container ${want.name} could not be emptied of the last run's processes ` +
        `and secrets (exit ${handed.code}${handed.output ? `: ${handed.output}` : ''}); ` +
        `remove it (docker rm -f ${want.name}) and run again`,
    );
  }
  return { kind: 'reuse', id: existing.id };
}

/** A container under a reuse name must be one kiln made for this project. */
function checkOwner(existing: ContainerState, want: ReuseCandidate): void {
  const theirs = existing.labels;
  const fix = `give job ${want.job} another reuse name, or remove that container (docker rm -f ${want.name})`;
  if (theirs[Label.managed] !== 'true') {
    throw new KilnError(
      `job ${want.job}: a container named ${want.name} exists and kiln did not make it (image ` +
        `${existing.imageReference}); kiln does not take it over: ${fix}`,
      { code: 'E_REUSE_NAME_TAKEN', exitCode: ExitCode.usage },
    );
  }
  const project = theirs[Label.project];
  if (project !== want.project) {
    throw new KilnError(
      `job ${want.job}: the reused container ${want.name} belongs to ${project ? `kiln project ${project}` : 'another kiln project'}` +
        `${theirs[Label.job] ? ` (job ${theirs[Label.job]})` : ''}, not to this one (${want.project}); ` +
        `kiln does not take it over: ${fix}`,
      { code: 'E_REUSE_NAME_TAKEN', exitCode: ExitCode.usage },
    );
  }
}
