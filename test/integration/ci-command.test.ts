/**
 * `kiln ci` on the command line: its help, where it writes, and its refusals (exit 2, with the step
 * file's position for a bad step file). Starts no container.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { BUSYBOX, kiln, makeProject, sweepProjects } from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

const VALID = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build: { outputs: [/out], steps: [{ run: 'echo hi > /out/x' }] }
  test: { needs: [build], steps: [{ run: 'true' }] }
  other: { steps: [{ run: 'true' }] }
`;

test('kiln ci --help shows the systems, the options and examples; kiln --help lists ci', async (t) => {
  const project = await makeProject(VALID);
  const [help, top] = await Promise.all([kiln(project, ['ci', '--help']), kiln(project, ['--help'])]);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /^Usage: kiln ci \[options\] <system> \[jobs\.\.\.\]/);
  t.regex(help.stdout, /choices: "github", "gitlab", "buildkite"/);
  for (const option of ['--file', '--env', '--output', '--kiln', '--install', '--runs-on'])
    t.true(help.stdout.includes(option), option);
  t.regex(help.stdout, /Examples:\n  kiln ci github -o \.github\/workflows\/kiln\.yml/);
  t.regex(help.stdout, /kiln ci buildkite \| buildkite-agent pipeline upload/);
  t.regex(top.stdout, /^  ci /m);
});

test('kiln ci writes to stdout, or to --output (making its folder), with the named jobs and their needs', async (t) => {
  const project = await makeProject(VALID);
  const out = await kiln(project, ['ci', 'gitlab', 'test']);
  t.is(out.code, 0, out.stderr);
  t.deepEqual(
    Object.keys(parse(out.stdout) as object).filter((k) => !['stages', 'default'].includes(k)),
    ['build', 'test'],
  );
  t.is(out.stderr, '');
  const file = await kiln(project, ['ci', 'github', '-o', '.github/workflows/kiln.yml']);
  t.is(file.code, 0, file.stderr);
  t.is(file.stdout, '');
  const written = await readFile(join(project.dir, '.github/workflows/kiln.yml'), 'utf8');
  t.regex(written, /^# Written by: kiln ci github\n/);
  t.deepEqual(Object.keys((parse(written) as { jobs: object }).jobs), ['build', 'test', 'other']);
});

test('a bad step file is exit 2 with its position; an unknown job or system is exit 2', async (t) => {
  const project = await makeProject(`version: 1
jobs:
  build:
    image: ${BUSYBOX}
    needs: [nope]
    steps: [{ run: 'true' }]
`);
  const bad = await kiln(project, ['ci', 'github']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /^kiln\.yaml:5:\d+: .*nope/m);
  t.is(bad.stdout, '');
  const good = await makeProject(VALID);
  const unknown = await kiln(good, ['ci', 'buildkite', 'tset']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /no job named 'tset' in kiln\.yaml\. Did you mean test\?/);
  const system = await kiln(good, ['ci', 'jenkins']);
  t.is(system.code, 2);
  t.regex(system.stderr, /Allowed choices are github, gitlab, buildkite/);
});

test('a job mounting outputs of a job the cache does not take is written, with a warning naming both', async (t) => {
  const project = await makeProject(`version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  gen: { cache: false, outputs: [/o], steps: [{ run: 'true' }] }
  use: { mounts: [{ type: bind, from: gen, source: /o, target: /i }], steps: [{ run: 'true' }] }
  other: { needs: [gen], steps: [{ run: 'true' }] }
`);
  const run = await kiln(project, ['ci', 'buildkite']);
  t.is(run.code, 0, run.stderr);
  t.is(
    run.stderr,
    "kiln: warning: job 'use' mounts outputs of 'gen', which the job cache does not take (the job says " +
      "cache: false): on CI they cannot reach 'use', whose kiln run --only will refuse\n",
    'a need without a mount of its outputs is no problem',
  );
  t.regex(run.stdout, /key: use/);
});
