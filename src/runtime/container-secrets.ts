/**
 * Secrets in a job's container: written as files on a tmpfs through an exec's stdin (so a value is
 * never in a container's or exec's config), each recorded in a manifest before its value is written, so
 * that a kiln that dies mid-step leaves a list of what to wipe (see hand-over.ts), and removed when their step ends.
 */
import { posix } from 'node:path';
import { ExitCode, InfrastructureError, KilnError, MountError } from '../errors.js';
import { safeName } from '../names.js';

/** The runtime's private tmpfs in every job container (step control files, secrets). */
export const KILN_RUN_DIR = '/run/kiln';
/** Where secret files are written (on the KILN_RUN_DIR tmpfs); a target elsewhere links here. */
export const KILN_SECRETS_DIR = '/run/kiln/secrets';
/** Where a secret with a default target is: a folder that gets a tmpfs of its own. */
const DEFAULT_SECRETS_DIR = '/run/secrets';

/**
 * The list of secret targets written into a container, one path a line, each recorded before its
 * secret is written, so that a kiln that dies mid-step leaves a list of what to wipe.
 */
export const SECRET_MANIFEST = `${KILN_RUN_DIR}/secret-paths`;

/** Exit codes of WRITE_SECRET: the target is taken; its folder cannot be made. */
const TARGET_EXISTS = 3;
const TARGET_FOLDER_FAILED = 4;

/**
 * Writes a secret read from stdin: `$1` the file, `$2` its owner (`uid:gid`), `$3` its mode, `$4` the
 * target to link to it (empty when the file is the target), `$5` `own` when the file's folder is a
 * secret tmpfs kiln made. A target that exists and is not kiln's (a file, folder or foreign link) is
 * refused before anything is written; one that passes is recorded in the manifest before the value is
 * written, so a wipe never removes a file of the image. kiln's folder of secret files can be passed through by every
 * user (0711) but not listed; folders made for a target are 0755, so that the step's user reaches it.
 */
const WRITE_SECRET = `t=\${4:-$1}
if [ "$5" != own ]; then
  if [ -L "$t" ]; then
    case $(readlink "$t") in ${KILN_SECRETS_DIR}/*) ;; *) exit ${TARGET_EXISTS} ;; esac
  elif [ -e "$t" ]; then exit ${TARGET_EXISTS}
  fi
fi
printf '%s\n' "$t" >> ${SECRET_MANIFEST} || exit 1
umask 022
if [ -n "$4" ]; then
  mkdir -p "$(dirname "$4")" || exit ${TARGET_FOLDER_FAILED}
  mkdir -p ${KILN_SECRETS_DIR} && chmod 711 ${KILN_SECRETS_DIR} || exit 1
else
  mkdir -p "$(dirname "$1")" || exit ${TARGET_FOLDER_FAILED}
fi
umask 077
cat > "$1" && chown "$2" "$1" && chmod "$3" "$1" || exit 1
[ -z "$4" ] || ln -sfn "$1" "$4" || exit 1`;

/** Folders that get a tmpfs so that secret files with default targets are real files on a tmpfs. */
export function secretTmpfsDirs(targets: readonly string[], mountTargets: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const target of targets) {
    const dir = posix.dirname(target);
    if (dir === DEFAULT_SECRETS_DIR && !mountTargets.includes(dir)) dirs.add(dir);
  }
  return [...dirs];
}

/** A job container's tmpfs mounts: kiln's run folder, the secret folders, then the job's own. */
export function jobContainerTmpfs(
  own: Readonly<Record<string, string>>,
  secretDirs: readonly string[],
): Record<string, string> {
  const tmpfs: Record<string, string> = { [KILN_RUN_DIR]: 'rw,exec,nosuid,size=16m,mode=755' };
  for (const dir of secretDirs) tmpfs[dir] = 'rw,noexec,nosuid,size=4m,mode=755';
  return { ...tmpfs, ...own };
}

/** A secret to write, as the runtime needs it. */
export interface SecretFile {
  readonly id: string;
  /** The mount as named in errors. Default `secret <id> -> <target>`. */
  readonly mount?: string;
  readonly target: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly value: Buffer;
}

/** Runs a housekeeping command as root in the container (stdin then closed); its exit code. */
export type RootExec = (argv: readonly string[], stdin?: Buffer) => Promise<number>;

/** The secrets protocol of one job container. */
export class ContainerSecrets {
  constructor(
    private readonly exec: RootExec,
    private readonly job: string,
    /** The secret folders that got a tmpfs (see secretTmpfsDirs). */
    private readonly secretDirs: readonly string[],
  ) {}

  #onTmpfs(target: string): boolean {
    return this.secretDirs.includes(posix.dirname(target)) || target.startsWith(`${KILN_RUN_DIR}/`);
  }

  /**
   * Writes a secret as a file on a tmpfs; returns the file and its removal. Everything in a secret tmpfs
   * kiln made is kiln's: a file there is written in place. Elsewhere the file goes to kiln's own tmpfs
   * and the target becomes a link to it, made only where nothing is (or where a link kiln made is left
   * over): a secret never replaces or removes a file of the image.
   */
  async write(secret: SecretFile, step: number): Promise<{ path: string; remove: () => Promise<void> }> {
    if (/[\n\r]/.test(secret.target)) {
      // The manifest holds one path a line.
      throw new KilnError(
        `job ${this.job}: a secret target holds a line break (${JSON.stringify(secret.target)}); give it a plain path`,
        { code: 'E_SECRET_TARGET', exitCode: ExitCode.usage },
      );
    }
    const ownFolder = this.secretDirs.includes(posix.dirname(secret.target));
    const onTmpfs = this.#onTmpfs(secret.target);
    const path = onTmpfs ? secret.target : `${KILN_SECRETS_DIR}/${step}-${safeName(secret.id)}`;
    const link = onTmpfs ? '' : secret.target;
    const owner = `${secret.uid}:${secret.gid}`;
    const mode = secret.mode.toString(8);
    const args = [path, owner, mode, link, ownFolder ? 'own' : ''];
    const code = await this.exec(['/bin/sh', '-c', WRITE_SECRET, 'kiln-secret', ...args], secret.value);
    if (code !== 0) throw this.#writeFailed(secret, code);
    return {
      path,
      remove: async () => {
        const rm = ['/bin/sh', '-c', 'rm -f "$1"; [ -z "$2" ] || rm -f "$2"', 'kiln-secret-rm', path, link];
        const rc = await this.exec(rm);
        if (rc !== 0) {
          throw new InfrastructureError(`job ${this.job}: could not remove secret ${secret.id} (exit ${rc})`);
        }
      },
    };
  }

  #writeFailed(secret: SecretFile, code: number): KilnError {
    const mount = secret.mount ?? `secret ${secret.id} -> ${secret.target}`;
    if (code === TARGET_EXISTS) {
      return new MountError(
        this.job,
        mount,
        `${secret.target} already exists in the container (a file or folder of the image, or of one of ` +
          `the job's mounts), and a secret never replaces one; give the secret a target where nothing is`,
      );
    }
    if (code === TARGET_FOLDER_FAILED) {
      return new MountError(
        this.job,
        mount,
        `the folder of ${secret.target} cannot be made in the container (a part of its path is a file, ` +
          `or read-only); give the secret another target`,
      );
    }
    return new InfrastructureError(
      `job ${this.job}: could not write secret ${secret.id} to ${secret.target} (exit ${code})`,
    );
  }
}
