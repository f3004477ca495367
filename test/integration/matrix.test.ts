/**
 * The matrix against the real engine: a 2x2 matrix runs four named jobs, each seeing its own values (as
 * `KILN_MATRIX_CC` and `${{ matrix.opt }}`), a job that needs the matrix job starts after all of them,
 * and `kiln run <instance>` runs one alone.
 */
import test from 'ava';
import { BUSYBOX, eventsOf, kiln, makeProject, outputOf, sweepProjects } from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

const stepFile = `
version: 1
jobs:
  build:
    image: ${BUSYBOX}
    matrix:
      cc: [gcc, clang]
      opt: [O0, O2]
    steps:
      - name: show
        run: echo "$KILN_MATRIX_CC \${{ matrix.opt }}"
  report:
    image: ${BUSYBOX}
    needs: [build]
    steps:
      - run: echo done
`;

const instances = [
  'build (cc=gcc, opt=O0)',
  'build (cc=gcc, opt=O2)',
  'build (cc=clang, opt=O0)',
  'build (cc=clang, opt=O2)',
];

test('a 2x2 matrix runs four named jobs, each with its values, before the job that needs them', async (t) => {
  const project = await makeProject(stepFile);
  const run = await kiln(project, ['run', '--json']);
  t.is(run.code, 0, run.stderr);
  for (const name of instances) {
    const [, cc, opt] = /cc=(\w+), opt=(\w+)/.exec(name)!;
    t.is(outputOf(run, name, 'show'), `${cc} ${opt}\n`, name);
  }
  const ends = eventsOf(run, 'job.end').map((e) => e.job as string);
  t.deepEqual([...ends].sort(), [...instances, 'report'].sort());
  t.is(ends.at(-1), 'report');

  const one = await kiln(project, ['run', '--json', '--no-cache', 'build (cc=clang, opt=O2)']);
  t.is(one.code, 0, one.stderr);
  t.deepEqual(
    eventsOf(one, 'job.end').map((e) => e.job),
    ['build (cc=clang, opt=O2)'],
  );
});
