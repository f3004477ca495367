/** A host folder or file mounted into the job's container; with `from`, an output of another job. */
import { homedir } from 'node:os';
import { resolveUserPath } from '../../home-path.js';
import { fieldTable } from '../field-table.js';
import { EntryError } from './default-form.js';
import { defineMountKind } from './kind.js';

/** Files are read-write unless `readonly`. */
export interface BindMountSpec {
  readonly type: 'bind';
  /** Host path; relative paths resolve against the step file's folder. */
  readonly source: string;
  /** Path in the container; relative targets resolve against the workdir. */
  readonly target: string;
  readonly readonly?: boolean;
  /** Opt-in: allow a source that resolves (through symlinks) outside the project folder. Default false. */
  readonly allowOutsideProject?: boolean;
  /** Opt-in: allow binding the Docker socket (full control of the engine). Default false. */
  readonly allowDockerSocket?: boolean;
  /**
   * Mount an output of this job instead of a host path: `source` is then one of that job's `outputs`
   * paths, mounted read-only. Implies `needs`. (The builder takes the job's builder too.)
   */
  readonly from?: string;
  /** gitignore-style patterns, relative to `source`, left out of the job's key (not out of the mount). */
  readonly exclude?: readonly string[];
  /**
   * Leave what the job writes into a read-write bind owned as the job made it (root, usually). Default
   * false: it is handed back to the user who runs kiln (the one who ran sudo) after the job.
   */
  readonly keepOwner?: boolean;
}

export const bindMount = defineMountKind<BindMountSpec>()({
  type: 'bind',
  article: 'a',
  fields: fieldTable<BindMountSpec>()({
    type: 'type',
    source: 'source',
    target: 'target',
    readonly: 'readonly',
    'allow-outside-project': 'allowOutsideProject',
    'allow-docker-socket': 'allowDockerSocket',
    from: 'from',
    exclude: 'exclude',
    'keep-owner': 'keepOwner',
  }),
  defaultForm: {
    keys: ['source', 'target', 'readonly', 'allow-outside-project', 'allow-docker-socket', 'keep-owner'],
    aliases: { src: 'source', ro: 'readonly' },
    parse(fields, target, env) {
      const source = fields.get('source');
      if (!source) throw new EntryError('missing source= for a bind mount');
      const spec: BindMountSpec = {
        type: 'bind',
        source: defaultSource(source, env),
        target,
        readonly: fields.boolean('readonly'),
      };
      return {
        ...spec,
        ...(fields.has('allow-outside-project')
          ? { allowOutsideProject: fields.boolean('allow-outside-project') }
          : {}),
        ...(fields.has('allow-docker-socket')
          ? { allowDockerSocket: fields.boolean('allow-docker-socket') }
          : {}),
        ...(fields.has('keep-owner') ? { keepOwner: fields.boolean('keep-owner') } : {}),
      };
    },
  },
});

/** A default mount's source: relative to the project folder, `~` the home folder. */
export function defaultSource(
  source: string,
  env: { readonly projectDir: string; readonly homeDir?: string },
) {
  return resolveUserPath(source, env.projectDir, env.homeDir ?? homedir());
}
