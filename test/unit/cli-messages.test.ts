/**
 * What the CLI says when something is wrong, without a Docker engine: engine faults by error code, the
 * runc warning, definition problems as FILE:LINE:COL lines, and unknown job names.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  DefinitionError,
  EngineUnavailableError,
  ExitCode,
  ImageNotFoundError,
  InfrastructureError,
  UsageError,
} from '../../src/errors.js';
import { displayPath, formatDiagnostics } from '../../src/cli/report-error.js';
import { loadGraph, selectNamedJobs } from '../../src/cli/load.js';
import { markAnswered, translate, unreachableError } from '../../src/runtime/docker-errors.js';
import { runcWarning } from '../../src/runtime/engine.js';
import { buildGraph } from '../helpers/graphs.js';

function netError(code: string, message = `connect ${code}`): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

let endpoints = 0;
/** A fresh endpoint per case, since "answered before" is remembered per endpoint. */
const freshEndpoint = () => `unix:///tmp/kiln-unit-${process.pid}-${++endpoints}.sock`;

const beforeTheRun = test.macro({
  async exec(t, code: string, expected: readonly RegExp[]) {
    const endpoint = freshEndpoint();
    const error = translate(netError(code), 'listing containers', endpoint);
    t.true(error instanceof EngineUnavailableError);
    t.is(error.exitCode, ExitCode.infrastructure);
    t.true(error.message.includes(endpoint), error.message);
    for (const pattern of expected) t.regex(error.message, pattern);
    t.notRegex(error.message, /went away/);
  },
  title: (_, code) => `an engine that never answered, ${code}, is named with what to do`,
});

test(beforeTheRun, 'ENOENT', [
  /there is no socket at \/tmp\/kiln-unit-/,
  /systemctl start docker/,
  /DOCKER_HOST/,
]);
test(beforeTheRun, 'ECONNREFUSED', [/connection was refused/, /Start the engine/, /DOCKER_HOST/]);
test(beforeTheRun, 'ETIMEDOUT', [/did not answer in time/]);
test(beforeTheRun, 'EACCES', [/permission denied/, /'docker' group/, /usermod -aG docker/]);

const duringTheRun = test.macro({
  async exec(t, error: Error) {
    const endpoint = freshEndpoint();
    markAnswered(endpoint);
    const translated = translate(error, 'reading a step output', endpoint);
    t.true(translated instanceof EngineUnavailableError);
    t.is(translated.exitCode, ExitCode.infrastructure);
    t.regex(
      translated.message,
      /the Docker engine at unix:\/\/\/tmp\/kiln-unit-\S+ went away during the run/,
    );
    t.regex(translated.message, /kiln prune/);
  },
  title: (_, error: Error) => `once the engine answered, ${error.message} means it went away`,
});

test(duringTheRun, netError('ECONNRESET', 'read ECONNRESET'));
test(duringTheRun, netError('EPIPE', 'write EPIPE'));
test(duringTheRun, netError('ECONNREFUSED', 'connect ECONNREFUSED'));
test(duringTheRun, netError('ENOENT', 'connect ENOENT'));
test(duringTheRun, new Error('socket hang up'));
test(duringTheRun, netError('ERR_STREAM_PREMATURE_CLOSE', 'Premature close'));

test('permission denied stays a permission problem even after the engine answered', (t) => {
  const endpoint = freshEndpoint();
  markAnswered(endpoint);
  t.regex(translate(netError('EACCES'), 'x', endpoint).message, /permission denied.*'docker' group/);
});

test('checking the engine again after it answered once says it cannot be reached, not that it went away', (t) => {
  const endpoint = freshEndpoint();
  markAnswered(endpoint);
  const error = unreachableError(endpoint, netError('ECONNREFUSED'), { answeredBefore: false });
  t.regex(error.message, /^cannot reach a Docker engine at/);
});

test('an engine that answers with an HTTP error is an infrastructure fault saying what kiln was doing', (t) => {
  const error = translate(
    Object.assign(new Error('(HTTP code 500) server error - no space left on device'), {
      statusCode: 500,
      json: { message: 'no space left on device' },
    }),
    'creating the container of job build',
    freshEndpoint(),
  );
  t.true(error instanceof InfrastructureError);
  t.is(error.exitCode, ExitCode.infrastructure);
  t.is(error.message, 'creating the container of job build: no space left on device');
});

const runc = test.macro({
  exec(t, version: string | undefined, warns: boolean) {
    const warning = runcWarning({
      version: '20.10.24',
      apiVersion: '1.41',
      ...(version ? { runcVersion: version } : {}),
    });
    if (!warns) return t.is(warning, undefined);
    t.regex(warning ?? '', new RegExp(`runc is ${version!.replace(/[.+]/g, '\\$&')}, older than 1\\.1\\.12`));
    t.regex(warning ?? '', /CVE-2024-21626/);
  },
  title: (_, version, warns) =>
    `runc ${version ?? '(not reported)'} ${warns ? 'is warned about' : 'is not warned about'}`,
});

test(runc, '1.1.5+ds1', true);
test(runc, 'v1.1.11', true);
test(runc, '1.0.0-rc93', true);
test(runc, '1.1.12', false);
test(runc, 'v1.2.0', false);
test(runc, undefined, false);

test('definition problems print as FILE:LINE:COL lines relative to the working folder, then a count', (t) => {
  const text = formatDiagnostics(
    [
      {
        message: "job 'build' needs 'nope', which is not a job",
        position: { file: '/p/ci/kiln.yaml', line: 6, column: 13 },
      },
      {
        message: 'jobs form a cycle: a -> b -> a',
        position: { file: '/elsewhere/kiln.yaml', line: 9, column: 3 },
      },
      { message: 'no jobs' },
    ],
    '/p',
  );
  t.is(
    text,
    "ci/kiln.yaml:6:13: job 'build' needs 'nope', which is not a job\n" +
      '/elsewhere/kiln.yaml:9:3: jobs form a cycle: a -> b -> a\n' +
      'kiln: no jobs\n' +
      'kiln: 3 problems\n',
  );
});

test('a single problem is one line, with no count', (t) => {
  t.is(
    formatDiagnostics([{ message: 'bad', position: { file: '/p/kiln.yaml', line: 1, column: 1 } }], '/p'),
    'kiln.yaml:1:1: bad\n',
  );
});

test('paths outside the working folder stay absolute; relative paths stay as typed', (t) => {
  t.is(displayPath('/a/b/kiln.yaml', '/a'), 'b/kiln.yaml');
  t.is(displayPath('/x/kiln.yaml', '/a'), '/x/kiln.yaml');
  t.is(displayPath('ci/kiln.yaml', '/a'), 'ci/kiln.yaml');
});

const graph = buildGraph({ build: [], test: ['build'], lint: [], deploy: ['test'] });

test('a mistyped job name is a usage error suggesting the closest job', (t) => {
  const error = t.throws(() => selectNamedJobs(graph, ['tset'], 'kiln.yaml'), { instanceOf: UsageError });
  t.is(error?.exitCode, ExitCode.usage);
  t.is(error?.message, "no job named 'tset' in kiln.yaml. Did you mean test?");
});

test('a job name close to none lists the jobs there are', (t) => {
  const error = t.throws(() => selectNamedJobs(graph, ['nosuchjob', 'biuld'], 'ci.yaml'), {
    instanceOf: UsageError,
  });
  t.is(
    error?.message,
    "no job named 'nosuchjob' in ci.yaml; its jobs are: build, test, lint, deploy\n" +
      "kiln: no job named 'biuld' in ci.yaml. Did you mean build?",
  );
});

test('named jobs select themselves and what they need', (t) => {
  t.deepEqual([...selectNamedJobs(graph, ['deploy'], 'kiln.yaml').jobs.keys()], ['build', 'test', 'deploy']);
  t.is(selectNamedJobs(graph, [], 'kiln.yaml'), graph);
});

test('kiln validate reports schema faults and needs problems of one file in one pass, in file order', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-validate-'));
  const file = join(dir, 'kiln.yaml');
  await writeFile(
    file,
    [
      'version: 1',
      'defaults: { image: kiln-fixture/busybox:latest }',
      'jobs:',
      '  build:',
      '    imagee: x',
      '    needs: [tset]',
      '    steps: [{ run: make }]',
      '  test:',
      '    needs: [lint]',
      '    steps: [{ run: make test }]',
      '  lint:',
      '    needs: [test, 3]',
      '    steps: [{ run: make lint }]',
      '  docs:',
      '    needs: build',
      '    steps: [{ run: make docs }]',
      '',
    ].join('\n'),
  );
  try {
    const error = await t.throwsAsync(loadGraph(file), { instanceOf: DefinitionError });
    t.deepEqual(
      error!.diagnostics.map((d) => `${d.position?.line}:${d.position?.column} ${d.message}`),
      [
        "5:5 unknown key 'imagee' in job 'build', did you mean 'image'? (allowed: image, workdir, env, user, shell, network, services, needs, if, mounts, timeout, reuse, default-mounts, outputs, cache, steps, matrix, fail-fast, extends)",
        "6:13 job 'build' needs 'tset', which is not a job (did you mean 'test'?)",
        '9:13 jobs form a cycle through needs: test -> lint -> test (each needs the next); remove one of these needs',
        "12:19 item 2 of 'needs' of job 'lint' must be a job name (quote it: \"3\"), not 3",
        "15:12 'needs' of job 'docs' must be a list of job names, not 'build'",
      ],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a missing fixture image names the script that builds it; another image, the ways to get it', (t) => {
  t.regex(
    new ImageNotFoundError('kiln-fixture/debian-gcc:bookworm', 'build').message,
    /^image kiln-fixture\/debian-gcc:bookworm \(job build\) is not present .*build it with: bash scripts\/build-fixtures\.sh debian-gcc$/,
  );
  t.regex(new ImageNotFoundError('node:20', 'test').message, /docker build, docker import\) or load it/);
});
