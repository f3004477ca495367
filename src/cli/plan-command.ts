/** `kiln plan`: per job, whether `kiln run` would find it in the job cache, and why not. */
import { ExitCode } from '../errors.js';
import { displayPath } from '../mounts/bind-sources.js';
import { planRun } from '../executor/plan-run.js';
import { remoteSettings } from '../results/index.js';
import { checkEngine, createEngine } from '../runtime/engine.js';
import { visible } from '../visible-text.js';
import { loadGraph, selectNamedJobs } from './load.js';
import { reportError } from './report-error.js';

export interface PlanCommandOptions {
  readonly file: string;
  readonly json?: boolean;
  readonly reuse?: boolean;
  /** Commander's `--no-cache`. */
  readonly cache?: boolean;
  /** `--cache-url`. */
  readonly cacheUrl?: string;
  /** `--env NAME[=VALUE]`, repeatable: values `${{ env.NAME }}` may read. Default: none. */
  readonly env?: readonly string[];
  readonly debug?: boolean;
}

export async function planCommand(jobs: readonly string[], options: PlanCommandOptions): Promise<number> {
  try {
    const { graph: whole } = await loadGraph(options.file, process.env, {
      envOptions: options.env ?? [],
    });
    const graph = selectNamedJobs(whole, jobs, options.file);
    const remote = remoteSettings(options.cacheUrl !== undefined ? { url: options.cacheUrl } : {});
    const engine = createEngine();
    await checkEngine(engine);
    const warnings: string[] = [];
    const plans = await planRun(graph, {
      engine,
      reuse: options.reuse ?? false,
      noCache: options.cache === false,
      ...(remote ? { remote } : {}),
      emit: (event) => {
        if (event.type === 'warning') warnings.push(`${event.job ? `${event.job}: ` : ''}${event.message}`);
      },
    });
    for (const warning of warnings) process.stderr.write(`kiln: warning: ${visible(warning)}\n`);
    if (options.json) {
      for (const plan of plans) {
        process.stdout.write(
          `${JSON.stringify({
            job: plan.job,
            ...(plan.key ? { key: plan.key } : {}),
            result: plan.result,
            ...(plan.source ? { source: plan.source } : {}),
            reasons: plan.reasons,
            exports: plan.exports.map((e) => displayPath(e, graph.projectDir)),
          })}\n`,
        );
      }
      return ExitCode.passed;
    }
    const width = Math.max(...plans.map((p) => visible(p.job).length), 3);
    const lines: string[] = [];
    for (const plan of plans) {
      const what =
        plan.result === 'hit'
          ? `cached   key ${plan.key!.slice(7, 19)}${plan.source === 'remote' ? ' (in the shared cache)' : ''}`
          : plan.result === 'miss'
            ? `runs     ${plan.reasons.map((r) => visible(r)).join('; ')}`
            : `runs     not cached: ${plan.reasons.map((r) => visible(r)).join('; ')}`;
      lines.push(`${visible(plan.job).padEnd(width)}  ${what}`);
      for (const path of plan.exports) {
        lines.push(`${''.padEnd(width)}  exports  ${visible(displayPath(path, graph.projectDir))}`);
      }
    }
    const hits = plans.filter((p) => p.result === 'hit').length;
    lines.push(
      '',
      `${plans.length - hits} of ${plans.length} job${plans.length === 1 ? '' : 's'} would run, ${hits} cached`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
    return ExitCode.passed;
  } catch (error) {
    return reportError(error, options.debug ?? false);
  }
}
