/**
 * `kiln run --debug` and `kiln shell` in a real terminal: kiln runs in a tmux pane (a server of this
 * file's own, on its own socket), the test reads the pane and types into it as a user would. Without a
 * terminal both refuse at once.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  BUSYBOX,
  docker,
  kiln,
  kilnBin,
  makeProject,
  sweepProjects,
  waitFor,
  type Project,
} from '../helpers/kiln-cli.js';

const run = promisify(execFile);

/** The folder of this file's own tmux server's socket, made once. */
const socketDir = mkdtemp(join(tmpdir(), 'kiln-debug-tmux-'));
let sessions = 0;

async function tmux(...args: string[]): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, LANG: 'C.UTF-8' };
  delete env.TMUX;
  const socket = join(await socketDir, 'sock');
  const { stdout } = await run('tmux', ['-S', socket, '-f', '/dev/null', ...args], { env });
  return stdout;
}

test.after.always(async () => {
  await tmux('kill-server').catch(() => {});
  await rm(await socketDir, { recursive: true, force: true });
  await sweepProjects();
});

/** A shell word. */
const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/**
 * kiln with `args` in a fresh 120x40 pane of the project's folder; once kiln exits, the pane says its
 * exit code and stays, so that its last screen can be read. The pane is closed when test `t` ends.
 */
async function inPane(
  t: ExecutionContext,
  project: Project,
  args: readonly string[],
  env: Record<string, string> = {},
) {
  sessions += 1;
  const session = `kiln-debug-${process.pid}-${sessions}`;
  const kilnCommand = [
    'env',
    `KILN_STATE_DIR=${quote(project.stateDir)}`,
    'NO_COLOR=1',
    'TERM=xterm',
    ...Object.entries(env).map(([name, value]) => quote(`${name}=${value}`)),
    quote(process.execPath),
    quote(kilnBin),
    ...args.map(quote),
  ].join(' ');
  // After kiln: its exit code, and whether it left the terminal in canonical mode (not raw).
  const command =
    `${kilnCommand}; echo "kiln exited with $?"; ` +
    `echo "terminal: $(stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?icanon')"; exec sleep 3600`;
  await tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '40', '-c', project.dir, command);
  t.teardown(() => tmux('kill-session', '-t', session).catch(() => {}));
  let last = '';
  const screen = async () => (last = await tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', session));
  return {
    /** The pane's text (with its scrollback) once `pattern` shows, or a failure with what it showed. */
    async until(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
      await waitFor(
        async () => pattern.test(await screen()),
        timeoutMs,
        () => last,
      );
      return last;
    },
    /** Types `keys` and Enter. */
    async type(keys: string): Promise<void> {
      await tmux('send-keys', '-t', session, '-l', keys);
      await tmux('send-keys', '-t', session, 'Enter');
    },
    /** Resizes the pane's window, as a user resizing the terminal (kiln gets SIGWINCH). */
    async resize(columns: number, rows: number): Promise<void> {
      await tmux('resize-window', '-t', session, '-x', String(columns), '-y', String(rows));
    },
    /** kiln's exit code, once it exited. */
    async exitCode(timeoutMs = 30_000): Promise<number> {
      const text = await this.until(/kiln exited with \d+/, timeoutMs);
      return Number(/kiln exited with (\d+)/.exec(text)![1]);
    },
    /** The pid of kiln (the pane's shell's child). */
    async kilnPid(): Promise<number> {
      const shell = (await tmux('display-message', '-p', '-t', session, '#{pane_pid}')).trim();
      const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', shell]);
      return Number(stdout.trim().split('\n')[0]);
    },
  };
}

/**
 * The project's containers and its volumes other than caches and job results (those live across runs
 * by design).
 */
async function leftOf(project: Project): Promise<{ containers: number; volumes: string[] }> {
  const base = project.dir.split('/').pop()!.toLowerCase();
  const ours = (labels: Record<string, string> | null | undefined) =>
    (labels?.['dev.kiln.project'] ?? '').startsWith(base) &&
    !['cache', 'result'].includes(labels?.['dev.kiln.scope'] ?? '');
  const containers = await docker.listContainers({
    all: true,
    filters: { label: ['dev.kiln.managed=true'] },
  });
  const volumes = (await docker.listVolumes({ filters: { label: ['dev.kiln.managed=true'] } })).Volumes ?? [];
  return {
    containers: containers.filter((c) => ours(c.Labels)).length,
    volumes: volumes.filter((v) => ours(v.Labels)).map((v) => v.Name),
  };
}

const FAILING = `version: 1
jobs:
  build:
    image: ${BUSYBOX}
    workdir: /src
    env: { FOO: from-the-job }
    mounts:
      - { type: bind, source: ./src, target: /src, readonly: true }
    outputs: [/out]
    steps:
      - name: prepare
        run: echo ready > /out/state
      - name: compile
        env: { STEP_ONLY: from-the-step }
        run: echo compiling; exit 3
`;

test('kiln run --debug opens a shell where the step failed, and exit ends the run with the failure', async (t) => {
  const project = await makeProject(FAILING, { 'src/main.c': 'int main;\n' });
  const pane = await inPane(t, project, ['run', '--debug']);

  const banner = await pane.until(/leave with exit or Ctrl-D[\s\S]*\/src # ?$/m);
  t.regex(banner, /step compile failed with exit code 3/);
  t.regex(banner, /secrets are not mounted/);
  t.is((await leftOf(project)).containers, 1, "the job's container is kept while the shell is open");

  await pane.type('ls; echo "env=$FOO,$STEP_ONLY"; cat /out/state; pwd');
  const seen = await pane.until(/env=from-the-job,from-the-step\nready\n\/src\n/);
  t.regex(seen, /main\.c/, 'the bind is there');

  await pane.type('echo "size=$(stty size)"');
  await pane.until(/size=40 120\n/);
  await pane.resize(100, 30);
  // The new size reaches the shell a moment after the window changed (SIGWINCH, then the engine's resize
  // call): the shell waits up to 5 s for it, then says what size it has.
  await pane.type(
    'for i in $(seq 50); do [ "$(stty size)" = "30 100" ] && break; sleep 0.1; done; echo "resized=$(stty size)"',
  );
  t.regex(await pane.until(/resized=\d+ \d+\n/), /resized=30 100\n/, 'the shell follows the window size');

  await pane.type('exit');
  t.is(await pane.exitCode(), 1, "the run ends with the step's failure");
  const end = await pane.until(/terminal: /);
  t.regex(end, /build\s+failed/);
  t.regex(end, /terminal: icanon\n/, 'the terminal is out of raw mode again');
  t.deepEqual(await leftOf(project), { containers: 0, volumes: [] }, 'everything is released');
});

test("kiln shell opens a shell in a fresh container with its need's output, and exits with its code", async (t) => {
  const project = await makeProject(
    `version: 1
jobs:
  gen:
    image: ${BUSYBOX}
    outputs: [/out]
    steps:
      - run: echo generated-by-gen > /out/gen.txt
  build:
    image: ${BUSYBOX}
    workdir: /src
    env: { FOO: from-the-job }
    mounts:
      - { type: bind, source: ./src, target: /src, readonly: true }
      - { type: bind, from: gen, source: /out, target: /gen }
    steps:
      - run: touch /src/never-ran
`,
    { 'src/main.c': 'int main;\n' },
  );

  const refused = await inPane(t, project, ['shell', 'build']);
  t.is(await refused.exitCode(), 2, 'a need without a result refuses');
  t.regex(
    await refused.until(/kiln run gen/),
    /kiln shell: job gen has no result in the job cache.*run it first: kiln run gen/s,
  );

  t.is((await kiln(project, ['run', 'gen', '--progress', 'plain'])).code, 0);
  const pane = await inPane(t, project, ['shell', 'build']);
  const banner = await pane.until(/leave with exit or Ctrl-D[\s\S]*\/src # ?$/m);
  t.regex(banner, /a shell in a fresh container of job build/);
  t.is((await leftOf(project)).containers, 1);

  await pane.type('cat /gen/gen.txt; echo "env=$FOO"; ls; exit 7');
  t.is(await pane.exitCode(), 7, "kiln shell exits with the shell's exit code");
  const seen = await pane.until(/env=/);
  t.regex(seen, /generated-by-gen\nenv=from-the-job\nmain\.c\n/);
  t.deepEqual(await leftOf(project), { containers: 0, volumes: [] }, 'everything is released');
});

test('without a terminal, kiln run --debug and kiln shell refuse at once with exit 2', async (t) => {
  const project = await makeProject(FAILING, { 'src/main.c': '' });
  const debugRun = await kiln(project, ['run', '--debug']);
  t.is(debugRun.code, 2);
  t.regex(debugRun.stderr, /kiln run --debug needs a terminal/);
  const shell = await kiln(project, ['shell', 'build']);
  t.is(shell.code, 2);
  t.regex(shell.stderr, /kiln shell needs a terminal/);
  t.deepEqual(await leftOf(project), { containers: 0, volumes: [] }, 'nothing was made');
});

/** The events of the project's one run so far, from its events log (written as they come). */
async function loggedEvents(project: Project): Promise<Array<Record<string, any>>> {
  const runs = await readdir(join(project.stateDir, 'runs')).catch(() => [] as string[]);
  const texts = await Promise.all(
    runs.map((run) => readFile(join(project.stateDir, 'runs', run, 'events.jsonl'), 'utf8').catch(() => '')),
  );
  return texts
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, any>);
}

test("one shell at a time: a job that fails while another job's shell is open waits for it, its container kept", async (t) => {
  const job = (name: string) => `  ${name}:
    image: ${BUSYBOX}
    steps:
      - name: check-${name}
        run: echo "${name} was here" > /tmp/mark; exit ${name === 'one' ? 3 : 4}
`;
  const project = await makeProject(`version: 1\njobs:\n${job('one')}${job('two')}`);
  const pane = await inPane(t, project, ['run', '-i', '--concurrency', '2']);

  const first = await pane.until(/leave with exit or Ctrl-D[\s\S]*# ?$/m);
  const firstJob = /step check-(one|two) failed/.exec(first)![1]!;
  const secondJob = firstJob === 'one' ? 'two' : 'one';
  // The other job has failed too, and waits: one debug.shell so far, both containers there.
  let events: Array<Record<string, any>> = [];
  await waitFor(
    async () => {
      events = await loggedEvents(project);
      return events.filter((e) => e.type === 'step.end' && e.status === 'failed').length === 2;
    },
    30_000,
    () => JSON.stringify(events.map((e) => e.type)),
  );
  t.deepEqual(
    events.filter((e) => e.type === 'debug.shell').map((e) => e.job),
    [firstJob],
  );
  t.is((await leftOf(project)).containers, 2);
  t.is(first.match(/leave with exit/g)!.length, 1);

  await pane.type('cat /tmp/mark; exit');
  const second = await pane.until(
    new RegExp(`step check-${secondJob} failed[\\s\\S]*leave with exit[\\s\\S]*# ?$`, 'm'),
  );
  t.regex(second, new RegExp(`${firstJob} was here`));
  // The first job ended (and its container went) once its shell closed; its lines wait for the second.
  await waitFor(async () =>
    (await loggedEvents(project)).some((e) => e.type === 'job.end' && e.job === firstJob),
  );
  t.is((await leftOf(project)).containers, 1);
  await pane.type('cat /tmp/mark; exit');
  t.is(await pane.exitCode(), 1);
  t.regex(await pane.until(/terminal: /), new RegExp(`${secondJob} was here`));
  t.deepEqual(await leftOf(project), { containers: 0, volumes: [] });
});

const WITH_SECRET = `version: 1
secrets:
  token: { env: DEBUG_TEST_TOKEN }
jobs:
  deploy:
    image: ${BUSYBOX}
    steps:
      - name: push
        mounts:
          - { type: secret, id: token, env: TOKEN }
        run: test "$TOKEN" = nope
`;

test("the step's secrets are in the shell only with --debug=secrets", async (t) => {
  const project = await makeProject(WITH_SECRET);
  const env = { DEBUG_TEST_TOKEN: 's3cr3t-value' };
  const without = await inPane(t, project, ['run', '--debug'], env);
  await without.until(/secrets are not mounted[\s\S]*# ?$/m);
  await without.type('echo "token=[$TOKEN]"; ls /run/secrets; exit');
  t.is(await without.exitCode(), 1);
  t.regex(await without.until(/terminal: /), /token=\[\]\n/);

  const withSecrets = await inPane(t, project, ['run', '--debug=secrets'], env);
  await withSecrets.until(/secrets are mounted again[\s\S]*# ?$/m);
  await withSecrets.type('echo "token=[$TOKEN]"; cat /run/secrets/token; echo; exit');
  t.is(await withSecrets.exitCode(), 1);
  const end = await withSecrets.until(/terminal: /);
  t.regex(end, /token=\[s3cr3t-value\]\ns3cr3t-value\n/);
  t.deepEqual(await leftOf(project), { containers: 0, volumes: [] });
});

test('a SIGTERM to kiln while a shell is open hangs the shell up, releases everything and exits 130', async (t) => {
  const project = await makeProject(FAILING, { 'src/main.c': '' });
  const pane = await inPane(t, project, ['run', '--debug']);
  await pane.until(/leave with exit or Ctrl-D[\s\S]*# ?$/m);
  process.kill(await pane.kilnPid(), 'SIGTERM');
  t.is(await pane.exitCode(), 130);
  t.regex(await pane.until(/terminal: /), /terminal: icanon\n/);
  t.deepEqual(await leftOf(project), { containers: 0, volumes: [] });
});

test('kiln shell runs bash when the image has it', async (t) => {
  const project = await makeProject(`version: 1
jobs:
  cc:
    image: kiln-fixture/debian-gcc:bookworm
    steps:
      - run: gcc --version
`);
  const pane = await inPane(t, project, ['shell', 'cc']);
  await pane.until(/leave with exit or Ctrl-D/);
  await pane.type('echo "bash=[$BASH_VERSION]"; exit');
  t.is(await pane.exitCode(), 0);
  t.regex(await pane.until(/terminal: /), /bash=\[5\.[^\]]+\]/);
});

test("kiln run --debug keeps the job's services running for the shell, then releases them", async (t) => {
  const project = await makeProject(`version: 1
jobs:
  test:
    image: kiln-fixture/redis:bookworm
    services:
      db:
        image: kiln-fixture/redis:bookworm
        ports: [6379]
    steps:
      - name: write
        run: redis-cli -h db set greeting kept-for-the-shell && exit 5
`);
  const pane = await inPane(t, project, ['run', '--debug']);
  await pane.until(/step write failed with exit code 5[\s\S]*leave with exit or Ctrl-D/);
  await pane.type('echo "db=[$(redis-cli -h db get greeting)]"; exit');
  t.is(await pane.exitCode(), 1);
  t.regex(await pane.until(/terminal: /), /db=\[kept-for-the-shell\]/);
  t.deepEqual(await leftOf(project), { containers: 0, volumes: [] }, 'the service went with the job');
  const base = project.dir.split('/').pop()!.toLowerCase();
  const networks = await docker.listNetworks({ filters: { label: ['dev.kiln.managed=true'] } });
  t.deepEqual(
    networks.filter((n) => (n.Labels?.['dev.kiln.project'] ?? '').startsWith(base)).map((n) => n.Name),
    [],
  );
});
