/** `kiln shell JOB`: a shell in a fresh container of a job, its mounts prepared, no step run. */
import { ExitCode, UsageError } from '../errors.js';
import { shellJob } from '../executor/shell-session.js';
import { matrixGroups } from '../graph/select.js';
import type { BuildGraph } from '../graph/types.js';
import { debugBanner } from '../reporters/debug-banner.js';
import type { CancelReason } from '../scheduler/types.js';
import { visible } from '../visible-text.js';
import { loadGraph, selectNamedJobs } from './load.js';
import { reportError } from './report-error.js';
import { ProcessTerminal, requireTerminal } from './shell-terminal.js';

export interface ShellCommandOptions {
  readonly file: string;
  /** `--secrets`: the job's secrets are mounted in the shell. Default: not. */
  readonly secrets?: boolean;
  /** `--env NAME[=VALUE]`, repeatable: values `${{ env.NAME }}` may read. Default: none. */
  readonly env?: readonly string[];
  readonly debug?: boolean;
}

export async function shellCommand(name: string, options: ShellCommandOptions): Promise<number> {
  const cancel = new AbortController();
  const onSignal = (signal: NodeJS.Signals) =>
    cancel.abort({ kind: 'interrupt', message: `interrupted by ${signal}` } satisfies CancelReason);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    requireTerminal('kiln shell');
    const { graph } = await loadGraph(options.file, process.env, {
      envOptions: options.env ?? [],
    });
    checkOneJob(graph, name, options.file);
    const code = await shellJob(graph, name, {
      terminal: new ProcessTerminal(),
      ...(options.secrets ? { secrets: true } : {}),
      ...(process.env.TERM ? { term: process.env.TERM } : {}),
      signal: cancel.signal,
      onEvent: (event) => {
        if (event.type === 'debug.shell') {
          process.stderr.write(
            debugBanner(event)
              .map((line) => `kiln: ${line}\n`)
              .join(''),
          );
        } else if (event.type === 'warning') {
          process.stderr.write(`kiln: warning: ${visible(event.message)}\n`);
        } else if (event.type === 'mount.wait') {
          process.stderr.write(
            `kiln: waiting for cache ${visible(event.cache)}, held by ${visible(event.holder)}\n`,
          );
        }
      },
    });
    return code === undefined || cancel.signal.aborted ? ExitCode.interrupted : code;
  } catch (error) {
    const code = reportError(error, options.debug ?? false);
    return cancel.signal.aborted ? ExitCode.interrupted : code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * `name` is one job of the graph: an unknown one (with the closest name), or a matrix job's name (with its
 * instances' names: a shell opens one container), is refused.
 */
export function checkOneJob(graph: BuildGraph, name: string, file: string): void {
  if (graph.jobs.has(name)) return;
  selectNamedJobs(graph, [name], file);
  const instances = (matrixGroups(graph).get(name) ?? []).map((instance) => `'${visible(instance)}'`);
  throw new UsageError(
    `kiln shell opens one job: ${visible(name)} is a matrix job; name one of its instances: ${instances.join(', ')}`,
  );
}
