/**
 * The shared job cache between two machines: the host's engine (A) and a second engine on its own data
 * root and network namespace (B, scripts/second-engine.sh), each with its own state folder, and a real
 * HTTP cache server (nginx with WebDAV, scripts/cache-server.sh). What B runs after A is what a CI
 * machine born empty runs after another: every cacheable job comes from the shared cache, no step runs,
 * and the exports are the same bytes. Faults of the server never fail a build.
 */
import test from 'ava';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BUSYBOX,
  eventsOf,
  jobCacheOf,
  kiln,
  resultVolumesOf,
  makeProject,
  startKilnUntil,
  sweepProjects,
  type KilnRun,
  type Project,
} from '../helpers/kiln-cli.js';
import { otherMachineHooks, startCacheServer, startSecondEngine } from '../helpers/other-machine.js';

otherMachineHooks(test);
test.after.always(sweepProjects);

const PROJECT = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    mounts: [{ type: bind, source: ./src, target: /src, readonly: true }]
    outputs: [{ path: /out, export: ./dist }]
    steps:
      - run: mkdir -p /out/bin && cp /src/*.txt /out/ && head -c 300000 /dev/urandom > /out/bin/blob && echo built
  check:
    mounts: [{ type: bind, from: build, source: /out, target: /in }]
    outputs: [/report]
    steps:
      - run: wc -c < /in/bin/blob > /report/size && cat /in/a.txt
`;

async function bytesOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const data = await readFile(join(dir, name)).catch(() => undefined);
    if (data) out[name] = data.toString('base64');
  }
  return out;
}

/** A run on a machine: its engine and its own state folder. */
function on(
  project: Project,
  machine: 'a' | 'b',
  dockerHost: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<KilnRun> {
  return kiln(project, ['run', '--json'], {
    KILN_STATE_DIR: join(project.dir, `.state-${machine}`),
    ...(dockerHost ? { DOCKER_HOST: dockerHost } : {}),
    ...env,
  });
}

test.serial(
  'engine B, born empty, runs no step of what engine A built, through the HTTP cache, and exports the same bytes',
  async (t) => {
    const b = await startSecondEngine();
    const server = await startCacheServer({ token: 'ci-token-123' });
    const project = await makeProject(PROJECT, { 'src/a.txt': 'alpha\n' });
    const env = { KILN_CACHE_URL: `${server.url}/m1`, KILN_CACHE_TOKEN: 'ci-token-123' };
    const onA = await on(project, 'a', undefined, env);
    t.is(onA.code, 0, onA.stderr);
    const exported = await bytesOf(join(project.dir, 'dist'));
    t.false(onA.stdout.includes('ci-token-123'), 'the token is never shown');

    await writeFile(join(project.dir, 'dist', 'a.txt'), 'clobbered\n');
    const onB = await on(project, 'b', b.dockerHost, env);
    t.is(onB.code, 0, onB.stderr);
    t.deepEqual(eventsOf(onB, 'step.start'), [], 'no step runs on engine B');
    t.deepEqual(
      [...jobCacheOf(onB).values()].map((e) => [e.job, e.result, e.source]),
      [
        ['build', 'hit', 'remote'],
        ['check', 'hit', 'remote'],
      ],
    );
    t.deepEqual(await bytesOf(join(project.dir, 'dist')), exported, 'the export has the same bytes');
    const volumesOnB = await resultVolumesOf(project, b.docker);
    t.is(
      volumesOnB.length,
      1,
      "build's exported output was downloaded; check's, which nothing mounts, was not",
    );
  },
);

test.serial('the folder backend carries results from engine A to engine B the same way', async (t) => {
  const b = await startSecondEngine();
  const project = await makeProject(PROJECT, { 'src/a.txt': 'folder\n' });
  const env = { KILN_CACHE_URL: join(project.dir, 'shared') };
  t.is((await on(project, 'a', undefined, env)).code, 0);
  const exported = await bytesOf(join(project.dir, 'dist'));
  const onB = await on(project, 'b', b.dockerHost, env);
  t.is(onB.code, 0, onB.stderr);
  t.deepEqual(eventsOf(onB, 'step.start'), []);
  t.deepEqual(await bytesOf(join(project.dir, 'dist')), exported);
});

test.serial(
  'a corrupted blob on the server is never used: engine B warns, runs the job, and exports the right bytes',
  async (t) => {
    const b = await startSecondEngine();
    const server = await startCacheServer();
    const project = await makeProject(PROJECT, { 'src/a.txt': 'corrupt\n' });
    const env = { KILN_CACHE_URL: `${server.url}/m3` };
    t.is((await on(project, 'a', undefined, env)).code, 0);
    const exported = await bytesOf(join(project.dir, 'dist'));
    for (const entry of (await server.entries()).filter((e) => e.includes('m3/cas/')))
      await server.corrupt(entry);
    const onB = await on(project, 'b', b.dockerHost, env);
    t.is(onB.code, 0, onB.stderr);
    t.is(jobCacheOf(onB).get('build')?.result, 'miss');
    t.true(eventsOf(onB, 'warning').some((w) => /does not match its sha256/.test(w.message)));
    t.deepEqual(Object.keys(await bytesOf(join(project.dir, 'dist'))), Object.keys(exported));
    t.is(await readFile(join(project.dir, 'dist/a.txt'), 'utf8'), 'corrupt\n');
  },
);

test.serial('entries signed with another key are ignored by engine B', async (t) => {
  const b = await startSecondEngine();
  const server = await startCacheServer();
  const project = await makeProject(PROJECT, { 'src/a.txt': 'signed\n' });
  const url = `${server.url}/m4`;
  t.is(
    (await on(project, 'a', undefined, { KILN_CACHE_URL: url, KILN_CACHE_SIGNING_KEY: 'team-key' })).code,
    0,
  );
  const onB = await on(project, 'b', b.dockerHost, {
    KILN_CACHE_URL: url,
    KILN_CACHE_SIGNING_KEY: 'attacker-key',
    KILN_CACHE_READONLY: '1',
  });
  t.is(onB.code, 0, onB.stderr);
  t.is(jobCacheOf(onB).get('build')?.result, 'miss');
  t.true(eventsOf(onB, 'warning').some((w) => /signature does not match/.test(w.message)));
});

test.serial('a server answering 500 is one warning for the run, and the build passes', async (t) => {
  const server = await startCacheServer();
  const project = await makeProject(PROJECT, { 'src/a.txt': 'five hundred\n' });
  await server.failWith500(true);
  try {
    const run = await on(project, 'a', undefined, { KILN_CACHE_URL: `${server.url}/m5` });
    t.is(run.code, 0, run.stderr);
    const warnings = eventsOf(run, 'warning').filter((w) => /shared cache/.test(w.message));
    t.is(warnings.length, 1, warnings.map((w) => w.message).join('\n'));
    t.regex(warnings[0]!.message, /answered 500/);
  } finally {
    await server.failWith500(false);
  }
});

test.serial(
  'a server that goes away mid-run is one warning, the build passes, and nothing half-uploaded reads as a hit',
  async (t) => {
    const server = await startCacheServer();
    const project = await makeProject(
      `${PROJECT}  late:
    needs: [check]
    mounts: [{ type: bind, source: ./ctl, target: /ctl, readonly: true, exclude: [go] }]
    outputs: [/late]
    steps:
      - run: 'echo waiting; until [ -e /ctl/go ]; do sleep 0.1; done; echo late > /late/file'
`,
      { 'src/a.txt': 'gone\n', 'ctl/README': 'control\n' },
    );
    const env = {
      KILN_STATE_DIR: join(project.dir, '.state-a'),
      KILN_CACHE_URL: `${server.url}/m6`,
    };
    const started = await startKilnUntil(project, ['run', '--json'], 'waiting', env);
    await server.stop();
    await writeFile(join(project.dir, 'ctl/go'), '');
    const run = await started.done;
    await server.start();
    t.is(run.code, 0, run.stderr);
    const warnings = eventsOf(run, 'warning').filter((w) => /shared cache/.test(w.message));
    t.is(warnings.length, 1, warnings.map((w) => w.message).join('\n'));
    // Another machine finds what was uploaded before the server went, and runs what was not.
    const b = await startSecondEngine();
    const onB = await kiln(project, ['run', '--json'], {
      KILN_STATE_DIR: join(project.dir, '.state-b'),
      DOCKER_HOST: b.dockerHost,
      KILN_CACHE_URL: `${server.url}/m6`,
    });
    t.is(onB.code, 0, onB.stderr);
    t.is(jobCacheOf(onB).get('late')?.result, 'miss', 'the job whose upload never happened runs');
  },
);
