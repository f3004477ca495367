/**
 * Step files that used to hang kiln, forge its output or fail at run time, through the real binary:
 * each is refused quickly with exit code 2 and a positioned message, before anything is started.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BUSYBOX,
  containersOf,
  kiln,
  makeProject,
  sweepProjects,
  type KilnRun,
} from '../helpers/kiln-cli.js';
import { bomb } from '../helpers/loader-fuzz.js';

test.after.always(() => sweepProjects());

const VALID = `version: 1\njobs:\n  a:\n    image: ${BUSYBOX}\n    steps: [{ run: echo hi }]\n`;

/** `kiln args` in a project holding `yaml`, with how long it took. */
async function timed(yaml: string, args: readonly string[]): Promise<KilnRun & { ms: number }> {
  const project = await makeProject(yaml);
  const started = performance.now();
  const run = await kiln(project, args);
  return { ...run, ms: performance.now() - started };
}

function assertRefused(
  t: import('ava').ExecutionContext,
  run: KilnRun & { ms: number },
  message: RegExp,
): void {
  const what = `exit ${run.code} after ${run.ms.toFixed(0)} ms:\n${run.stderr}`;
  t.is(run.code, 2, what);
  t.regex(run.stderr, message, what);
  t.false(/^\s+at /m.test(run.stderr), what);
}

for (const device of ['/dev/zero', '/dev/urandom']) {
  test(`kiln validate -f ${device} exits 2 at once, saying it is not a regular file`, async (t) => {
    const run = await timed(VALID, ['validate', '-f', device]);
    assertRefused(t, run, new RegExp(`^kiln: ${device} is a device, not a regular file`));
    t.true(run.ms < 5000, `took ${run.ms} ms`);
  });
}

test('kiln validate -f FIFO exits 2 without waiting for a writer', async (t) => {
  const project = await makeProject(VALID);
  const fifo = join(project.dir, 'pipe.yaml');
  execFileSync('mkfifo', [fifo]);
  const run = await timed(VALID, ['validate', '-f', fifo]);
  assertRefused(t, run, /is a FIFO \(named pipe\), not a regular file/);
});

test('kiln validate of a step file over 4 MiB exits 2, naming the file and the limit', async (t) => {
  const project = await makeProject(VALID);
  await writeFile(project.file, VALID + `# ${'x'.repeat(1000)}\n`.repeat(4300));
  const started = performance.now();
  const run = { ...(await kiln(project, ['validate'])), ms: performance.now() - started };
  assertRefused(t, run, /^kiln: .*kiln\.yaml is larger than 4 MiB, the most kiln reads of a step file/);
});

test('kiln validate refuses an alias bomb in well under a second of its own, at the alias', async (t) => {
  const run = await timed(
    `version: 1\n${bomb(9, 9)}\njobs: { a: { image: busybox, steps: [{ run: x }] } }\n`,
    ['validate'],
  );
  assertRefused(t, run, /^kiln\.yaml:7:12: alias '\*l4' makes this file expand to more than 100000 values/);
  t.true(run.ms < 3000, `took ${run.ms} ms`);
});

test('kiln run with a 1000h timeout exits 2 at the timeout, and starts nothing', async (t) => {
  const project = await makeProject(
    `version: 1\njobs:\n  a:\n    image: ${BUSYBOX}\n    timeout: 1000h\n    steps: [{ run: sleep 1 }]\n`,
  );
  const started = performance.now();
  const run = { ...(await kiln(project, ['run', '--json'])), ms: performance.now() - started };
  assertRefused(
    t,
    run,
    /^kiln\.yaml:5:14: job 'a': timeout 1000h is longer than the most kiln can wait, 596h31m23s/,
  );
  t.deepEqual(run.events, [], 'no run started');
  t.deepEqual(await containersOf(project), []);
});

const refusedAtRun = test.macro({
  async exec(t, yaml: string, message: RegExp) {
    const project = await makeProject(yaml);
    const started = performance.now();
    const run = {
      ...(await kiln(project, ['run', '--json'], { TOKEN: 'secret' })),
      ms: performance.now() - started,
    };
    assertRefused(t, run, message);
    t.deepEqual(run.events, [], 'no run started');
    t.deepEqual(await containersOf(project), []);
  },
  title: (title) => `kiln run exits 2 before starting anything: ${title}`,
});

const job = (body: string): string =>
  `version: 1\nsecrets: { token: { env: TOKEN } }\njobs:\n  a:\n    image: ${BUSYBOX}\n${body}`;

test(
  'a tmpfs under /proc',
  refusedAtRun,
  job('    mounts: [{ type: tmpfs, target: /proc/x }]\n    steps: [{ run: x }]\n'),
  /^kiln\.yaml:6:37: job 'a', mounts\[0\]: cannot mount on \/proc\/x/,
);
test(
  'a secret on /dev/null',
  refusedAtRun,
  job('    steps:\n      - run: x\n        mounts: [{ type: secret, id: token, target: /dev/null }]\n'),
  /^kiln\.yaml:8:53: .*cannot put a secret at \/dev\/null/,
);
test(
  'a NUL in run',
  refusedAtRun,
  job('    steps: [{ run: "echo\\0 hi" }]\n'),
  /^kiln\.yaml:6:20: 'run' of step 1 of job 'a' holds a NUL character \(\\0\)/,
);
test(
  'a NUL in an env value',
  refusedAtRun,
  job('    env: { A: "x\\0" }\n    steps: [{ run: x }]\n'),
  /^kiln\.yaml:6:15: 'A' of 'env' of job 'a' holds a NUL character/,
);
test(
  'a NUL in the workdir',
  refusedAtRun,
  job('    workdir: "/w\\0"\n    steps: [{ run: x }]\n'),
  /^kiln\.yaml:6:14: 'workdir' of job 'a' holds a NUL character/,
);
test(
  'a 300-character locked cache id',
  refusedAtRun,
  job(
    `    mounts: [{ type: cache, id: ${'c'.repeat(300)}, target: /c, sharing: locked }]\n    steps: [{ run: x }]\n`,
  ),
  /'id' of mount 1 of job 'a' is 300 characters long, longer than the 128 allowed/,
);
test(
  'a reuse name Docker does not take',
  refusedAtRun,
  job('    reuse: { name: "bad name/../x" }\n    steps: [{ run: x }]\n'),
  /^kiln\.yaml:6:20: 'name' of 'reuse' of job 'a' must be a container name/,
);
test(
  'two 250-character job names',
  refusedAtRun,
  `version: 1\njobs:\n  ${'j'.repeat(249)}a: { image: ${BUSYBOX}, steps: [{ run: x }] }\n  ${'j'.repeat(249)}b: { image: ${BUSYBOX}, steps: [{ run: x }] }\n`,
  /\(250 characters\) is not a valid job name in 'jobs': .*at most 100 characters/,
);
test(
  'an image reference in upper case',
  refusedAtRun,
  'version: 1\njobs:\n  a:\n    image: Busybox\n    steps: [{ run: x }]\n',
  /^kiln\.yaml:4:12: job 'a': image "Busybox" has upper-case letters/,
);

test('a step name with a newline and escapes is refused, and printed escaped on one line', async (t) => {
  const run = await timed(
    `version: 1\njobs:\n  a:\n    image: ${BUSYBOX}\n    steps:\n      - name: "x\\nok run passed\\e]0;owned\\a"\n        run: echo\n`,
    ['validate'],
  );
  assertRefused(t, run, /^kiln\.yaml:6:15: 'name' of step 1 of job 'a' holds a control character \(\\n\)/);
  t.false(
    run.stderr.split('\n').some((line) => line.startsWith('ok run passed')),
    run.stderr,
  );
  t.false(/[\u0007\u001b]/.test(run.stderr));
});

test('a command with a carriage return and escapes is shown escaped on the step line, and still runs', async (t) => {
  const project = await makeProject(
    `version: 1\njobs:\n  a:\n    image: ${BUSYBOX}\n    steps:\n      - name: show\n        run: "echo one \\r\\e[2Kok run passed"\n`,
  );
  const run = await kiln(project, ['run']);
  t.is(run.code, 0, run.stderr);
  t.true(run.stdout.includes('> show: echo one \\r\\x1b[2Kok run passed\n'), run.stdout);
  t.false(/[\u0007\u001b]/.test(run.stdout.split('\n').find((l) => l.includes('> show')) ?? ''), run.stdout);
});
