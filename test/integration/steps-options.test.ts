/**
 * The step options users expect, against the real engine: a string `run` stops at its first failing line
 * unless the step file opts out.
 */
import test from 'ava';
import { BUSYBOX, eventsOf, kiln, makeProject, outputOf, sweepProjects } from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

test('a failing middle line fails the step under the default shell', async (t) => {
  const project = await makeProject(`
version: 1
jobs:
  build:
    image: ${BUSYBOX}
    steps:
      - name: lines
        run: |
          echo first
          false
          echo after-the-failure
`);
  const run = await kiln(project, ['run', '--json']);
  t.is(run.code, 1, run.stderr);
  t.is(outputOf(run, 'build', 'lines'), 'first\n');
  t.like(eventsOf(run, 'step.end')[0], { step: 'lines', status: 'failed', exitCode: 1 });
});

test('shell: [/bin/sh, -c] restores running every line, the last one deciding', async (t) => {
  const project = await makeProject(`
version: 1
jobs:
  build:
    image: ${BUSYBOX}
    steps:
      - name: lines
        shell: [/bin/sh, -c]
        run: |
          echo first
          false
          echo after-the-failure
`);
  const run = await kiln(project, ['run', '--json']);
  t.is(run.code, 0, run.stderr);
  t.is(outputOf(run, 'build', 'lines'), 'first\nafter-the-failure\n');
});
