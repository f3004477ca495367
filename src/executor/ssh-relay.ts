/**
 * An ssh agent of this host, relayed into a job's container on a remote engine (which cannot bind this
 * host's socket), as BuildKit relays it over its session: a command exec'd in the container listens on
 * the agent's target socket with `socat`, and each connection a step makes there is carried over that
 * exec's stdin and stdout to a connection kiln opens to the host's agent.
 *
 * Connections are served one after another, as ssh and git make them (two at the same moment would
 * share the stream: the second ends the first). The image needs `socat`; without it the job is refused
 * before its first step, naming the mount and what to install.
 */
import { connect, type Socket } from 'node:net';
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
 * The relay of one target: one exec of `socat` that listens there, forking a child per connection whose
 * ends are the exec's stdin and stdout. Connections are served one after another (ssh and git open the
 * agent one process at a time): each accept (socat says so on stderr) ends kiln's connection to the
 * host's agent for the one before and opens a new one.
 */
class Listener {
  #proc: ExecProcess | undefined;
  #agent: Socket | undefined;

  constructor(
    readonly relay: SshRelay,
    readonly ctx: SshRelayContext,
  ) {}

  async stop(): Promise<void> {
    this.#agent?.destroy();
    this.#proc?.close();
  }

  /** Starts the exec; resolves once socat says it listens, rejects when it ends before. */
  async start(): Promise<void> {
    const { relay, ctx } = this;
    const proc = await ctx.engine.exec.start(ctx.containerId, {
      argv: [
        'sh',
        '-c',
        'mkdir -p "$1" && exec socat -d -d -t 0.2 "UNIX-LISTEN:$2,fork,unlink-early,mode=666" STDIO',
        'kiln-ssh-relay',
        posix.dirname(relay.target),
        relay.target,
      ],
      user: '0',
      description: `the relay of ssh agent ${relay.id}`,
    });
    this.#proc = proc;
    let said = '';
    let listening: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (listening = resolve));
    let pending: Buffer[] = [];
    const reading = proc.read((stream, chunk) => {
      if (stream === 'stdout') {
        const agent = this.#agent;
        if (agent !== undefined && !agent.connecting) agent.write(chunk);
        else pending.push(chunk);
        return;
      }
      const text = chunk.toString('utf8');
      said = (said + text).slice(-4096);
      if (text.includes('listening on')) listening();
      for (const _ of text.matchAll(/accepting connection/g)) {
        this.#agent?.end();
        pending = [];
        const agent = connect(relay.socketPath);
        this.#agent = agent;
        agent.on('connect', () => {
          for (const buffered of pending.splice(0)) agent.write(buffered);
        });
        agent.on('data', (data: Buffer) => agent === this.#agent && proc.write(data));
        agent.on('error', (error) =>
          ctx.emit({
            type: 'warning',
            job: ctx.job,
            message: `${relay.mount}: the host's ssh agent ${relay.socketPath}: ${error.message}`,
          }),
        );
      }
    });
    const ended = reading.then(
      () => this.#agent?.end(),
      () => this.#agent?.destroy(),
    );
    await Promise.race([
      ready,
      ended.then(() => {
        if (!said.includes('listening on')) {
          throw new MountError(
            ctx.job,
            relay.mount,
            `the ssh agent relay did not start: ${said.trim().split('\n').slice(-2).join('; ') || 'socat ended at once'}`,
          );
        }
      }),
    ]);
  }
}
