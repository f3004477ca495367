/** How a mount is named in errors: `bind ./src -> /src`, `cache ccache -> /root/.ccache`, ... */
import type { CompiledMount } from '../graph/types.js';
import { displayPath } from './bind-sources.js';

export function describeMount(mount: CompiledMount, projectDir: string, step?: string): string {
  const where = step === undefined ? '' : ` (step ${step})`;
  switch (mount.type) {
    case 'bind':
      return `bind ${displayPath(mount.source, projectDir)} -> ${mount.target}${where}`;
    case 'cache':
      return `cache ${mount.id} -> ${mount.target}${where}`;
    case 'tmpfs':
      return `tmpfs ${mount.target}${where}`;
    case 'secret':
      return `secret ${mount.id} -> ${mount.target}${where}`;
    case 'ssh':
      return `ssh ${mount.id} -> ${mount.target}${where}`;
    case 'output':
      return `bind ${mount.path} from job ${mount.job} -> ${mount.target}${where}`;
  }
}
