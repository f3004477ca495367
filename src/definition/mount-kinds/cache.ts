/** A named volume kept across runs, shared, private or locked between the jobs that mount it. */
import { fieldTable } from '../field-table.js';
import { EntryError } from './default-form.js';
import { defineMountKind } from './kind.js';

export type CacheSharing = 'shared' | 'private' | 'locked';

export interface CacheMountSpec {
  readonly type: 'cache';
  /** The cache's name; one named volume per project and id, kept across runs. */
  readonly id: string;
  readonly target: string;
  /** BuildKit's modes. Default `shared`. */
  readonly sharing?: CacheSharing;
  readonly readonly?: boolean;
}

const SHARING: readonly CacheSharing[] = ['shared', 'private', 'locked'];

export const cacheMount = defineMountKind<CacheMountSpec>()({
  type: 'cache',
  article: 'a',
  fields: fieldTable<CacheMountSpec>()({
    type: 'type',
    id: 'id',
    target: 'target',
    sharing: 'sharing',
    readonly: 'readonly',
  }),
  defaultForm: {
    keys: ['id', 'target', 'sharing', 'readonly'],
    aliases: { ro: 'readonly' },
    parse(fields, target) {
      const sharing = fields.get('sharing') ?? 'shared';
      if (!SHARING.includes(sharing as CacheSharing)) {
        throw new EntryError(`unknown sharing '${sharing}' (allowed: ${SHARING.join(', ')})`);
      }
      // As in BuildKit, the id defaults to the target.
      return {
        type: 'cache',
        id: fields.get('id') || target,
        target,
        sharing: sharing as CacheSharing,
        readonly: fields.boolean('readonly'),
      };
    },
  },
});
