/** How a mount is named in errors: `bind ./src -> /src`, `cache ccache -> /root/.ccache`, ... (see kinds/). */
import type { CompiledMount } from '../graph/types.js';
import { inStep } from './kinds/kind.js';
import { mountKind } from './kinds/index.js';

export function describeMount(mount: CompiledMount, projectDir: string, step?: string): string {
  return inStep(mountKind(mount.type).describe(mount, projectDir), step);
}
