/**
 * The programmatic API as the README shows it: the builder, compiled and run on the real engine.
 */
import test from 'ava';
import { job, pipeline, run, step, cache, type KilnEvent } from '../../src/index.js';
import { BUSYBOX, sweepProjects, makeProject } from '../helpers/kiln-cli.js';

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
