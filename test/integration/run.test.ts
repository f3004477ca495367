/**
 * `kiln run` end to end against the real engine: one container per job, steps as execs, env per exec,
 * argv vs shell, exit codes, output order, and nothing left behind.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import {
  BUSYBOX,
  containersOf,
  eventsOf,
  kiln,
  makeProject,
  outputOf,
  sweepProjects,
} from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

test('a job of several steps makes exactly one container, its steps share files, and nothing is left', async (t) => {
  const project = await makeProject(`
version: 1
jobs:
  build:
    image: ${BUSYBOX}
    steps:
      - { name: write, run: "echo made-by-step-one > /tmp/shared" }
      - { name: read, run: "cat /tmp/shared" }
      - { name: whoami, run: "hostname > /tmp/host1; cat /tmp/host1" }
`);
  const run = await kiln(project, ['run', '--json']);
  t.is(run.code, 0, run.stderr);
  t.is(eventsOf(run, 'container.create').length, 1);
  t.is(outputOf(run, 'build', 'read'), 'made-by-step-one\n');
  t.deepEqual(
    eventsOf(run, 'step.end').map((e) => [e.step, e.status, e.exitCode]),
    [
      ['write', 'passed', 0],
      ['read', 'passed', 0],
      ['whoami', 'passed', 0],
    ],
  );
  t.deepEqual(await containersOf(project), []);
  const types = run.events.map((e) => e.type);
  t.is(types[0], 'run.start');
  t.is(types.at(-1), 'run.end');
  t.like(run.events.at(-1), { status: 'passed', exitCode: 0 });
});

test('step env, workdir and user are given per exec and never baked into the container', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX}, env: { FROM_DEFAULTS: d } }
jobs:
  env:
    workdir: /tmp
    env: { FROM_JOB: j }
    steps:
      - name: see
        env: { FROM_STEP: s }
        run: 'echo "$FROM_DEFAULTS $FROM_JOB $FROM_STEP $(pwd) $(id -u)"; tr "\\0" "\\n" < /proc/1/environ | grep -c FROM_ || true'
      - name: other
        user: builder
        workdir: /home/builder
        run: 'echo "[$FROM_STEP] $(pwd) $(id -un)"'
`);
  const run = await kiln(project, ['run', '--json']);
  t.is(run.code, 0, run.stderr);
  t.is(outputOf(run, 'env', 'see'), 'd j s /tmp 0\n0\n');
  t.is(outputOf(run, 'env', 'other'), '[] /home/builder builder\n');
});

test('run as a list is argv without a shell; as a string it goes through the shell', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  cmds:
    env: { WORD: expanded }
    steps:
      - { name: argv, run: [echo, "$WORD", "a  b", ";", "ls"] }
      - { name: shell, run: "echo $WORD; echo two" }
`);
  const run = await kiln(project, ['run', '--json']);
  t.is(run.code, 0, run.stderr);
  t.is(outputOf(run, 'cmds', 'argv'), '$WORD a  b ; ls\n');
  t.is(outputOf(run, 'cmds', 'shell'), 'expanded\ntwo\n');
});

const exitCodes = test.macro({
  async exec(t, command: string, expected: number) {
    const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  j:
    steps:
      - { name: s, run: ${JSON.stringify(command)} }
      - { name: after, run: "echo should-not-run" }
`);
    const run = await kiln(project, ['run', '--json']);
    const ends = eventsOf(run, 'step.end');
    t.is(ends.length, 1, 'the step after a failure does not run');
    t.like(ends[0], { step: 's', exitCode: expected, status: expected === 0 ? 'passed' : 'failed' });
    t.is(run.code, expected === 0 ? 0 : 1);
    t.like(eventsOf(run, 'job.end')[0], { status: expected === 0 ? 'passed' : 'failed' });
  },
  title: (_t, command: string, expected: number) =>
    `a step's exit code ${expected} is reported exactly (${command})`,
});
test(exitCodes, 'exit 1', 1);
test(exitCodes, 'exit 42', 42);
test(exitCodes, 'exit 255', 255);
test(exitCodes, 'no-such-command-here', 127);
test(exitCodes, 'printf "x" > /tmp/noexec; /tmp/noexec', 126);
test(exitCodes, 'kill -TERM $$', 143);

test('output keeps its order within a stream and separates stdout from stderr', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  out:
    steps:
      - name: lines
        run: 'i=1; while [ $i -le 3000 ]; do echo "line $i"; echo "err $i" >&2; i=$((i+1)); done; printf "no newline at end"'
`);
  const run = await kiln(project, ['run', '--json']);
  t.is(run.code, 0, run.stderr);
  const expected = (p: string) => Array.from({ length: 3000 }, (_, i) => `${p} ${i + 1}\n`).join('');
  t.is(outputOf(run, 'out', 'lines'), `${expected('line')}no newline at end`);
  t.is(outputOf(run, 'out', 'lines', 'stderr'), expected('err'));
});

test('allow-failure lets the job go on and pass', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  j:
    steps:
      - { name: flaky, run: "exit 3", allow-failure: true }
      - { name: next, run: "echo next" }
`);
  const run = await kiln(project, ['run', '--json']);
  t.is(run.code, 0, run.stderr);
  t.like(eventsOf(run, 'step.end')[0], { step: 'flaky', status: 'failed', exitCode: 3, allowFailure: true });
  t.is(outputOf(run, 'j', 'next'), 'next\n');
});

test('without --json each output line is prefixed with its job and step', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  greet:
    steps:
      - { name: hello, run: "echo hello; echo world" }
`);
  const run = await kiln(project, ['run', '--progress', 'plain']);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /greet\/hello\]? +hello\n/);
  t.regex(run.stdout, /greet\/hello\]? +world\n/);
  t.notRegex(run.stdout, /\u001b\[/);
});

test('a file that is not a step file is rejected with a message naming it, not a stack trace', async (t) => {
  const project = await makeProject('just a string\n');
  const run = await kiln(project, ['run']);
  t.is(run.code, 2);
  t.true(run.stderr.includes('kiln.yaml'), run.stderr);
  t.notRegex(run.stderr, /\n\s+at /);
});

test('an image that is not present is named with its job, exit 3', async (t) => {
  const project = await makeProject(`
version: 1
jobs:
  lost:
    image: kiln-fixture/not-there:never
    steps: [{ run: "true" }]
`);
  const run = await kiln(project, ['run', '--progress', 'plain']);
  t.is(run.code, 3, run.stdout + run.stderr);
  t.regex(
    run.stdout + run.stderr,
    /kiln-fixture\/not-there:never.*job lost|job lost.*kiln-fixture\/not-there:never/s,
  );
  t.regex(run.stdout + run.stderr, /docker build, docker import\) or load it \(docker load\)/);
  t.notRegex(run.stderr, /\n\s+at /);
});

test('binary output passes byte for byte through the events and the step log', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  bin:
    steps:
      - { name: bytes, run: "printf 'text \\\\303\\\\251 then \\\\377\\\\376\\\\000 binary\\\\n'" }
`);
  const run = await kiln(project, ['run', '--json']);
  t.is(run.code, 0, run.stderr);
  const events = run.events.filter((e) => e.type === 'step.output');
  const bytes = Buffer.concat(
    events.map((e) => Buffer.from(e.data, e.encoding === 'base64' ? 'base64' : 'utf8')),
  );
  const expected = Buffer.from([
    ...Buffer.from('text \u00e9 then '),
    0xff,
    0xfe,
    0x00,
    ...Buffer.from(' binary\n'),
  ]);
  t.deepEqual(bytes, expected);
  const runDir = join(project.stateDir, 'runs', run.events[0]!.runId as string, 'bin');
  const [log] = readdirSync(runDir);
  t.deepEqual(readFileSync(join(runDir, log!)), expected);
});
