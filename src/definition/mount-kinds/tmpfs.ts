/** A tmpfs in the job's container. */
import { fieldTable } from '../field-table.js';
import { parseMode, parseSize } from '../sizes.js';
import { EntryError } from './default-form.js';
import { defineMountKind } from './kind.js';

export interface TmpfsMountSpec {
  readonly type: 'tmpfs';
  readonly target: string;
  /** Bytes, or a size with a unit: `256m`, `1g`, `512k`. Default: the engine's (half the memory). */
  readonly size?: string | number;
  /** Octal mode as a string (`"1777"`) or number. Default 1777. */
  readonly mode?: string | number;
}

export const tmpfsMount = defineMountKind<TmpfsMountSpec>()({
  type: 'tmpfs',
  article: 'a',
  fields: fieldTable<TmpfsMountSpec>()({
    type: 'type',
    target: 'target',
    size: 'size',
    mode: 'mode',
  }),
  defaultForm: {
    keys: ['target', 'size', 'mode'],
    aliases: { 'tmpfs-size': 'size', 'tmpfs-mode': 'mode' },
    parse(fields, target) {
      const spec: { -readonly [K in keyof TmpfsMountSpec]: TmpfsMountSpec[K] } = { type: 'tmpfs', target };
      const size = fields.get('size');
      const mode = fields.get('mode');
      try {
        if (size !== undefined) spec.size = parseSize(size);
        if (mode !== undefined) spec.mode = parseMode(mode);
      } catch (error) {
        throw new EntryError((error as Error).message);
      }
      return spec;
    },
  },
});
