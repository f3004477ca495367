/**
 * Step files for the tests of `kiln ci`: compiled graphs (matrix expanded) and the shell words a CI job's
 * command line reads back as.
 */
import { execFileSync } from 'node:child_process';
import type { Definition } from '../../src/definition/types.js';
import { compile } from '../../src/graph/compile.js';
import type { BuildGraph } from '../../src/graph/types.js';

/** The graph of `jobs` (each job given its image and one step unless it says otherwise). */
export function ciGraph(jobs: Record<string, Record<string, unknown>>): BuildGraph {
  const full = Object.fromEntries(
    Object.entries(jobs).map(([name, job]) => [name, { image: 'img', steps: [{ run: 'true' }], ...job }]),
  );
  return compile({ version: 1, projectDir: '/tmp/ci-project', jobs: full } as unknown as Definition);
}

/** A diamond: `lint` and `build` first, `test` needs both, `package` needs `test` and `build`. */
export const diamond = (): BuildGraph =>
  ciGraph({
    lint: {},
    build: { outputs: ['/out'] },
    test: { needs: ['lint'], mounts: [{ type: 'bind', from: 'build', source: '/out', target: '/in' }] },
    package: { needs: ['test', 'build'] },
  });

/** A matrix job of two axes, one value needing shell quoting, and a job after every instance. */
export const matrix = (): BuildGraph =>
  ciGraph({
    build: { matrix: { cc: ['gcc', "it's $HOME"], opt: ['O2'] }, outputs: ['/out'] },
    'docs.v2': { needs: ['build'], if: 'always()' },
  });

/**
 * The words POSIX sh makes of `line` when its first words are `printf '%s\n'`: the arguments kiln would
 * get. Runs /bin/sh; nothing is expanded but what the line leaves unquoted.
 */
export function shellWords(line: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', line], { encoding: 'utf8', env: { HOME: '/nowhere' } });
  return out.split('\n').slice(0, -1);
}

/** What `--kiln` is in these tests: a command that prints its arguments one a line. */
export const PRINT_ARGS = "printf '%s\\n'";
