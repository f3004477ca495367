/** Loads and compiles the step file named on the command line. */
import { resolve } from 'node:path';
import { parseDefaultMounts } from '../definition/default-mounts.js';
import { loadDefinitionFile } from '../definition/loader.js';
import type { Definition } from '../definition/types.js';
import { compile } from '../graph/index.js';
import type { BuildGraph } from '../graph/types.js';

export async function loadGraph(file: string, env: NodeJS.ProcessEnv = process.env): Promise<{ definition: Definition; graph: BuildGraph }> {
  const definition = await loadDefinitionFile(resolve(file));
  const raw = env.KILN_DEFAULT_MOUNTS;
  const defaultMounts = raw ? parseDefaultMounts(raw, { projectDir: definition.projectDir }) : [];
  const graph = compile(definition, { defaultMounts });
  return { definition, graph };
}
