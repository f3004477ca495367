/**
 * Checks of bind mount sources, before anything is acquired: the source must exist (a read-write bind's
 * may be missing: it is made when the job starts, see host-owner.ts), resolve (through
 * symlinks) inside the project folder, and not hand out the Docker engine (be its socket, or a folder
 * that holds or reaches it, such as `/` or `/run`), unless the mount opts in.
 */
import type { Stats } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, posix, relative } from 'node:path';
import { MountError } from '../errors.js';
import { isInside, resolveExisting } from '../host-paths.js';

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
  /** This process's mounts, when the caller read them already (a run reads them once). Default: read now. */
  readonly mountInfo?: Promise<readonly MountInfoEntry[]>;
  /** The sockets as found for the run (a run finds each once). Default: found now. */
  readonly sockets?: DockerSockets;
}

export interface BindSourceOptions {
  readonly allowOutsideProject: boolean;
  readonly allowDockerSocket: boolean;
  /**
   * A source that does not exist is accepted (a read-write bind's, which is made when the job starts):
   * it is checked where it would be made. Default false: refused.
   */
  readonly missingAllowed?: boolean;
}

/** A checked bind source. */
export interface CheckedBindSource {
  /** The source through symlinks. */
  readonly realPath: string;
  /** The project folder through symlinks. */
  readonly projectRealPath: string;
  /** The source does not exist (only with `missingAllowed`): `realPath` is where it would be made. */
  readonly missing?: boolean;
}

/** A host path as the user would recognise it: relative to the project folder when inside it. */
export function displayPath(path: string, projectDir: string): string {
  const rel = relative(projectDir, path);
  if (rel === '') return '.';
  if (!rel.startsWith('..') && !isAbsolute(rel)) return `./${rel}`;
  return path;
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
  let missing = false;
  try {
    realPath = await realpath(source);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.missingAllowed) {
      realPath = await resolveExisting(source);
      missing = true;
    } else if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') {
      const resolved = await resolveExisting(source);
      throw new MountError(
        job,
        mount,
        `bind source ${displayPath(source, projectDir)} does not exist (resolved ${resolved}); ` +
          `create it or fix the mount's source`,
        error,
      );
    } else {
      throw new MountError(
        job,
        mount,
        `bind source ${source} cannot be resolved: ${(error as Error).message}`,
        error,
      );
    }
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
    const socket = await matchDockerSocket(
      realPath,
      context.dockerSocketPaths,
      context.mountInfo ?? readMountInfo(),
      context.sockets,
    );
    if (socket !== undefined) {
      throw new MountError(
        job,
        mount,
        `bind source ${displayPath(source, projectDir)} resolves to ${realPath}, ${socket}, which gives ` +
          `the job full control of the Docker engine; set allow-docker-socket: true on the mount to allow it`,
      );
    }
  }
  return { realPath, projectRealPath, ...(missing ? { missing } : {}) };
}

/** A Docker socket path as found: the socket through symlinks, and its stat where it can be read. */
export interface FoundSocket {
  readonly path: string;
  readonly realPath: string;
  readonly stat?: Stats;
  /** How messages name it: its path, and its real path when that differs. */
  readonly named: string;
}

/**
 * The Docker sockets of a run, each found (through symlinks, with its stat) the first time a bind is
 * checked against it: every job's binds are checked against the same few paths. A socket that appears
 * during the run is seen by the next run, as this process's mounts are (see readMountInfo).
 */
export class DockerSockets {
  readonly #found = new Map<string, Promise<FoundSocket | undefined>>();

  /** The socket at `path`, or undefined when there is none (no engine there). */
  find(path: string): Promise<FoundSocket | undefined> {
    let found = this.#found.get(path);
    if (found === undefined) {
      found = findSocket(path);
      this.#found.set(path, found);
    }
    return found;
  }
}

async function findSocket(path: string): Promise<FoundSocket | undefined> {
  const realPath = await realpath(path).catch(() => undefined);
  if (realPath === undefined) return undefined;
  const socketStat = await stat(realPath).catch(() => undefined);
  const named = realPath === path ? path : `${path} (${realPath})`;
  return { path, realPath, named, ...(socketStat ? { stat: socketStat } : {}) };
}

/**
 * Says why a bind of `realPath` would hand out the Docker engine, or undefined when it would not. It
 * does when one of the sockets (through symlinks) is the source, lies inside it (binding `/`, `/run` or
 * any folder above a socket), or can be reached inside it through a mount of the socket's file system
 * (a bind mount of the socket's folder or of the socket itself, see {@link reachedThroughMounts}); when
 * the source is the same file as a socket (a hard link); and, for a socket with more than one name,
 * when the source is a folder on the socket's file system (another name of it may be inside).
 * A socket that does not exist is no engine and is skipped. `sockets` finds each socket once for a run
 * (default: now).
 */
export async function matchDockerSocket(
  realPath: string,
  socketPaths: readonly string[],
  mountInfo: Promise<readonly MountInfoEntry[]> = readMountInfo(),
  sockets: DockerSockets = new DockerSockets(),
): Promise<string | undefined> {
  const sourceStat = await stat(realPath).catch(() => undefined);
  let sourceMounts: MountInfoEntry[] | undefined;
  for (const socketPath of socketPaths) {
    const socket = await sockets.find(socketPath);
    if (socket === undefined) continue;
    const { realPath: socketReal, stat: socketStat, named } = socket;
    if (realPath === socketReal) return `the Docker socket ${named}`;
    if (isInside(socketReal, realPath)) return `a folder that holds the Docker socket ${named}`;
    if (sourceStat && socketStat && sourceStat.dev === socketStat.dev && sourceStat.ino === socketStat.ino) {
      return `the same file as the Docker socket ${named}`;
    }
    const mounts = await mountInfo;
    const place = socketPlace(socketReal, mounts);
    const reached = place && reachedThrough(place, (sourceMounts ??= mountsOfSource(realPath, mounts)));
    if (reached !== undefined) {
      return `a folder where the Docker socket ${named} is reachable, mounted as ${reached}`;
    }
    if (
      socketStat &&
      socketStat.nlink > 1 &&
      sourceStat?.isDirectory() &&
      sourceStat.dev === socketStat.dev
    ) {
      return (
        `a folder on the file system of the Docker socket ${named}, which has ${socketStat.nlink} names ` +
        `(hard links) there, one of which may be inside`
      );
    }
  }
  return undefined;
}

/** One line of /proc/self/mountinfo: which folder of which file system is mounted where. */
export interface MountInfoEntry {
  /** `major:minor` of the file system. */
  readonly device: string;
  /** The folder (or file) of the file system that is mounted. */
  readonly root: string;
  /** Where it is mounted. */
  readonly mountPoint: string;
}

/** Parses /proc/self/mountinfo (paths escape space, tab, newline and backslash as `\ooo`). */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const unescape = (path: string) =>
    path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  const entries: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 5 || !/^\d+:\d+$/.test(fields[2]!)) continue;
    entries.push({ device: fields[2]!, root: unescape(fields[3]!), mountPoint: unescape(fields[4]!) });
  }
  return entries;
}

/** This process's mounts; none where /proc cannot be read (the checks by path still apply). */
export async function readMountInfo(): Promise<MountInfoEntry[]> {
  try {
    return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
  } catch {
    return [];
  }
}

/** The mount a path is on: the deepest mount point above it, the last mounted where several are stacked. */
function mountOf(path: string, mounts: readonly MountInfoEntry[]): MountInfoEntry | undefined {
  let found: MountInfoEntry | undefined;
  for (const mount of mounts) {
    if (!isInside(path, mount.mountPoint)) continue;
    if (found === undefined || mount.mountPoint.length >= found.mountPoint.length) found = mount;
  }
  return found;
}

/**
 * Where, inside `sourceReal`, the socket at `socketReal` can be reached through a mount of its file
 * system: the source's own mount (when the source is a folder of a bind mount) or any mount inside the
 * source whose mounted folder holds the socket. Undefined when none.
 */
export function reachedThroughMounts(
  sourceReal: string,
  socketReal: string,
  mounts: readonly MountInfoEntry[],
): string | undefined {
  const place = socketPlace(socketReal, mounts);
  return place && reachedThrough(place, mountsOfSource(sourceReal, mounts));
}

/** Where a socket is in its file system: the file system, and the socket's path inside it. */
interface SocketPlace {
  readonly device: string;
  readonly inFileSystem: string;
}

/** Each socket's place, by this process's mounts as a run read them (the same for all its binds). */
const socketPlaces = new WeakMap<readonly MountInfoEntry[], Map<string, SocketPlace | undefined>>();

function socketPlace(socketReal: string, mounts: readonly MountInfoEntry[]): SocketPlace | undefined {
  let places = socketPlaces.get(mounts);
  if (places === undefined) socketPlaces.set(mounts, (places = new Map()));
  if (places.has(socketReal)) return places.get(socketReal);
  const socketMount = mountOf(socketReal, mounts);
  const place = socketMount && {
    device: socketMount.device,
    inFileSystem: posix.join(socketMount.root, posix.relative(socketMount.mountPoint, socketReal)),
  };
  places.set(socketReal, place);
  return place;
}

/** The mounts through which a source may reach into file systems: its own, as if mounted at the source, then those inside it. */
function mountsOfSource(sourceReal: string, mounts: readonly MountInfoEntry[]): MountInfoEntry[] {
  const sourceMount = mountOf(sourceReal, mounts);
  const candidates = mounts.filter((m) => m !== sourceMount && isInside(m.mountPoint, sourceReal));
  if (sourceMount !== undefined) {
    const root = posix.join(sourceMount.root, posix.relative(sourceMount.mountPoint, sourceReal));
    candidates.unshift({ device: sourceMount.device, root, mountPoint: sourceReal });
  }
  return candidates;
}

function reachedThrough(place: SocketPlace, candidates: readonly MountInfoEntry[]): string | undefined {
  for (const mount of candidates) {
    if (mount.device !== place.device || !isInside(place.inFileSystem, mount.root)) continue;
    return posix.join(mount.mountPoint, posix.relative(mount.root, place.inFileSystem));
  }
  return undefined;
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
