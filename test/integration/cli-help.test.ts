/**
 * The real `kiln` binary on help, usage mistakes and definition errors: exit 0 for help, exit 2 with a
 * message a person can act on (a suggestion, the allowed values, FILE:LINE:COL) for everything else, and
 * never a stack trace. None of these reach the Docker engine.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import {
  BUSYBOX,
  kiln,
  kilnBin,
  makeProject,
  repoRoot,
  sweepProjects,
  type KilnRun,
} from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

const VALID = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    steps: [{ run: echo built }]
  test:
    needs: [build]
    steps: [{ run: echo tested }]
`;

/** Three problems the compiler finds: two unknown needs and a cycle. */
const BROKEN_GRAPH = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    needs: [nope]
    steps: [{ run: echo built }]
  test:
    needs: [build, zzz]
    steps: [{ run: echo tested }]
  c1: { needs: [c2], steps: [{ run: x }] }
  c2: { needs: [c1], steps: [{ run: x }] }
`;

/** Three problems the loader finds: a mistyped key, a bad duration, a number for a command. */
const BROKEN_FIELDS = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    imgae: x
    timeout: forever
    steps:
      - run: 5
`;

const STACK = /^\s+at .+:\d+:\d+\)?$/m;

function noStack(t: { notRegex: (s: string, r: RegExp, m?: string) => void }, run: KilnRun): void {
  t.notRegex(run.stderr, STACK, 'no stack trace without --debug');
  t.notRegex(run.stderr, /internal error/);
}

test('kiln --help lists the commands with examples and exit codes, exit 0', async (t) => {
  const project = await makeProject(VALID);
  const run = await kiln(project, ['--help']);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /^Usage: kiln \[options\] \[command\]/);
  for (const command of ['run', 'validate', 'graph', 'prune'])
    t.regex(run.stdout, new RegExp(`^  ${command} `, 'm'));
  t.regex(run.stdout, /Examples:\n  kiln run +run every job of \.\/kiln\.yaml/);
  t.regex(run.stdout, /Exit codes: 0 passed, 1 a step failed, 2 bad usage/);
  t.is(run.stderr, '');
});

test('kiln run --help and kiln help run show the options of run with examples, exit 0', async (t) => {
  const project = await makeProject(VALID);
  const [flag, word] = await Promise.all([kiln(project, ['run', '--help']), kiln(project, ['help', 'run'])]);
  for (const run of [flag, word]) {
    t.is(run.code, 0, run.stderr);
    t.regex(run.stdout, /^Usage: kiln run \[options\] \[jobs\.\.\.\]/);
    t.regex(run.stdout, /--keep-going/);
    t.regex(run.stdout, /--progress <mode> .*\(choices: "auto", "tty",\s+"plain", "json"/s);
    t.regex(
      run.stdout,
      /Examples:\n  kiln run  +run every job of \.\/kiln\.yaml\n  kiln run test -f ci\/kiln\.yaml  +run job "test"/,
    );
  }
  t.is(word.stdout, flag.stdout);
});

test('kiln --version and -v print the version of package.json, exit 0', async (t) => {
  const project = await makeProject(VALID);
  const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
    version: string;
  };
  for (const flag of ['--version', '-v']) {
    const run = await kiln(project, [flag]);
    t.is(run.code, 0, run.stderr);
    t.is(run.stdout, `${version}\n`);
  }
});

test('kiln with no command prints the help on stderr and exits 2', async (t) => {
  const project = await makeProject(VALID);
  const run = await kiln(project, []);
  t.is(run.code, 2);
  t.is(run.stdout, '');
  t.regex(run.stderr, /^Usage: kiln \[options\] \[command\]/);
  t.regex(run.stderr, /Commands:/);
});

const usageMistake = test.macro({
  async exec(t, args: readonly string[], expected: readonly RegExp[]) {
    const project = await makeProject(VALID);
    const run = await kiln(project, args);
    t.is(run.code, 2, run.stderr);
    t.is(run.stdout, '');
    for (const pattern of expected) t.regex(run.stderr, pattern);
    noStack(t, run);
  },
  title: (_, args: readonly string[]) => `kiln ${args.join(' ')} is a usage error, exit 2`,
});

test(usageMistake, ['rnu'], [/^kiln: unknown command 'rnu'\n\(Did you mean run\?\)/, /kiln --help/]);
test(usageMistake, ['help', 'vaildate'], [/unknown command 'vaildate'\n\(Did you mean validate\?\)/]);
test(
  usageMistake,
  ['run', '--keep-goin'],
  [/unknown option '--keep-goin'\n\(Did you mean --keep-going\?\)/, /\(run kiln run --help for usage\)/],
);
test(
  usageMistake,
  ['run', '--concurrency', '0'],
  [/'--concurrency <n>' argument '0' is invalid\. Allowed values are whole numbers from 1 up/],
);
test(
  usageMistake,
  ['run', '--concurrency', '2.5'],
  [/argument '2\.5' is invalid\. Allowed values are whole numbers from 1 up/],
);
test(
  usageMistake,
  ['run', '--progress', 'fancy'],
  [/argument 'fancy' is invalid\. Allowed choices are auto, tty, plain, json\./],
);
test(
  usageMistake,
  ['run', '--grace-period', '-1'],
  [/argument '-1' is invalid\. Allowed values are numbers of seconds from 0 to 2147483/],
);
test(
  usageMistake,
  ['run', '--grace-period', '3000000'],
  [/argument '3000000' is invalid\. Allowed values are numbers of seconds from 0 to 2147483/],
);
test(
  usageMistake,
  ['graph', '--format', 'png'],
  [/argument 'png' is invalid\. Allowed choices are dot, mermaid, json\./],
);
test(usageMistake, ['validate', 'extra'], [/too many arguments for 'validate'/, /kiln validate --help/]);
test(usageMistake, ['run', 'tset'], [/^kiln: no job named 'tset' in kiln\.yaml\. Did you mean test\?\n$/]);
test(
  usageMistake,
  ['run', 'nosuchjob'],
  [/^kiln: no job named 'nosuchjob' in kiln\.yaml; its jobs are: build, test\n$/],
);
test(usageMistake, ['run', '-f', 'missing.yaml'], [/missing\.yaml/]);

test('kiln validate names a file whose name holds control characters with them escaped', async (t) => {
  const name = 'ci/\u001b[2Jclear.yaml';
  const project = await makeProject(VALID, { [name]: VALID });
  const result = await kiln(project, ['validate', '-f', name]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, 'ci/\\x1b[2Jclear.yaml: ok (2 jobs)\n');
});

test('kiln validate on a valid file prints FILE: ok (N jobs), exit 0', async (t) => {
  const project = await makeProject(VALID, { 'ci/other.yaml': VALID.replace(/  test:[^]*$/, '') });
  const here = await kiln(project, ['validate']);
  t.is(here.code, 0, here.stderr);
  t.is(here.stdout, 'kiln.yaml: ok (2 jobs)\n');
  const other = await kiln(project, ['validate', '-f', 'ci/other.yaml']);
  t.is(other.code, 0, other.stderr);
  t.is(other.stdout, 'ci/other.yaml: ok (1 job)\n');
});

const definitionProblems = test.macro({
  async exec(t, command: 'validate' | 'run', yaml: string, lines: readonly string[]) {
    const project = await makeProject('', { 'ci/kiln.yaml': yaml });
    const run = await kiln(project, [command, '-f', 'ci/kiln.yaml']);
    t.is(run.code, 2, run.stderr);
    t.is(run.stdout, '');
    const printed = run.stderr.trimEnd().split('\n');
    t.is(printed.length, lines.length + 1, run.stderr);
    lines.forEach((line, i) => t.true(printed[i]!.startsWith(line), `line ${i + 1}: ${printed[i]}`));
    t.is(printed.at(-1), `kiln: ${lines.length} problems`);
    noStack(t, run);
  },
  title: (_, command, yaml) =>
    `kiln ${command} prints every ${yaml === BROKEN_GRAPH ? 'graph' : 'field'} problem as FILE:LINE:COL, exit 2`,
});

const GRAPH_LINES = [
  "ci/kiln.yaml:5:13: job 'build' needs 'nope', which is not a job",
  "ci/kiln.yaml:8:20: job 'test' needs 'zzz', which is not a job",
  'ci/kiln.yaml:10:',
];
const FIELD_LINES = [
  "ci/kiln.yaml:5:5: unknown key 'imgae'",
  "ci/kiln.yaml:6:14: 'timeout'",
  "ci/kiln.yaml:8:14: 'run'",
];

test(definitionProblems, 'validate', BROKEN_GRAPH, GRAPH_LINES);
test(definitionProblems, 'validate', BROKEN_FIELDS, FIELD_LINES);
test(definitionProblems, 'run', BROKEN_GRAPH, GRAPH_LINES);
test(definitionProblems, 'run', BROKEN_FIELDS, FIELD_LINES);

test('a cycle is named with the jobs on it', async (t) => {
  const project = await makeProject(BROKEN_GRAPH);
  const run = await kiln(project, ['validate']);
  t.is(run.code, 2);
  t.regex(run.stderr, /kiln\.yaml:10:\d+: .*cycle.*c1 -> c2 -> c1/);
});

test('invalid YAML is one FILE:LINE:COL line, exit 2', async (t) => {
  const project = await makeProject('version: 1\njobs:\n  a: [\n');
  const run = await kiln(project, ['validate']);
  t.is(run.code, 2);
  t.regex(run.stderr, /^kiln\.yaml:\d+:\d+: invalid YAML: /);
  t.is(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
  noStack(t, run);
});

test('--debug adds the stack trace to a definition error', async (t) => {
  const project = await makeProject(BROKEN_FIELDS);
  const run = await kiln(project, ['--debug', 'validate']);
  t.is(run.code, 2);
  t.regex(run.stderr, /^kiln\.yaml:5:5: unknown key 'imgae'/);
  t.regex(run.stderr, /DefinitionError: /);
  t.regex(run.stderr, STACK);
});

test('kiln graph piped into a reader that stops early ends quietly, not with a crash', async (t) => {
  const jobs = Array.from(
    { length: 3000 },
    (_, i) => `  job-with-a-long-name-${i}: { steps: [{ run: 'true' }] }`,
  );
  const project = await makeProject(
    `version: 1\ndefaults: { image: ${BUSYBOX} }\njobs:\n${jobs.join('\n')}\n`,
  );
  // A shell pipe, as a user has it: head reads 10 bytes of ~300 KB and closes its end.
  const script = '"$0" "$1" graph | head -c 10 > /dev/null; echo "kiln exited ${PIPESTATUS[0]}" >&2';
  const result = await new Promise<string>((resolve) => {
    const child = spawn('bash', ['-c', script, process.execPath, kilnBin], {
      cwd: project.dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', () => resolve(stderr));
  });
  t.is(result, 'kiln exited 0\n');
});
