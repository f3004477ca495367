/** The graph room: compile a Definition into a BuildGraph, narrow it, render it. */
export {
  BASH_SHELL,
  compile,
  DEFAULT_SHELL,
  DEFAULT_WORKDIR,
  shellQuote,
  type CompileOptions,
} from './compile.js';
export { selectJobs } from './select.js';
export { renderGraph, GRAPH_FORMATS, type GraphFormat } from './render.js';
export { projectName } from './project-name.js';
export type * from './types.js';
