/**
 * The shared job cache with the folder backend, through the CLI: a run with an empty state folder (another
 * machine's, as far as the local store knows) finds every cacheable job in the shared cache, runs none of
 * their steps and exports the same bytes; a corrupted blob, a wrong signature and a read-only cache behave
 * as documented, and a cache that fails never fails the build.
 */
import test from 'ava';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BUSYBOX,
  eventsOf,
  kiln,
  makeProject,
  outputOf,
  resultVolumesOf,
  sweepProjects,
  type KilnRun,
  type Project,
} from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

const PROJECT = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    mounts: [{ type: bind, source: ./src, target: /src, readonly: true, exclude: [dist] }]
    outputs: [{ path: /out, export: ./dist }]
    steps:
      - run: mkdir -p /out/bin && cp /src/*.txt /out/ && printf '#!/bin/sh\\necho tool\\n' > /out/bin/tool && chmod 755 /out/bin/tool && echo built
  check:
    mounts: [{ type: bind, from: build, source: /out, target: /in }]
    steps:
      - run: cat /in/a.txt
`;

function cacheOf(run: KilnRun, job: string): Record<string, any> | undefined {
  return eventsOf(run, 'job.cache').find((e) => e.job === job);
}

/** A run with its own state folder: as far as the local store goes, another machine. */
function runOn(
  project: Project,
  machine: string,
  env: NodeJS.ProcessEnv,
  ...args: string[]
): Promise<KilnRun> {
  return kiln(project, ['run', '--json', ...args], {
    KILN_STATE_DIR: join(project.dir, `.state-${machine}`),
    ...env,
  });
}

async function filesOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const data = await readFile(join(dir, name)).catch(() => undefined);
    if (data) out[name] = data.toString('base64');
  }
  return out;
}

test('a second machine finds every cacheable job in a shared folder: no step runs, and the export has the same bytes', async (t) => {
  const project = await makeProject(PROJECT, { 'src/a.txt': 'alpha\n' });
  const shared = join(project.dir, 'shared-cache');
  const env = { KILN_CACHE_URL: shared };
  const first = await runOn(project, 'a', env);
  t.is(first.code, 0, first.stderr);
  t.true((await readdir(join(shared, 'ac'))).length >= 1, 'entries were uploaded');
  t.true((await readdir(join(shared, 'cas'))).length >= 1, 'blobs were uploaded');
  const exported = await filesOf(join(project.dir, 'dist'));

  const second = await runOn(project, 'b', env);
  t.is(second.code, 0, second.stderr);
  t.deepEqual(eventsOf(second, 'step.start'), [], 'no step runs on the second machine');
  t.like(cacheOf(second, 'build'), { result: 'hit', source: 'remote' });
  t.like(cacheOf(second, 'check'), { result: 'hit', source: 'remote' });
  t.deepEqual(await filesOf(join(project.dir, 'dist')), exported, 'the export is byte for byte the same');
  t.is(await readFile(join(project.dir, 'dist/a.txt'), 'utf8'), 'alpha\n');

  const third = await runOn(project, 'b', env);
  t.like(cacheOf(third, 'build'), { result: 'hit', source: 'local' }, 'the download was sealed locally');
});

test('a corrupted blob is never used: a warning, a miss, and the job runs and passes', async (t) => {
  const project = await makeProject(PROJECT, { 'src/a.txt': 'alpha\n' });
  const shared = join(project.dir, 'shared-cache');
  const env = { KILN_CACHE_URL: shared };
  t.is((await runOn(project, 'a', env)).code, 0);
  for (const blob of await readdir(join(shared, 'cas'))) {
    const path = join(shared, 'cas', blob);
    const data = await readFile(path);
    const at = data.length - 10;
    data.writeUInt8(data.readUInt8(at) ^ 0xff, at);
    await writeFile(path, data);
  }
  const second = await runOn(project, 'b', env);
  t.is(second.code, 0, second.stderr);
  t.is(cacheOf(second, 'build')?.result, 'miss');
  t.true(eventsOf(second, 'warning').some((w) => /does not match its sha256/.test(w.message)));
  t.true(
    eventsOf(second, 'step.start').some((e) => e.job === 'build'),
    'the job ran',
  );
});

test('with a signing key, entries signed with another key are ignored; the same key is trusted', async (t) => {
  const project = await makeProject(PROJECT, { 'src/a.txt': 'alpha\n' });
  const shared = join(project.dir, 'shared-cache');
  t.is((await runOn(project, 'a', { KILN_CACHE_URL: shared, KILN_CACHE_SIGNING_KEY: 'key-one' })).code, 0);
  // Read-only, as an untrusted build would be: its own result does not replace the entry.
  const wrong = await runOn(project, 'b', {
    KILN_CACHE_URL: shared,
    KILN_CACHE_SIGNING_KEY: 'key-two',
    KILN_CACHE_READONLY: '1',
  });
  t.is(wrong.code, 0, wrong.stderr);
  t.is(cacheOf(wrong, 'build')?.result, 'miss');
  t.true(
    eventsOf(wrong, 'warning').some((w) => /signature does not match KILN_CACHE_SIGNING_KEY/.test(w.message)),
  );
  t.false(wrong.stdout.includes('key-two'), 'the key is never shown');
  const right = await runOn(project, 'c', { KILN_CACHE_URL: shared, KILN_CACHE_SIGNING_KEY: 'key-one' });
  t.like(cacheOf(right, 'build'), { result: 'hit', source: 'remote' });
});

test('a read-only shared cache is looked up and never written', async (t) => {
  const project = await makeProject(PROJECT, { 'src/a.txt': 'alpha\n' });
  const shared = join(project.dir, 'shared-cache');
  const run = await runOn(project, 'a', { KILN_CACHE_URL: shared, KILN_CACHE_READONLY: '1' });
  t.is(run.code, 0, run.stderr);
  t.deepEqual(await readdir(shared).catch(() => []), []);
});

test('a shared cache that cannot be written is one warning for the run, and the build passes', async (t) => {
  const project = await makeProject(PROJECT, { 'src/a.txt': 'alpha\n' });
  // A file where the folder should be: every write fails.
  const shared = join(project.dir, 'not-a-folder');
  await writeFile(shared, 'x');
  const run = await runOn(project, 'a', { KILN_CACHE_URL: join(shared, 'cache') });
  t.is(run.code, 0, run.stderr);
  const warnings = eventsOf(run, 'warning').filter((w) => /shared cache/.test(w.message));
  t.is(warnings.length, 1, warnings.map((w) => w.message).join('\n'));
  t.regex(warnings[0]!.message, /this run goes on without it/);
});

test('a result in the shared cache is downloaded only when a job that runs mounts it, or it is exported', async (t) => {
  const project = await makeProject(
    `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    mounts: [{ type: bind, source: ./src, target: /src, readonly: true }]
    outputs: [/out]
    steps: [{ run: cp /src/a.txt /out/ }]
  pack:
    mounts: [{ type: bind, from: build, source: /out, target: /in }]
    outputs: [/packed]
    steps: [{ run: cp /in/a.txt /packed/ }]
  show:
    cache: false
    mounts: [{ type: bind, from: pack, source: /packed, target: /in }]
    steps: [{ run: cat /in/a.txt }]
`,
    { 'src/a.txt': 'lazy\n' },
  );
  const shared = join(project.dir, 'shared-cache');
  const env = { KILN_CACHE_URL: shared };
  t.is((await runOn(project, 'a', env)).code, 0);
  const resultVolumes = async () => (await resultVolumesOf(project)).length;
  const before = await resultVolumes();
  const onB = await runOn(project, 'b', env);
  t.is(onB.code, 0, onB.stderr);
  t.like(cacheOf(onB, 'build'), { result: 'hit', source: 'remote' });
  t.like(cacheOf(onB, 'pack'), { result: 'hit', source: 'remote' });
  t.is(outputOf(onB, 'show', 'step-1'), 'lazy\n', 'show, which runs, gets pack downloaded');
  t.is(
    await resultVolumes(),
    before + 1,
    "only pack's output was downloaded: nothing ran that mounts build's",
  );
});
