/**
 * An output of another job, mounted read-only: the step file's bind with `from`. Whether `from` names a
 * job (other than this one) is checked with the needs (needs.ts), so that it is reported once, cycles
 * included.
 */
import { posix } from 'node:path';
import type { BindMountSpec } from '../../definition/types.js';
import { nonEmptyString, problem, resolveTarget, type MountEntry } from './entry.js';
import { defineGraphMountKind } from './kind.js';

/** An output of another job (`type: bind` with `from`), mounted read-only. */
export interface CompiledOutputMount {
  readonly type: 'output';
  /** The job that produces it (one of this job's `needs`). */
  readonly job: string;
  /** The output's path in that job's container, as that job compiles it (absolute). */
  readonly path: string;
  /** Absolute path in this job's container. */
  readonly target: string;
}

export const outputMountKind = defineGraphMountKind<CompiledOutputMount>()({
  type: 'output',
  life: 'container',
  describe: (mount) => `output ${mount.path} of job ${mount.job}`,
});

/** A bind with `from`, compiled: the producing job's output path, checked against its outputs. */
export function compileOutputBind(spec: BindMountSpec, entry: MountEntry): CompiledOutputMount | undefined {
  const { job } = entry.scope;
  if (job === undefined) {
    problem(
      entry,
      'a bind with from cannot be a default for every job (the job that makes the output would mount it too); ' +
        'declare it on the jobs that use the output',
      'from',
    );
    return undefined;
  }
  const from = spec.from;
  if (typeof from !== 'string' || from === '') {
    problem(entry, 'from must be the name of a job', 'from');
    return undefined;
  }
  let usable = true;
  const refuse = (key: string, why: string): void => {
    usable = false;
    problem(entry, `${key} does not apply to a bind with from: ${why}; remove it`, key);
  };
  if (spec.readonly === false) refuse('readonly', 'an output is always mounted read-only');
  if (spec.allowOutsideProject === true) {
    refuse('allow-outside-project', `its source is an output of job '${from}', not a host path`);
  }
  if (spec.allowDockerSocket === true) {
    refuse('allow-docker-socket', `its source is an output of job '${from}', not a host path`);
  }
  if (spec.keepOwner === true)
    refuse('keep-owner', 'an output is read-only, so the job writes nothing into it');
  if (spec.exclude !== undefined && !(Array.isArray(spec.exclude) && spec.exclude.length === 0)) {
    refuse(
      'exclude',
      "an output's content is known by its digest, so nothing of it can be left out of the key",
    );
  }
  const source = nonEmptyString(entry, spec.source, 'source');
  const target = resolveTarget(entry, spec.target, outputMountKind);
  const producer = entry.context.outputs.get(from);
  if (source === undefined || target === undefined || !usable) return undefined;
  if (producer === undefined || from === job) return undefined;
  const path = posix.resolve(producer.workdir, source);
  if (!producer.paths.includes(path)) {
    const written = path === source ? '' : ` (${source} in its workdir ${producer.workdir})`;
    problem(
      entry,
      producer.paths.length === 0
        ? `job '${from}' has no outputs, so it has no ${path}${written}; declare it under outputs: of job '${from}'`
        : `job '${from}' has no output ${path}${written}; its outputs: ${producer.paths.join(', ')}`,
      'source',
    );
    return undefined;
  }
  return { type: 'output', job: from, path, target };
}
