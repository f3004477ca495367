/**
 * The step options users expect, against the real engine: a string `run` stops at its first failing line
 * unless the step file opts out.
 */
import test from 'ava';
import {
  BUSYBOX,
  containersOf,
  eventsOf,
  kiln,
  makeProject,
  outputOf,
  startKilnUntil,
  sweepProjects,
  waitFor,
} from '../helpers/kiln-cli.js';

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

test('an always() cleanup step and a failure() step run after a failed step, and the job stays failed', async (t) => {
  const project = await makeProject(`
version: 1
jobs:
  build:
    image: ${BUSYBOX}
    steps:
      - { name: compile, run: "exit 3" }
      - { name: test, run: "echo never" }
      - { name: report, if: failure(), run: "echo reporting" }
      - { name: cleanup, if: always(), run: "echo cleaning" }
`);
  const run = await kiln(project, ['run', '--json']);
  t.is(run.code, 1, run.stderr);
  t.deepEqual(
    eventsOf(run, 'step.end').map((e) => [e.step, e.status, e.exitCode]),
    [
      ['compile', 'failed', 3],
      ['report', 'passed', 0],
      ['cleanup', 'passed', 0],
    ],
  );
  t.is(outputOf(run, 'build', 'cleanup'), 'cleaning\n');
  t.like(eventsOf(run, 'job.end')[0], { job: 'build', status: 'failed' });
});

test('an always() job runs after a need failed, and the run still fails', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    steps: [{ run: "exit 1" }]
  publish:
    needs: [build]
    steps: [{ run: "echo never" }]
  report:
    needs: [build]
    if: always()
    steps: [{ name: notify, run: "echo build ended" }]
`);
  const run = await kiln(project, ['run', '--json']);
  t.is(run.code, 1, run.stderr);
  const ends = Object.fromEntries(eventsOf(run, 'job.end').map((e) => [e.job, e.status]));
  t.deepEqual(ends, { build: 'failed', publish: 'skipped', report: 'passed' });
  t.is(outputOf(run, 'report', 'notify'), 'build ended\n');
});

test('on Ctrl-C only always() steps still run, and the run ends interrupted', async (t) => {
  const project = await makeProject(`
version: 1
jobs:
  build:
    image: ${BUSYBOX}
    steps:
      - { name: long, run: "echo ready; exec sleep 300" }
      - { name: next, run: "echo never" }
      - { name: on-failure, if: failure(), run: "echo never" }
      - { name: cleanup, if: always(), run: "echo cleaned" }
`);
  const { child, done } = await startKilnUntil(
    project,
    ['run', '--json', '--grace-period', '1'],
    '"data":"ready',
  );
  child.kill('SIGINT');
  const run = await done;
  t.is(run.code, 130, run.stderr);
  t.deepEqual(
    eventsOf(run, 'step.end').map((e) => [e.step, e.status]),
    [
      ['long', 'cancelled'],
      ['cleanup', 'passed'],
    ],
  );
  t.is(outputOf(run, 'build', 'cleanup'), 'cleaned\n');
  t.like(eventsOf(run, 'job.end')[0], { status: 'cancelled' });
  t.deepEqual(await containersOf(project), []);
});

test('after Ctrl-C an always() step is bounded by its own timeout, and a second Ctrl-C stops it', async (t) => {
  const project = await makeProject(`
version: 1
jobs:
  bounded:
    image: ${BUSYBOX}
    steps:
      - { name: long, run: "echo ready; exec sleep 300" }
      - { name: cleanup, if: always(), timeout: 1s, run: "exec sleep 300" }
`);
  const first = await startKilnUntil(project, ['run', '--json', '--grace-period', '1'], '"data":"ready');
  first.child.kill('SIGINT');
  const bounded = await first.done;
  t.is(bounded.code, 130, bounded.stderr);
  t.deepEqual(
    eventsOf(bounded, 'step.end').map((e) => [e.step, e.status]),
    [
      ['long', 'cancelled'],
      ['cleanup', 'timed-out'],
    ],
  );

  const stuck = await makeProject(`
version: 1
jobs:
  stuck:
    image: ${BUSYBOX}
    steps:
      - { name: long, run: "echo ready; exec sleep 300" }
      - { name: cleanup, if: always(), run: "echo cleaning; exec sleep 300" }
`);
  const second = await startKilnUntil(stuck, ['run', '--json', '--grace-period', '1'], '"data":"ready');
  second.child.kill('SIGINT');
  await waitFor(() => second.seen().includes('"data":"cleaning'), 60_000, second.seen);
  const sent = Date.now();
  second.child.kill('SIGINT');
  const stopped = await second.done;
  t.true(Date.now() - sent < 10_000, 'the second Ctrl-C stops the cleanup step');
  t.is(stopped.code, 130, stopped.stderr);
  t.like(eventsOf(stopped, 'step.end')[1], { step: 'cleanup', status: 'cancelled' });
  t.deepEqual(await containersOf(stuck), []);
});

test('a flaky step that fails twice passes on its third attempt, each attempt a step.start and step.end', async (t) => {
  const project = await makeProject(`
version: 1
jobs:
  build:
    image: ${BUSYBOX}
    mounts: [{ type: tmpfs, target: /counter }]
    steps:
      - name: flaky
        retry: { attempts: 3 }
        run: |
          n=$(( $(cat /counter/n 2>/dev/null || echo 0) + 1 ))
          echo $n > /counter/n
          echo "attempt $n"
          test $n -ge 3
      - { name: after, run: "cat /counter/n" }
`);
  const run = await kiln(project, ['run', '--json']);
  t.is(run.code, 0, run.stderr);
  t.deepEqual(
    eventsOf(run, 'step.start')
      .filter((e) => e.step === 'flaky')
      .map((e) => [e.attempt, e.attempts]),
    [
      [1, 3],
      [2, 3],
      [3, 3],
    ],
  );
  t.deepEqual(
    eventsOf(run, 'step.end').map((e) => [e.step, e.status, e.exitCode, e.attempt]),
    [
      ['flaky', 'failed', 1, 1],
      ['flaky', 'failed', 1, 2],
      ['flaky', 'passed', 0, 3],
      ['after', 'passed', 0, undefined],
    ],
  );
  t.is(outputOf(run, 'build', 'after'), '3\n');

  const plain = await kiln(project, ['run', '--progress', 'plain', '--no-cache']);
  t.is(plain.code, 0, plain.stderr);
  t.regex(plain.stdout, /flaky passed on attempt 3\/3/);
});

test('retry on: only the listed exit codes run a step again, and a cancel stops the retries', async (t) => {
  const project = await makeProject(`
version: 1
jobs:
  build:
    image: ${BUSYBOX}
    steps:
      - { name: other-code, retry: { attempts: 3, on: [2] }, run: "exit 4" }
`);
  const run = await kiln(project, ['run', '--json']);
  t.is(run.code, 1, run.stderr);
  t.deepEqual(
    eventsOf(run, 'step.end').map((e) => [e.status, e.exitCode, e.attempt]),
    [['failed', 4, 1]],
  );

  const slow = await makeProject(`
version: 1
jobs:
  build:
    image: ${BUSYBOX}
    steps:
      - { name: waits, retry: { attempts: 5, delay: 60s }, run: "exit 1" }
`);
  const started = await startKilnUntil(slow, ['run', '--json'], '"type":"step.end"');
  const sent = Date.now();
  started.child.kill('SIGINT');
  const cancelled = await started.done;
  t.is(cancelled.code, 130, cancelled.stderr);
  t.true(Date.now() - sent < 20_000, 'the cancel does not wait out the delay');
  t.is(eventsOf(cancelled, 'step.start').length, 1);
});
