/** A secret declared under `secrets`, a file (and optionally a variable) only while its step runs. */
import { didYouMean } from '../suggest.js';
import { parseMode } from '../../definition/sizes.js';
import { idOf, ownerId, parsed, problem, resolveTarget, type MountEntry } from './entry.js';
import { defineGraphMountKind } from './kind.js';
import { refusedUnderDev } from './targets.js';

export interface CompiledSecretMount {
  readonly type: 'secret';
  readonly id: string;
  readonly target: string;
  readonly env?: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly required: boolean;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const secretMountKind = defineGraphMountKind<CompiledSecretMount>()({
  type: 'secret',
  life: 'step',
  compile(spec, entry) {
    const id = idOf(entry, spec.id);
    if (id === undefined) return undefined;
    const known = knownSecret(entry, id);
    const target = resolveTarget(entry, spec.target ?? `/run/secrets/${id}`, secretMountKind);
    const mode = spec.mode === undefined ? 0o400 : parsed(entry, parseMode, spec.mode, 'mode');
    const uid = ownerId(entry, spec.uid, 'uid');
    const gid = ownerId(entry, spec.gid, 'gid');
    let envOk = true;
    if (spec.env !== undefined && (typeof spec.env !== 'string' || !ENV_NAME.test(spec.env))) {
      envOk = false;
      problem(entry, `env ${JSON.stringify(spec.env)} is not a variable name (letters, digits, _)`, 'env');
    }
    if (!known || !envOk || target === undefined || mode === undefined) return undefined;
    if (uid === undefined || gid === undefined) return undefined;
    return {
      type: 'secret',
      id,
      target,
      ...(spec.env !== undefined ? { env: spec.env } : {}),
      mode,
      uid,
      gid,
      required: spec.required !== false,
    };
  },
  describe: (mount) => `secret '${mount.id}'`,
  refuseTarget: (target) => refusedUnderDev('a secret', target),
});

/** Whether `id` is declared under `secrets`; if not, says so (with the nearest declared id). */
function knownSecret(entry: MountEntry, id: string): boolean {
  const { secretIds } = entry.context;
  if (secretIds.has(id)) return true;
  const hint =
    secretIds.size === 0 ? '; declare it under `secrets:` with `env:` or `file:`' : didYouMean(id, secretIds);
  problem(entry, `secret '${id}' is not declared in secrets${hint}`, 'id');
  return false;
}
