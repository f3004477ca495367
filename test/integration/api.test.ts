/**
 * The programmatic API as the README shows it: the builder, compiled and run on the real engine.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { job, pipeline, run, step, cache, type KilnEvent } from '../../src/index.js';
import { BUSYBOX, sweepProjects, makeProject, repoRoot } from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

test('a graph built in code runs on Docker and reports its events', async (t) => {
  const project = await makeProject('version: 1\njobs: {}\n');
  const build = job('build')
    .withImage(BUSYBOX)
    .withMount(cache('api-demo', '/cache'))
    .withStep(step('compile', 'echo compiled > /cache/out'));
  const check = job('check')
    .withImage(BUSYBOX)
    .withNeeds(build)
    .withStep(step('test', ['cat', '/etc/hostname']));
  const definition = pipeline({ projectDir: project.dir }).withJob(build).withJob(check).toDefinition();

  const events: KilnEvent[] = [];
  const result = await run(definition, {
    onEvent: (e) => events.push(e),
    env: { ...process.env, KILN_STATE_DIR: project.stateDir },
  });
  t.is(result.exitCode, 0);
  t.is(result.status, 'passed');
  const order = events.filter((e) => e.type === 'job.end').map((e) => (e as { job: string }).job);
  t.deepEqual(order, ['build', 'check']);
});

test("the README's code example runs as written and passes", async (t) => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### The same graph in code'));
  const snippet = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (snippet === undefined) return t.fail('no ts code block under "The same graph in code"');
  const project = await makeProject('version: 1\njobs: {}\n');
  // Inside the package, so that `from 'kiln'` resolves to it as it does for a user who installed it.
  const script = join(repoRoot, 'dist', `readme-example-${process.pid}.mjs`);
  await writeFile(script, snippet);
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [script], {
      cwd: project.dir,
      env: { ...process.env, KILN_STATE_DIR: project.stateDir },
    });
    const types = stdout.trim().split('\n');
    t.is(types[0], 'run.start');
    t.is(types.at(-1), 'run.end');
    t.is(types.filter((type) => type === 'job.end').length, 2);
  } finally {
    await rm(script, { force: true });
  }
});
