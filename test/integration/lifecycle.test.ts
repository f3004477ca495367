/**
 * The container lifecycle against the real engine: cancellation with a grace period, timeouts, reuse
 * mode, a kiln killed mid-run, and large output in flat memory.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import test from 'ava';
import {
  BUSYBOX,
  containersOf,
  docker,
  eventsOf,
  kiln,
  makeProject,
  outputOf,
  outputStalled,
  startKiln,
  startKilnUntil,
  sweepProjects,
  waitFor,
  watchPeakRss,
} from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

/** Processes in any container whose command line contains `marker`. */
function processesWith(marker: string): string[] {
  const out = execFileSync('ps', ['-eww', '-o', 'pid,args'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(marker) && !l.includes('ps -eww'));
}

test('SIGTERM to kiln: a step that traps TERM prints, exits 0 and is reported passed', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  graceful:
    steps:
      - name: trap
        run: 'trap "echo cleaning up; exit 0" TERM; echo ready; while :; do sleep 0.2; done'
      - { name: later, run: "echo later" }
`);
  const { child, done } = await startKilnUntil(
    project,
    ['run', '--json', '--grace-period', '5'],
    '"data":"ready',
  );
  child.kill('SIGTERM');
  const run = await done;
  t.is(outputOf(run, 'graceful', 'trap'), 'ready\ncleaning up\n', run.stdout + run.stderr);
  t.like(eventsOf(run, 'step.end')[0], { step: 'trap', status: 'passed', exitCode: 0 });
  t.is(eventsOf(run, 'step.end').length, 1, 'no step starts after cancellation');
  t.is(run.code, 130);
  t.like(eventsOf(run, 'run.end')[0], { status: 'cancelled', exitCode: 130 });
  t.deepEqual(await containersOf(project), []);
});

test('SIGINT to kiln: a step that ignores TERM is killed once the grace period is over (137)', async (t) => {
  const marker = `ignore-term-${Date.now()}`;
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  stubborn:
    steps:
      - name: ignore
        run: 'trap "" TERM; echo ready; exec sleep 300 # ${marker}'
`);
  const { child, done } = await startKilnUntil(
    project,
    ['run', '--json', '--grace-period', '2'],
    '"data":"ready',
  );
  const sent = Date.now();
  child.kill('SIGINT');
  const run = await done;
  const took = Date.now() - sent;
  t.like(eventsOf(run, 'step.end')[0], { status: 'cancelled', exitCode: 137 });
  t.true(took >= 2000, `killed after the grace period, not before (${took} ms)`);
  t.is(run.code, 130);
  t.deepEqual(await containersOf(project), []);
  t.deepEqual(processesWith(marker), []);
});

test('a step over its timeout is cancelled and reported timed-out; the job too', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  slow:
    steps:
      - { name: sleepy, run: "sleep 30", timeout: 1s }
  slow-job:
    timeout: 6s
    steps:
      - { name: first, run: "echo first" }
      - { name: long, run: "sleep 30" }
`);
  const started = Date.now();
  const run = await kiln(project, ['run', '--json', '--keep-going', '--grace-period', '1']);
  t.true(Date.now() - started < 20_000);
  const ends = eventsOf(run, 'step.end');
  t.like(
    ends.find((e) => e.step === 'sleepy'),
    { status: 'timed-out', exitCode: 143 },
    run.stdout.slice(0, 3000) + run.stderr,
  );
  t.like(
    ends.find((e) => e.step === 'long'),
    { status: 'timed-out' },
  );
  t.like(
    eventsOf(run, 'job.end').find((e) => e.job === 'slow'),
    { status: 'timed-out' },
  );
  t.like(
    eventsOf(run, 'job.end').find((e) => e.job === 'slow-job'),
    { status: 'timed-out' },
  );
  t.is(run.code, 1);
});

test('SIGKILL to kiln: the running step is gone within seconds, and the next run sweeps its container', async (t) => {
  const marker = `orphan-${Date.now()}`;
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  doomed:
    steps:
      - { name: forever, run: 'echo ready; exec sleep 300 # ${marker}' }
`);
  const { child, done } = await startKilnUntil(project, ['run', '--json'], '"data":"ready', {
    KILN_CANCEL_GRACE_PERIOD: '1',
  });
  t.true(processesWith(marker).length > 0, 'the step runs under its wrapper');
  child.kill('SIGKILL');
  await done;
  const killed = Date.now();
  await waitFor(() => processesWith(marker).length === 0, 15_000);
  t.log(`step processes gone ${Date.now() - killed} ms after SIGKILL`);
  t.is((await containersOf(project)).length, 1, 'the dead run left its container');
  // A live run's resources are left alone by a sweep; a dead one's are removed.
  const next = await makeProject(`
version: 1
jobs:
  other: { image: ${BUSYBOX}, steps: [{ run: "true" }] }
`);
  const sweeper = await kiln(next, ['run', '--json']);
  t.is(sweeper.code, 0, sweeper.stderr);
  t.deepEqual(await containersOf(project), []);
});

test('reuse: the second run reuses the container and finds its state; a changed image recreates it with a warning; prune removes it', async (t) => {
  const tag = `kiln-fixture/busybox:reuse-test-${process.pid}`;
  const yaml = (image: string) => `
version: 1
jobs:
  keep:
    image: ${image}
    reuse: true
    steps:
      - { name: count, run: 'n=$(cat /var/tmp/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > /var/tmp/count; echo run $n; sleep 60 & true' }
`;
  const project = await makeProject(yaml(BUSYBOX));
  const first = await kiln(project, ['run', '--json']);
  t.is(first.code, 0, first.stderr);
  t.is(eventsOf(first, 'container.create').length, 1);
  t.is(outputOf(first, 'keep', 'count'), 'run 1\n');
  const second = await kiln(project, ['run', '--json']);
  t.is(eventsOf(second, 'container.reuse').length, 1);
  t.is(outputOf(second, 'keep', 'count'), 'run 2\n');
  const [live] = await containersOf(project);
  t.truthy(live, 'the reused container survives the run');
  const top = await docker.getContainer(live!.Id).top();
  t.false(
    JSON.stringify(top.Processes).includes('sleep 60'),
    'no process of a run outlives it in a reused container',
  );
  t.false(
    JSON.stringify((await docker.getContainer(live!.Id).inspect()).Config.Labels).includes('dev.kiln.run'),
  );

  // A different image (same files, another ID) recreates the container with a visible warning.
  const c = await docker.createContainer({
    Image: BUSYBOX,
    Cmd: ['true'],
    Labels: { 'dev.kiln.test': 'reuse' },
  });
  await c.commit({ repo: tag.split(':')[0], tag: tag.split(':')[1], changes: ['LABEL dev.kiln.variant=2'] });
  await c.remove();
  t.teardown(() =>
    docker
      .getImage(tag)
      .remove({ force: true })
      .catch(() => {}),
  );
  const { writeFileSync } = await import('node:fs');
  writeFileSync(project.file, yaml(tag));
  const third = await kiln(project, ['run', '--json']);
  t.is(third.code, 0, third.stderr);
  t.is(eventsOf(third, 'container.recreate').length, 1);
  t.regex(
    eventsOf(third, 'warning')
      .map((w) => w.message)
      .join('\n'),
    /recreated: its image changed/,
  );
  t.is(outputOf(third, 'keep', 'count'), 'run 1\n');

  const prune = await kiln(project, ['prune', '--all']);
  t.is(prune.code, 0, prune.stderr);
  t.deepEqual(await containersOf(project), []);
});

test('200 MB of output passes through byte for byte with flat memory', async (t) => {
  const project = await floodProject("head -c 200000000 /dev/zero | tr '\\\\0' 'x' | fold -w 99");
  const { child, done } = startKiln(project, ['run', '--progress', 'plain', '--no-logs']);
  let bytes = 0;
  child.stdout!.removeAllListeners('data');
  child.stdout!.on('data', (d: Buffer) => (bytes += d.length));
  const rss = watchPeakRss(child.pid!);
  const run = await done;
  const peakKb = rss.stop();
  t.is(run.code, 0, run.stderr.slice(-2000));
  // 200,000,000 x's in lines of 99 plus newlines, each line prefixed in plain mode.
  t.true(bytes > 200_000_000, `received ${bytes} bytes`);
  t.log(`peak RSS ${Math.round(peakKb / 1024)} MiB for ${Math.round(bytes / 1e6)} MB of output`);
  t.true(peakKb < 250 * 1024, `peak RSS ${Math.round(peakKb / 1024)} MiB`);
});

/** A one-job project whose step `flood` runs `run`, printing lots. */
function floodProject(run: string) {
  return makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  big:
    steps:
      - { name: flood, run: "${run}" }
`);
}

/** Stops reading kiln's stdout until `resume()`; then counts the bytes and keeps the last 4 KiB. */
function holdStdout(child: ChildProcess) {
  const stdout = child.stdout!;
  stdout.removeAllListeners('data');
  stdout.pause();
  const read = { bytes: 0, tail: '' };
  return {
    read,
    resume() {
      stdout.on('data', (d: Buffer) => {
        read.bytes += d.length;
        read.tail = (read.tail + d.toString('latin1')).slice(-4096);
      });
      stdout.resume();
    },
  };
}

test('a reader that stops reading slows the step down instead of filling kiln memory', async (t) => {
  const project = await floodProject(
    "head -c 100000000 /dev/zero | tr '\\\\0' 'y' | fold -w 99; echo flood-done",
  );
  // Step logs stay on: they are written to disk beside the terminal output.
  const { child, done } = startKiln(project, ['run', '--progress', 'plain']);
  const held = holdStdout(child);
  const rss = watchPeakRss(child.pid!);
  // kiln stops reading the step's output instead of holding it: the step blocks, its logs stall.
  await outputStalled(project);
  held.resume();
  const run = await done;
  const peakKb = rss.stop();
  const { bytes, tail } = held.read;
  t.is(run.code, 0, run.stderr.slice(-2000));
  t.true(bytes > 100_000_000, `received ${bytes} bytes`);
  t.regex(tail, /flood-done/);
  t.log(`peak RSS ${Math.round(peakKb / 1024)} MiB for ${Math.round(bytes / 1e6)} MB read after a stall`);
  t.true(peakKb < 200 * 1024, `peak RSS ${Math.round(peakKb / 1024)} MiB`);
});

test('a run cancelled while nobody reads its output still ends its step and removes its container', async (t) => {
  const project = await floodProject(
    "trap '' TERM; head -c 100000000 /dev/zero | tr '\\\\0' 'z' | fold -w 99",
  );
  const { child, done } = startKiln(project, ['run', '--progress', 'plain', '--grace-period', '1']);
  const held = holdStdout(child);
  await outputStalled(project);
  child.kill('SIGINT');
  // Nobody reads kiln's output, yet the step is killed after the grace period and the container goes.
  await waitFor(async () => (await containersOf(project)).length === 0, 30_000);
  held.resume();
  const run = await done;
  t.is(run.code, 130, run.stderr.slice(-2000));
  t.regex(held.read.tail, /big\s+cancelled/);
});
