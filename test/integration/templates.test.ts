/**
 * Templates against the real engine: jobs made from an x- template and from another job run with the
 * merged spec, and a template's values are part of the job cache's key.
 */
import { writeFile } from 'node:fs/promises';
import test from 'ava';
import {
  BUSYBOX,
  eventsOf,
  jobCacheOf,
  kiln,
  makeProject,
  outputOf,
  sweepProjects,
} from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

const stepFile = (level: string): string => `
version: 1
x-base:
  image: ${BUSYBOX}
  env: { LEVEL: ${level}, CC: none }
  steps:
    - name: show
      run: echo "$CC $LEVEL"
jobs:
  gcc:
    extends: x-base
    env: { CC: gcc }
  clang:
    extends: gcc
    env: { CC: clang }
`;

test('jobs extending a template and a job run with merged env, and a template change misses the cache', async (t) => {
  const project = await makeProject(stepFile('O2'));
  const first = await kiln(project, ['run', '--json']);
  t.is(first.code, 0, first.stderr);
  t.is(outputOf(first, 'gcc', 'show'), 'gcc O2\n');
  t.is(outputOf(first, 'clang', 'show'), 'clang O2\n');

  await writeFile(project.file, stepFile('O0'));
  const second = await kiln(project, ['run', '--json']);
  t.is(second.code, 0, second.stderr);
  t.is(jobCacheOf(second).get('gcc')?.result, 'miss');
  t.is(outputOf(second, 'clang', 'show'), 'clang O0\n');
  t.deepEqual(
    eventsOf(second, 'job.end').map((e) => e.status),
    ['passed', 'passed'],
  );
});
