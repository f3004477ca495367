/**
 * Checks of bind mount sources, before anything is acquired: the source must exist, resolve (through
 * symlinks) inside the project folder, and not be the Docker socket, unless the mount opts in.
 */
import { realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { MountError } from '../errors.js';

/** The Docker socket's usual places; the unix path of `DOCKER_HOST` is added to them. */
export const DEFAULT_DOCKER_SOCKET_PATHS: readonly string[] = ['/var/run/docker.sock', '/run/docker.sock'];

/** The socket paths to refuse: the defaults plus the unix socket of `DOCKER_HOST` (`unix:///path`). */
export function dockerSocketPaths(env: NodeJS.ProcessEnv): string[] {
  const paths = [...DEFAULT_DOCKER_SOCKET_PATHS];
  const host = env.DOCKER_HOST;
  if (host?.startsWith('unix://')) {
    const path = host.slice('unix://'.length);
    if (path && !paths.includes(path)) paths.push(path);
  }
  return paths;
}

/** What a bind check needs to know besides the mount. */
export interface BindCheckContext {
  readonly job: string;
  /** The mount as named in errors, e.g. `bind ./src -> /src`. */
  readonly mount: string;
  readonly projectDir: string;
  /** Socket paths that may not be bound without `allow-docker-socket: true`. */
  readonly dockerSocketPaths: readonly string[];
}

export interface BindSourceOptions {
  readonly allowOutsideProject: boolean;
  readonly allowDockerSocket: boolean;
}

/** A checked bind source. */
export interface CheckedBindSource {
  /** The source through symlinks. */
  readonly realPath: string;
  /** The project folder through symlinks. */
  readonly projectRealPath: string;
}

/** A host path as the user would recognise it: relative to the project folder when inside it. */
export function displayPath(path: string, projectDir: string): string {
  const rel = relative(projectDir, path);
  if (rel === '') return '.';
  if (!rel.startsWith('..') && !isAbsolute(rel)) return `./${rel}`;
  return path;
}

/** Is `path` the folder `folder` or inside it? Both must be absolute and normalised. */
export function isInside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * Resolves a bind source through symlinks and checks it. Throws a MountError that names the job, the
 * mount, the real path and the opt-in that would allow it.
 */
export async function checkBindSource(
  source: string,
  options: BindSourceOptions,
  context: BindCheckContext,
): Promise<CheckedBindSource> {
  const { job, mount, projectDir } = context;
  const projectRealPath = await realpath(projectDir).catch(() => projectDir);
  let realPath: string;
  try {
    realPath = await realpath(source);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') {
      const resolved = await resolveExisting(source);
      throw new MountError(
        job,
        mount,
        `bind source ${displayPath(source, projectDir)} does not exist (resolved ${resolved}); ` +
          `create it or fix the mount's source`,
        error,
      );
    }
    throw new MountError(
      job,
      mount,
      `bind source ${source} cannot be resolved: ${(error as Error).message}`,
      error,
    );
  }

  if (!options.allowOutsideProject && !isInside(realPath, projectRealPath)) {
    throw new MountError(
      job,
      mount,
      `bind source ${displayPath(source, projectDir)} resolves to ${realPath}, outside the project folder ` +
        `${projectRealPath}; set allow-outside-project: true on the mount to allow it`,
    );
  }

  if (!options.allowDockerSocket) {
    const socket = await matchDockerSocket(realPath, context.dockerSocketPaths);
    if (socket !== undefined) {
      throw new MountError(
        job,
        mount,
        `bind source ${displayPath(source, projectDir)} resolves to ${realPath}, ${socket}, which gives ` +
          `the job full control of the Docker engine; set allow-docker-socket: true on the mount to allow it`,
      );
    }
  }
  return { realPath, projectRealPath };
}

/**
 * Says why `realPath` counts as the Docker socket: it is one of the socket paths (through symlinks),
 * the same file as one (same device and inode), or the folder that holds one. Undefined otherwise.
 */
export async function matchDockerSocket(
  realPath: string,
  socketPaths: readonly string[],
): Promise<string | undefined> {
  let sourceStat: Awaited<ReturnType<typeof stat>> | undefined;
  try {
    sourceStat = await stat(realPath);
  } catch {
    sourceStat = undefined;
  }
  for (const socketPath of socketPaths) {
    const socketReal = await realpath(socketPath).catch(() => undefined);
    const candidates = new Set([socketPath, ...(socketReal ? [socketReal] : [])]);
    for (const candidate of candidates) {
      if (realPath === candidate) return `the Docker socket ${socketPath}`;
      if (realPath === dirname(candidate)) return `the folder holding the Docker socket ${socketPath}`;
    }
    if (sourceStat?.isSocket() && socketReal) {
      const socketStat = await stat(socketReal).catch(() => undefined);
      if (socketStat && socketStat.dev === sourceStat.dev && socketStat.ino === sourceStat.ino) {
        return `the same file as the Docker socket ${socketPath}`;
      }
    }
  }
  return undefined;
}

/** The path with its longest existing prefix resolved through symlinks, for messages about missing paths. */
async function resolveExisting(path: string): Promise<string> {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    try {
      const real = await realpath(current);
      return missing.length === 0 ? real : join(real, ...missing.reverse());
    } catch {
      const parent = dirname(current);
      if (parent === current) return path;
      missing.push(current.slice(parent.length).replace(/^\/+/, ''));
      current = parent;
    }
  }
}

/**
 * The path Docker should bind for a local path. `KILN_WORKSPACE_HOST_PATH` is for kiln running inside
 * a container whose project folder is a bind of a folder of the engine's host: set it to that host
 * folder, and sources inside the project folder are given to Docker under it (the checks above still
 * look at the local paths). Paths outside the project folder are given as they are.
 */
export function engineHostPath(
  localRealPath: string,
  projectRealPath: string,
  env: NodeJS.ProcessEnv,
): string {
  const hostProject = env.KILN_WORKSPACE_HOST_PATH;
  if (!hostProject || !isInside(localRealPath, projectRealPath)) return localRealPath;
  const rel = relative(projectRealPath, localRealPath);
  return rel === '' ? hostProject : join(hostProject, rel);
}
