/** `kiln validate` and `kiln graph`. */
import { renderGraph } from '../graph/index.js';
import type { BuildGraph } from '../graph/types.js';
import { ExitCode } from '../errors.js';
import { visible } from '../visible-text.js';
import { loadGraph } from './load.js';
import { reportError } from './report-error.js';

export async function validateCommand(options: {
  file: string;
  /** `--env NAME[=VALUE]`, as kiln run takes them. */
  env?: readonly string[];
  debug?: boolean;
}): Promise<number> {
  try {
    const graph = await graphOf(options);
    process.stdout.write(
      `${visible(options.file)}: ok (${graph.jobs.size} job${graph.jobs.size === 1 ? '' : 's'})\n`,
    );
    return ExitCode.passed;
  } catch (error) {
    return reportError(error, options.debug ?? false);
  }
}

export async function graphCommand(options: {
  file: string;
  format: 'dot' | 'mermaid' | 'json';
  env?: readonly string[];
  debug?: boolean;
}): Promise<number> {
  try {
    const graph = await graphOf(options);
    const text = renderGraph(graph, options.format);
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    return ExitCode.passed;
  } catch (error) {
    return reportError(error, options.debug ?? false);
  }
}

/** The step file's graph, with `--env` values for its variables. */
async function graphOf(options: { file: string; env?: readonly string[] }): Promise<BuildGraph> {
  const { graph } = await loadGraph(options.file, process.env, {
    envOptions: options.env ?? [],
  });
  return graph;
}
