/** A secret declared under `secrets`, given to the step that mounts it while it runs. */
import { fieldTable } from '../field-table.js';
import { defineMountKind } from './kind.js';

export interface SecretMountSpec {
  readonly type: 'secret';
  /** A key of the definition's `secrets`. */
  readonly id: string;
  /** Default `/run/secrets/<id>`. */
  readonly target?: string;
  /** Also expose the value as this environment variable, for the declaring step only. */
  readonly env?: string;
  /** Octal file mode. Default 0400. */
  readonly mode?: string | number;
  readonly uid?: number;
  readonly gid?: number;
  /** Default true: a missing secret is an error. */
  readonly required?: boolean;
}

export const secretMount = defineMountKind<SecretMountSpec>()({
  type: 'secret',
  article: 'a',
  fields: fieldTable<SecretMountSpec>()({
    type: 'type',
    id: 'id',
    target: 'target',
    env: 'env',
    mode: 'mode',
    uid: 'uid',
    gid: 'gid',
    required: 'required',
  }),
});
