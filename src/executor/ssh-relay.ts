/**
 * An ssh agent of this host, relayed into a job's container on a remote engine (which cannot bind this
 * host's socket), as BuildKit relays it over its session: `socat`, exec'd in the container, listens on
 * the agent's target socket, and each connection a step makes there is carried over exec streams of its
 * own to a connection kiln opens to the host's agent (see {@link Listener}). The image needs `socat`
 * (and `sh`, `cat`, `mkfifo`, `mktemp`); without socat the job is refused before its first step, naming
 * the mount and what to install.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { posix } from 'node:path';
import { MountError } from '../errors.js';
import type { Emit } from '../events.js';
import type { SshRelay } from '../mounts/types.js';
import type { ReleaseStack } from '../release.js';
import type { Engine } from '../runtime/engine.js';
import type { ExecProcess } from '../runtime/exec.js';
import { runExec } from '../runtime/run-exec.js';

export interface SshRelayContext {
  readonly engine: Pick<Engine, 'exec'>;
  readonly containerId: string;
  readonly job: string;
  readonly stack: ReleaseStack;
  readonly emit: Emit;
}

/** What to install, by the package managers of the usual base images. */
const INSTALL_HINT =
  'install socat in the image (apk add socat, apt-get install socat, dnf install socat), or run the job on a local engine';

/** Starts a relay per agent; throws a MountError when the image has no `socat`. */
export async function relaySshAgents(relays: readonly SshRelay[], ctx: SshRelayContext): Promise<void> {
  if (relays.length === 0) return;
  if (!(await hasSocat(ctx))) {
    throw new MountError(
      ctx.job,
      relays[0]!.mount,
      `on a remote engine the ssh agent is relayed into the container by socat, which the image does not have; ${INSTALL_HINT}`,
    );
  }
  for (const relay of relays) {
    const listener = new Listener(relay, ctx);
    ctx.stack.push('ssh', relay.target, () => listener.stop());
    await listener.start();
  }
}

async function hasSocat(ctx: SshRelayContext): Promise<boolean> {
  const code = await runExec(ctx.engine.exec, ctx.containerId, {
    argv: ['sh', '-c', 'command -v socat'],
    user: '0',
    description: 'the check for socat (ssh agent relay)',
  }).catch(() => 1);
  return code === 0;
}

/**
 * What socat runs for each connection (it forks one per connection): two fifos in a folder of their own,
 * whose path it tells kiln on fd 4 (the listening exec's stdout), then the connection's bytes through
 * them (fd 3: a command put in the background reads /dev/null, not the connection). Kiln opens the other ends with two execs, so that each connection has streams of its own.
 */
const CONNECTION_SCRIPT = `d=$(mktemp -d "$KILN_RELAY_DIR/c.XXXXXX") || exit 1
mkfifo "$d/up" "$d/down" || exit 1
echo "$d" >&4
exec 3<&0
cat <&3 > "$d/up" &
cat < "$d/down"
wait
rm -rf "$d"
`;

/**
 * The relay of one target: an exec of `socat` that listens there and, for each connection, runs
 * {@link CONNECTION_SCRIPT} and names its fifos on its stdout; kiln then connects to the host's agent
 * and carries the connection over two execs, one per direction (`cat` of the fifo that holds what the
 * step sends, `cat >` the one that takes the agent's answers). A connection ends as the step closes it.
 */
class Listener {
  #proc: ExecProcess | undefined;
  readonly #open = new Set<{ close(): void }>();
  readonly #dir = `/tmp/.kiln-ssh-relay-${randomBytes(6).toString('hex')}`;

  constructor(
    readonly relay: SshRelay,
    readonly ctx: SshRelayContext,
  ) {}

  async stop(): Promise<void> {
    this.#proc?.close();
    for (const open of this.#open) open.close();
    this.#open.clear();
  }

  /** Starts the listening exec; resolves once socat says it listens, rejects when it ends before. */
  async start(): Promise<void> {
    const { relay, ctx } = this;
    const code = await runExec(ctx.engine.exec, ctx.containerId, {
      argv: [
        'sh',
        '-c',
        'mkdir -p "$1" "$2" && cat > "$1/connection.sh"',
        'kiln-ssh-relay',
        this.#dir,
        posix.dirname(relay.target),
      ],
      user: '0',
      stdin: Buffer.from(CONNECTION_SCRIPT),
      description: `the setup of the relay of ssh agent ${relay.id}`,
    });
    if (code !== 0) throw this.#failed(`its folder ${this.#dir} could not be made (exit code ${code})`);
    const proc = await ctx.engine.exec.start(ctx.containerId, {
      argv: [
        'sh',
        '-c',
        'exec 4>&1; exec socat -d -d "UNIX-LISTEN:$1,fork,unlink-early,mode=666" SYSTEM:"sh $2/connection.sh"',
        'kiln-ssh-relay',
        relay.target,
        this.#dir,
      ],
      env: { KILN_RELAY_DIR: this.#dir },
      user: '0',
      description: `the relay of ssh agent ${relay.id}`,
    });
    this.#proc = proc;
    let said = '';
    let lines = '';
    let listening: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (listening = resolve));
    const reading = proc.read((stream, chunk) => {
      const text = chunk.toString('utf8');
      if (stream === 'stderr') {
        said = (said + text).slice(-4096);
        if (said.includes('listening on')) listening();
        return;
      }
      lines += text;
      let end: number;
      while ((end = lines.indexOf('\n')) >= 0) {
        const folder = lines.slice(0, end);
        lines = lines.slice(end + 1);
        if (folder.startsWith(`${this.#dir}/`)) this.#carry(folder);
      }
    });
    const ended = reading.catch(() => undefined);
    await Promise.race([
      ready,
      ended.then(() => {
        if (!said.includes('listening on')) {
          throw this.#failed(said.trim().split('\n').slice(-2).join('; ') || 'socat ended at once');
        }
      }),
    ]);
  }

  #failed(why: string): MountError {
    return new MountError(this.ctx.job, this.relay.mount, `the ssh agent relay did not start: ${why}`);
  }

  /** Carries one connection, whose fifos are in `folder`, to a new connection to the host's agent. */
  #carry(folder: string): void {
    const { relay, ctx } = this;
    const agent = connect(relay.socketPath);
    const warn = (message: string) =>
      ctx.emit({ type: 'warning', job: ctx.job, message: `${relay.mount}: ${message}` });
    const execs: ExecProcess[] = [];
    const open = {
      close: () => {
        agent.destroy();
        for (const e of execs) e.close();
      },
    };
    this.#open.add(open);
    const start = (argv: string[]) =>
      ctx.engine.exec.start(ctx.containerId, { argv, user: '0', description: `the ssh agent relay` });
    void (async () => {
      try {
        // The step's bytes to the agent (a socket queues writes while it connects), and back.
        const [up, down] = await Promise.all([
          start(['cat', `${folder}/up`]),
          start(['sh', '-c', 'exec cat > "$1"', 'kiln-ssh-relay', `${folder}/down`]),
        ]);
        execs.push(up, down);
        agent.on('data', (data: Buffer) => down.write(data));
        agent.on('close', () => down.closeInput());
        const answered = down.read(() => undefined);
        await up.read((stream, chunk) => stream === 'stdout' && agent.write(chunk));
        agent.end();
        await answered;
      } catch (error) {
        warn(`a connection to the ssh agent failed: ${(error as Error).message}`);
        open.close();
      } finally {
        this.#open.delete(open);
      }
    })();
    agent.on('error', (error) => warn(`the host's ssh agent ${relay.socketPath}: ${error.message}`));
  }
}
