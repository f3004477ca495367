/** An ssh agent of the host, its socket given to the step that mounts it while it runs. */
import { fieldTable } from '../field-table.js';
import { defineMountKind } from './kind.js';

export interface SshMountSpec {
  readonly type: 'ssh';
  /** Default `default`: the host's `SSH_AUTH_SOCK`. */
  readonly id?: string;
  /** Socket path in the container. Default `/run/kiln/ssh-<id>.sock`. */
  readonly target?: string;
  /** Default true: a missing agent is an error. */
  readonly required?: boolean;
}

export const sshMount = defineMountKind<SshMountSpec>()({
  type: 'ssh',
  article: 'an',
  fields: fieldTable<SshMountSpec>()({
    type: 'type',
    id: 'id',
    target: 'target',
    required: 'required',
  }),
});
