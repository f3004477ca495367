/**
 * Job outputs on the engine: the fresh, labelled volume each output gets, the content digest of an
 * output read through a container path (Docker's archive of it, digested as it streams), and the export
 * of an output into a host folder.
 *
 * An output volume is labelled `dev.kiln.scope=result` with its project, job, key and path, and with the
 * run, pid and host of the kiln that made it: until the job's result is sealed in the result store it
 * belongs to that run, and one whose run died unsealed is swept ({@link sweepUnsealedOutputVolumes}).
 *
 * An export lands atomically: the archive is extracted into a temporary sibling of the destination,
 * then renamed over it (the old export, if any, is renamed aside first and removed after), so that the
 * destination holds the old export or the new one, never half of either. Modes are kept; everything is
 * owned by the user who runs kiln (SUDO_UID/SUDO_GID under sudo). A destination outside the project
 * folder is refused unless allowed; the project folder itself and its parents always are.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { chmod, lchown, link, lstat, mkdir, open, realpath, rename, rm, symlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import { Label, ownerIsGone, ownerLabels, type Scope } from '../labels.js';
import { isInside, makeOwnedFolder, resolveExisting } from '../host-paths.js';
import type { DockerMount } from './containers.js';
import { ExportError } from '../results/errors.js';
import {
  drain,
  readTar,
  tarDigest,
  tarEntryPath,
  tarEntryType,
  type TarBody,
  type TarListing,
} from '../results/tar-digest.js';
import type { Header } from 'tar-stream';
import { translate } from './docker-errors.js';
import type { Engine } from './engine.js';
import { liveKeepers } from './sweep.js';
import { KILN_VERSION } from './version.js';

/** The scope of output volumes. */
const RESULT_SCOPE: Scope = 'result';

/** The labels every output volume has, and no other volume. */
export const OUTPUT_VOLUME_LABELS: readonly string[] = [
  `${Label.managed}=true`,
  `${Label.scope}=${RESULT_SCOPE}`,
];

export interface OutputVolumeSpec {
  readonly project: string;
  readonly job: string;
  readonly runId: string;
  /** The job's key (`sha256:...`). */
  readonly key: string;
  /** The output's path in the job's container. */
  readonly path: string;
  /** The result store it is for (ResultStore.id). */
  readonly store: string;
}

/** The labels of an output volume. */
export function outputVolumeLabels(spec: OutputVolumeSpec): Record<string, string> {
  return {
    ...ownerLabels(spec.runId),
    [Label.scope]: RESULT_SCOPE,
    [Label.project]: spec.project,
    [Label.job]: spec.job,
    [Label.version]: KILN_VERSION,
    [Label.result]: spec.key,
    [Label.output]: spec.path,
    [Label.store]: spec.store,
  };
}

/** Docker's volume name alphabet, shortened. */
function namePart(raw: string, max: number): string {
  return (
    raw
      .replace(/[^a-zA-Z0-9_.-]+/g, '-')
      .replace(/^[^a-zA-Z0-9]+/, '')
      .slice(0, max) || 'x'
  );
}

/** `kiln-result-<project>-<job>-<random>`: unique, so that two runs of one key never share a volume. */
export function outputVolumeName(project: string, job: string): string {
  return `kiln-result-${namePart(project, 60)}-${namePart(job, 60)}-${randomBytes(6).toString('hex')}`;
}

/** Creates a fresh, empty, labelled volume for one output; returns its name. */
export async function createOutputVolume(engine: Engine, spec: OutputVolumeSpec): Promise<string> {
  const name = outputVolumeName(spec.project, spec.job);
  await engine.volumes.create(
    name,
    outputVolumeLabels(spec),
    `the volume of output ${spec.path} of job ${spec.job}`,
  );
  return name;
}

/**
 * The mount of an output volume: writable in the job that produces it, read-only everywhere after.
 * Never filled from the image (`NoCopy`): an output starts empty.
 */
export function outputMount(volume: string, target: string, readonly: boolean): DockerMount {
  return {
    Type: 'volume',
    Source: volume,
    Target: target,
    ReadOnly: readonly,
    VolumeOptions: { NoCopy: true },
  };
}

/** Removes an output volume; false when it is in use. A volume that is gone already counts as removed. */
export async function removeOutputVolume(engine: Engine, name: string): Promise<boolean> {
  return (await engine.volumes.remove(name)) !== 'in-use';
}

/** Which of these volumes are missing on the engine (a result whose volume is gone is a miss). */
export async function missingVolumes(engine: Engine, names: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  await Promise.all(
    names.map(async (name) => {
      if ((await engine.volumes.inspect(name)) === undefined) missing.push(name);
    }),
  );
  return missing;
}

export interface OutputVolumeInfo {
  readonly name: string;
  readonly project?: string;
  readonly job?: string;
  readonly key?: string;
  readonly path?: string;
  readonly run?: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Every output volume on the engine. */
export async function listOutputVolumes(engine: Engine): Promise<OutputVolumeInfo[]> {
  const volumes = await engine.volumes.list(OUTPUT_VOLUME_LABELS);
  return volumes.map((v) => {
    const labels = v.labels;
    const pick = (label: string) => (labels[label] !== undefined ? labels[label] : undefined);
    const info: Record<string, unknown> = { name: v.name, labels };
    for (const [field, label] of [
      ['project', Label.project],
      ['job', Label.job],
      ['key', Label.result],
      ['path', Label.output],
      ['run', Label.run],
    ] as const) {
      const value = pick(label);
      if (value !== undefined) info[field] = value;
    }
    return info as unknown as OutputVolumeInfo;
  });
}

/**
 * Removes the output volumes of one result store (`store`: ResultStore.id) whose kiln died before
 * sealing them: the owner process is gone and no sealed result refers to them. Volumes of other stores
 * (another state folder on the same engine) are left alone. Returns their names.
 */
export async function sweepUnsealedOutputVolumes(
  engine: Engine,
  store: string,
  isSealed: (volume: string) => boolean | Promise<boolean>,
): Promise<string[]> {
  const removed: string[] = [];
  const volumes = await listOutputVolumes(engine);
  // Asked after the listing (see liveKeepers): another host's run is alive while its keeper runs.
  const live = await liveKeepers(engine);
  for (const volume of volumes) {
    if (volume.labels[Label.store] !== store) continue;
    if (!ownerIsGone(volume.labels, live) || (await isSealed(volume.name))) continue;
    if (await removeWhenFree(engine, volume.name)) removed.push(volume.name);
  }
  return removed;
}

/**
 * Removes a volume whose kiln is gone; while a container still holds it (the dead run's container, which
 * another kiln's sweep may be removing at this very moment), tries again a few times, for at most about
 * two seconds. False when it is still in use then: a later run sweeps it.
 */
async function removeWhenFree(engine: Engine, name: string): Promise<boolean> {
  for (let attempt = 0; attempt < 10; attempt++) {
    if (await removeOutputVolume(engine, name)) return true;
    await sleep(200);
  }
  return false;
}

/** The content digest and listing of a path in a container (e.g. an output, once its job's steps passed). */
export async function digestContainerPath(
  engine: Engine,
  containerId: string,
  path: string,
  signal?: AbortSignal,
): Promise<TarListing> {
  const archive = await engine.containers.archive(containerId, path);
  try {
    return await tarDigest(archive, signal ? { signal } : {});
  } catch (error) {
    throw translate(
      error,
      `computing the digest of ${path} in container ${containerId.slice(0, 12)}`,
      engine.endpoint,
    );
  }
}

/**
 * A container that is created and never started, mounting output volumes read-only, to read them
 * through Docker's archive endpoint when no job container has them (a hit's export). Remove it with
 * `remove()`.
 */
export async function createReaderContainer(
  engine: Engine,
  options: {
    /** An image that is present (the job's, by ID). */
    readonly image: string;
    readonly runId: string;
    readonly project: string;
    readonly job: string;
    readonly mounts: ReadonlyArray<{ readonly volume: string; readonly target: string }>;
    /** Mount the volumes writable, to fill them (a download of the shared cache). Default false. */
    readonly writable?: boolean;
  },
): Promise<{ readonly id: string; remove(): Promise<void> }> {
  const id = await engine.containers.create({
    image: options.image,
    entrypoint: ['/kiln-never-started'],
    cmd: [],
    labels: {
      ...ownerLabels(options.runId),
      [Label.scope]: 'run',
      [Label.project]: options.project,
      [Label.job]: options.job,
      [Label.version]: KILN_VERSION,
    },
    networkDisabled: true,
    mounts: options.mounts.map((m) => outputMount(m.volume, m.target, !options.writable)),
    description: `a container to read the outputs of job ${options.job}`,
  });
  return {
    id,
    async remove() {
      // A container that is gone already counts as removed.
      await engine.containers.remove(id);
    },
  };
}

/** Who owns exported files: the user who runs kiln, or the one who ran sudo. */
export function exportOwner(env: NodeJS.ProcessEnv = process.env): { uid: number; gid: number } {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  if (uid === 0) {
    const sudoUid = Number(env.SUDO_UID);
    const sudoGid = Number(env.SUDO_GID);
    if (
      Number.isInteger(sudoUid) &&
      sudoUid >= 0 &&
      Number.isInteger(sudoGid) &&
      sudoGid >= 0 &&
      env.SUDO_UID
    ) {
      return { uid: sudoUid, gid: sudoGid };
    }
  }
  return { uid, gid };
}

export interface ExportOptions {
  /** The folder to export to, absolute. */
  readonly destination: string;
  /** The project folder, absolute. */
  readonly projectDir: string;
  /** Allow a destination outside the project folder. Default false. */
  readonly allowOutsideProject?: boolean;
  /** Who owns what is exported. Default {@link exportOwner}. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** For messages: the job and the output. */
  readonly job: string;
  readonly output: string;
  readonly signal?: AbortSignal;
}

export interface ExportResult {
  /** The destination through symlinks of its parent. */
  readonly destination: string;
  /** Entries that could not be exported (devices, fifos), described. */
  readonly warnings: readonly string[];
}

/** Checks an export's destination; returns it resolved (its parent through symlinks). */
export async function checkExportDestination(options: ExportOptions): Promise<string> {
  const { destination, projectDir, job, output } = options;
  const refuse = (why: string) =>
    new ExportError(destination, `job ${job}, export of output ${output} to ${destination}: ${why}`, {
      refused: true,
    });
  if (!isAbsolute(destination)) throw refuse('the destination must be an absolute path');
  const project = await realpath(projectDir).catch(() => projectDir);
  // The name itself is replaced, not followed: resolve its parent only.
  const resolved = join(await resolveExisting(dirname(destination)), basename(destination));
  if (isInside(project, resolved)) {
    throw refuse(`it is the project folder ${project} or holds it; export to a folder inside the project`);
  }
  if (!options.allowOutsideProject && !isInside(resolved, project)) {
    throw refuse(
      `it resolves to ${resolved}, outside the project folder ${project}; set allow-outside-project: true on the export to allow it`,
    );
  }
  return resolved;
}

/**
 * Exports a path of a container (an output, mounted there) into a host folder, atomically (see the
 * module's comment).
 */
export async function exportContainerPath(
  engine: Engine,
  containerId: string,
  path: string,
  options: ExportOptions,
): Promise<ExportResult> {
  const destination = await checkExportDestination(options);
  const owner = options.owner ?? exportOwner();
  const parent = dirname(destination);
  await makeOwnedFolder(parent, owner);
  const existing = await lstat(destination).catch(() => undefined);
  if (existing !== undefined && !existing.isDirectory()) {
    throw new ExportError(
      options.destination,
      `job ${options.job}, export of output ${options.output}: ${destination} exists and is not a folder; remove it or export elsewhere`,
      { refused: true },
    );
  }
  const tag = randomBytes(6).toString('hex');
  const temp = join(parent, `.${basename(destination)}.kiln-export-${tag}`);
  await mkdir(temp, { mode: 0o700 });
  let warnings: string[];
  try {
    const archive = await engine.containers.archive(containerId, path);
    warnings = await extractInto(archive, temp, owner, options.signal);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    if (error instanceof ExportError || (error as { code?: string }).code === 'E_CANCELLED') throw error;
    throw new ExportError(
      options.destination,
      `job ${options.job}, export of output ${options.output} to ${destination} failed: ${(error as Error).message}`,
      { refused: false, cause: error },
    );
  }
  // The old export is set aside whole, the new one takes its name, then the old one goes.
  const aside = join(parent, `.${basename(destination)}.kiln-old-${tag}`);
  let setAside = false;
  try {
    if (existing !== undefined) {
      await rename(destination, aside);
      setAside = true;
    }
    await rename(temp, destination);
  } catch (error) {
    if (setAside) await rename(aside, destination).catch(() => {});
    await rm(temp, { recursive: true, force: true });
    throw new ExportError(
      options.destination,
      `job ${options.job}, export of output ${options.output}: cannot put the export in place at ${destination} ` +
        `(${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      { refused: false, cause: error },
    );
  }
  if (setAside) await rm(aside, { recursive: true, force: true });
  return { destination, warnings };
}

/**
 * Extracts a Docker archive (its root component stripped) into `root`, an empty folder: folders, files,
 * symlinks and hard links, modes kept, everything owned by `owner`. An entry that would land outside
 * `root` (a `..`, or a path through a symlink of the archive) is refused. Devices and fifos are skipped
 * with a warning.
 */
export async function extractInto(
  archive: Readable,
  root: string,
  owner: { uid: number; gid: number },
  signal?: AbortSignal,
): Promise<string[]> {
  const extraction = new Extraction(root, owner);
  await readTar(archive, (header, body) => extraction.entry(header, body), signal);
  return extraction.finish();
}

/** One {@link extractInto}: what it has made so far, so that each entry can be checked against it. */
class Extraction {
  readonly warnings: string[] = [];
  /** Folders of the extraction (relative paths); '' is the root. Parents must be one of them. */
  readonly #folders = new Set<string>(['']);
  /** Files of the extraction: the only things a hard link may name. */
  readonly #files = new Set<string>();
  readonly #folderModes: Array<[string, number]> = [];
  #rootMode: number | undefined;

  constructor(
    readonly root: string,
    readonly owner: { uid: number; gid: number },
  ) {}

  /** Extracts one entry of the archive. */
  async entry(header: Header, body: TarBody): Promise<void> {
    const path = tarEntryPath(header.name, true);
    const type = tarEntryType(header);
    const mode = (header.mode ?? 0) & 0o7777;
    if (path === '') {
      if (type === 'dir') this.#rootMode = mode;
      else this.warnings.push(`the output is not a folder (${header.type}); nothing was exported`);
      await drain(body);
      return;
    }
    await this.#ensureParent(path, header.name);
    const target = join(this.root, path);
    if (type === 'dir') {
      await drain(body);
      await this.#folder(path, target, mode);
      return;
    }
    if (this.#folders.has(path)) {
      throw new ExportError(
        this.root,
        `the archive's entry ${JSON.stringify(header.name)} replaces a folder`,
        {
          refused: false,
        },
      );
    }
    this.#files.delete(path);
    await clear(target);
    if (type === 'file') {
      await this.#file(path, target, mode, body);
    } else if (type === 'symlink') {
      await drain(body);
      await symlink(header.linkname ?? '', target);
      await lchown(target, this.owner.uid, this.owner.gid);
    } else if (type === 'hardlink') {
      await drain(body);
      await this.#hardLink(path, target, header);
    } else {
      await drain(body);
      this.warnings.push(`${path} (${header.type}) was not exported: only files, folders and links are`);
    }
  }

  /** Sets the folders' modes, deepest first, so that a read-only folder is filled before it is closed. */
  async finish(): Promise<string[]> {
    this.#folderModes.sort(([a], [b]) => b.length - a.length);
    for (const [folder, mode] of this.#folderModes) await chmod(join(this.root, folder), mode);
    await lchown(this.root, this.owner.uid, this.owner.gid);
    await chmod(this.root, this.#rootMode ?? 0o755);
    return this.warnings;
  }

  /** Makes the folders above `path` that the archive did not list (mode 0755 at the end). */
  async #ensureParent(path: string, name: string): Promise<void> {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join('/');
      if (this.#folders.has(folder)) continue;
      const there = await lstat(join(this.root, folder)).catch(() => undefined);
      if (there !== undefined) {
        // Something else is there: a file or a symlink of the archive; never write through it.
        throw new ExportError(
          this.root,
          `the archive's entry ${JSON.stringify(name)} lies under a non-folder`,
          {
            refused: false,
          },
        );
      }
      await this.#makeFolder(folder, join(this.root, folder));
      this.#folderModes.push([folder, 0o755]);
    }
  }

  async #folder(path: string, target: string, mode: number): Promise<void> {
    if (!this.#folders.has(path)) {
      await clear(target);
      await this.#makeFolder(path, target);
    }
    this.#folderModes.push([path, mode]);
  }

  /** A folder open to its owner only until {@link finish} gives it its mode. */
  async #makeFolder(path: string, target: string): Promise<void> {
    await mkdir(target, { mode: 0o700 });
    await lchown(target, this.owner.uid, this.owner.gid);
    this.#folders.add(path);
  }

  async #file(path: string, target: string, mode: number, body: TarBody): Promise<void> {
    const handle = await open(target, 'wx', 0o600);
    try {
      for await (const chunk of body) await handle.write(chunk);
    } finally {
      await handle.close();
    }
    await lchown(target, this.owner.uid, this.owner.gid);
    await chmod(target, mode); // after chown, which clears setuid and setgid
    this.#files.add(path);
  }

  /** A hard link to a file extracted before it; anything else is refused. */
  async #hardLink(path: string, target: string, header: Header): Promise<void> {
    const linked = tarEntryPath(header.linkname ?? '', true);
    if (!this.#files.has(linked)) {
      throw new ExportError(
        this.root,
        `the archive's hard link ${JSON.stringify(header.name)} names no file`,
        {
          refused: false,
        },
      );
    }
    await link(join(this.root, linked), target);
    this.#files.add(path);
  }
}

/** Removes whatever is at `target`, so that an entry the archive repeats replaces the earlier one. */
async function clear(target: string): Promise<void> {
  const there = await lstat(target).catch(() => undefined);
  if (there !== undefined) await rm(target, { recursive: true, force: true });
}
