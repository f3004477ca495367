/**
 * Variables against the real engine: `${{ env.* }}` from env-passthrough and `--env`, `${{ job.name }}`
 * and `${{ run.id }}` reach the step; a job using run.id is never a job-cache hit.
 */
import test from 'ava';
import {
  BUSYBOX,
  eventsOf,
  jobCacheOf,
  kiln,
  makeProject,
  outputOf,
  sweepProjects,
} from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

const STEP_FILE = `
version: 1
env-passthrough: [KILN_TEST_LEVEL]
jobs:
  show:
    image: \${{ env.IMAGE }}
    env: { LEVEL: "\${{ env.KILN_TEST_LEVEL }}" }
    steps:
      - name: say
        run: echo "\${{ job.name }} $LEVEL \${{ env.CC }} \${{ run.id }}"
`;

test('variables from the host, --env, the job and the run reach the step, and run.id is never a hit', async (t) => {
  const project = await makeProject(STEP_FILE);
  const args = ['run', '--json', '--env', `IMAGE=${BUSYBOX}`, '--env', 'CC'];
  const env = { KILN_TEST_LEVEL: 'O2', CC: 'clang' };
  const first = await kiln(project, args, env);
  t.is(first.code, 0, first.stderr);
  const runId = eventsOf(first, 'run.start')[0]?.runId as string;
  t.is(outputOf(first, 'show', 'say'), `show O2 clang ${runId}\n`);

  const second = await kiln(project, args, env);
  t.is(second.code, 0, second.stderr);
  t.is(jobCacheOf(second).get('show')?.result, 'miss');
  const secondId = eventsOf(second, 'run.start')[0]?.runId as string;
  t.not(secondId, runId);
  t.is(outputOf(second, 'show', 'say'), `show O2 clang ${secondId}\n`);

  const missing = await kiln(project, ['run', '--env', `IMAGE=${BUSYBOX}`], env);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /kiln\.yaml:10:14: \$\{\{ env\.CC \}\}: unknown variable env\.CC/);
});

test('kiln validate and kiln graph take --env as kiln run does, so a file whose variables come from it checks', async (t) => {
  const project = await makeProject(
    `version: 1
jobs:
  build:
    image: \${{ env.BUILD_IMAGE }}
    steps: [{ run: 'true' }]
`,
  );
  const without = await kiln(project, ['validate']);
  t.is(without.code, 2);
  t.regex(without.stderr, /kiln\.yaml:4:12: .*env\.BUILD_IMAGE/);
  const withEnv = await kiln(project, ['validate', '--env', `BUILD_IMAGE=${BUSYBOX}`]);
  t.is(withEnv.code, 0, withEnv.stderr);
  const graph = await kiln(project, ['graph', '--format', 'json', '--env', `BUILD_IMAGE=${BUSYBOX}`]);
  t.is(graph.code, 0, graph.stderr);
  t.regex(graph.stdout, /kiln-fixture\/busybox:latest/);
});
