/**
 * What the three `kiln ci` documents share: one CI job per kiln job (matrix instances included), ids each
 * system accepts, needs mapped to those ids, and a command line that gives kiln back the job's name.
 */
import test from 'ava';
import { ciIds, ciJobs, runLine, shellQuote } from '../../src/ci/index.js';
import { selectNamedJobs } from '../../src/cli/load.js';
import { UsageError } from '../../src/errors.js';
import { diamond, matrix, PRINT_ARGS, shellWords } from '../helpers/ci-graphs.js';

test('one CI job per kiln job, in the graph order, with the needs of the diamond (a from: bind is one)', (t) => {
  const jobs = ciJobs(diamond(), 'github', {});
  t.deepEqual(
    jobs.map((j) => [j.id, j.needs]),
    [
      ['lint', []],
      ['build', []],
      ['test', ['lint', 'build']],
      ['package', ['test', 'build']],
    ],
  );
  t.is(jobs[2]!.run, 'npx kiln run test --only');
});

test('each matrix instance is a CI job of its own, and a job needing the matrix job needs every instance', (t) => {
  const jobs = ciJobs(matrix(), 'github', {});
  t.deepEqual(
    jobs.map((j) => j.name),
    ['build (cc=gcc, opt=O2)', "build (cc=it's $HOME, opt=O2)", 'docs.v2'],
  );
  t.deepEqual(
    jobs.map((j) => j.id),
    ['build_cc_gcc_opt_O2', 'build_cc_it_s_HOME_opt_O2', 'docs_v2'],
  );
  t.deepEqual(jobs[2]!.needs, ['build_cc_gcc_opt_O2', 'build_cc_it_s_HOME_opt_O2']);
  t.true(jobs[2]!.always, 'if: always() is carried to the CI job');
});

test('the command line gives kiln back the exact job name, however it must be quoted', (t) => {
  for (const name of ["build (cc=it's $HOME, opt=O2)", 'a "b" `c` \\d', 'plain-name.v2']) {
    t.deepEqual(shellWords(runLine(name, { kiln: PRINT_ARGS })), ['run', name, '--only'], name);
  }
});

test('the step file and --env values are passed on to each kiln run', (t) => {
  const line = runLine('test', { kiln: PRINT_ARGS, file: 'ci dir/kiln.yaml', env: ['MODE=a b', 'TAG'] });
  t.deepEqual(shellWords(line), [
    'run',
    'test',
    '--only',
    '-f',
    'ci dir/kiln.yaml',
    '--env',
    'MODE=a b',
    '--env',
    'TAG',
  ]);
  t.is(runLine('test', {}), 'npx kiln run test --only', 'the default step file is not named');
});

test('plain words are left unquoted, others single-quoted', (t) => {
  t.is(shellQuote('build'), 'build');
  t.is(shellQuote('a b'), "'a b'");
  t.is(shellQuote("it's"), `'it'\\''s'`);
  t.is(shellQuote(''), "''");
});

test('ids stay unique when two names clean up to the same id, and a valid name keeps its own', (t) => {
  const ids = ciIds('github', ['a_b', 'a.b', 'a b', '1st']);
  t.is(ids.get('a_b'), 'a_b');
  t.regex(ids.get('a.b')!, /^a_b_[0-9a-f]{8}$/);
  t.regex(ids.get('a b')!, /^a_b_[0-9a-f]{8}$/);
  t.not(ids.get('a.b'), ids.get('a b'));
  t.is(ids.get('1st'), '_1st', 'GitHub ids start with a letter or _');
  t.is(new Set(ids.values()).size, 4);
});

test('GitLab keeps kiln names but for its own keywords', (t) => {
  const ids = ciIds('gitlab', ['build (cc=gcc)', 'image', 'variables', 'test']);
  t.deepEqual([...ids.values()], ['build (cc=gcc)', 'kiln-image', 'kiln-variables', 'test']);
});

test('selecting jobs keeps them and what they need, and an unknown name is a usage error', (t) => {
  const selected = selectNamedJobs(diamond(), ['test'], 'kiln.yaml');
  t.deepEqual(
    ciJobs(selected, 'gitlab', {}).map((j) => [j.id, j.needs]),
    [
      ['lint', []],
      ['build', []],
      ['test', ['lint', 'build']],
    ],
  );
  const error = t.throws(() => selectNamedJobs(diamond(), ['tset'], 'kiln.yaml'));
  t.true(error instanceof UsageError);
  t.regex(error!.message, /Did you mean test/);
});
