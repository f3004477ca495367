/**
 * What the loader refuses before it can blow up: files that are not regular files or are too large,
 * aliases that expand without end, nesting without end; and files with very many faults, which are
 * explained in time linear in their size. (Serial: several tests time what they do.)
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_ALIASES } from '../../src/definition/alias-budget.js';
import { readFast } from '../../src/definition/fast-read.js';
import { loadDefinitionFile, loadDefinitionText, MAX_STEP_FILE_BYTES } from '../../src/definition/loader.js';
import { packageRoot } from '../../src/definition/schema.js';
import { formatDiagnostics } from '../../src/cli/report-error.js';
import { DefinitionError, type Diagnostic } from '../../src/errors.js';
import { compile } from '../../src/graph/compile.js';

const VALID = 'version: 1\njobs:\n  a:\n    image: kiln-fixture/busybox:latest\n    steps: [{ run: make }]\n';

async function tempDir(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-limits-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The error of a promise that must settle within `ms` (a read that never ends fails the test). */
async function failsWithin(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(new Error(`still loading after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => new Error('loaded without error'),
        (e: unknown) => e,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function messagesOf(error: unknown): string[] {
  if (!(error instanceof DefinitionError)) throw error;
  return error.diagnostics.map((d) => d.message);
}

function textProblems(text: string): readonly Diagnostic[] {
  try {
    loadDefinitionText(text, 'kiln.yaml');
  } catch (error) {
    if (error instanceof DefinitionError) return error.diagnostics;
    throw error;
  }
  throw new Error('the text loaded without error');
}

for (const device of ['/dev/zero', '/dev/urandom']) {
  test.serial(`${device} is refused as a step file before it is read`, async (t) => {
    const error = await failsWithin(loadDefinitionFile(device), 2000);
    t.deepEqual(messagesOf(error), [
      `${device} is a device, not a regular file; kiln reads step files from regular files only`,
    ]);
    t.is((error as DefinitionError).exitCode, 2);
  });
}

test.serial('a FIFO is refused as a step file without waiting for a writer', async (t) => {
  const fifo = join(await tempDir(t), 'kiln.yaml');
  execFileSync('mkfifo', [fifo]);
  const error = await failsWithin(loadDefinitionFile(fifo), 2000);
  t.deepEqual(messagesOf(error), [
    `${fifo} is a FIFO (named pipe), not a regular file; kiln reads step files from regular files only`,
  ]);
});

test.serial('a step file larger than 4 MiB is refused, naming the file and the limit', async (t) => {
  const file = join(await tempDir(t), 'kiln.yaml');
  await writeFile(file, VALID + `# ${'x'.repeat(78)}\n`.repeat(Math.ceil(MAX_STEP_FILE_BYTES / 80) + 10));
  const error = await failsWithin(loadDefinitionFile(file), 5000);
  t.deepEqual(messagesOf(error), [
    `${file} is larger than 4 MiB, the most kiln reads of a step file; is it the right file?`,
  ]);
});

test.serial('a step file of exactly 4 MiB is read', async (t) => {
  const file = join(await tempDir(t), 'kiln.yaml');
  const padding = MAX_STEP_FILE_BYTES - VALID.length;
  await writeFile(file, VALID + `#${' '.repeat(padding - 2)}\n`);
  const definition = await loadDefinitionFile(file);
  t.deepEqual(Object.keys(definition.jobs), ['a']);
});

test.serial(
  'an alias bomb of nine levels of nine aliases is refused in well under a second, at the alias',
  (t) => {
    const text = readFileSync(join(packageRoot(), 'fixtures', 'invalid', 'alias-bomb.yaml'), 'utf8');
    const started = performance.now();
    const problems = textProblems(text);
    const elapsed = performance.now() - started;
    t.log(`refused in ${elapsed.toFixed(0)} ms`);
    t.true(elapsed < 1000, `took ${elapsed} ms`);
    t.is(problems.length, 1);
    t.like(problems[0], { position: { file: 'kiln.yaml', line: 8, column: 11 } });
    t.regex(problems[0]!.message, /expand to more than 100000 values/);
  },
);

test.serial('templates merged with <<: *base into many jobs still load', (t) => {
  const lines = [
    'version: 1',
    'x-base: &base',
    '  image: kiln-fixture/busybox:latest',
    '  env: { A: "1", B: "2", C: "3", D: "4" }',
    '  mounts: [{ type: tmpfs, target: /t }, { type: cache, id: c, target: /c }]',
    'x-steps: &steps [{ run: make }, { name: test, run: [make, test] }]',
    'jobs:',
  ];
  for (let i = 0; i < 300; i++) lines.push(`  job-${i}:`, '    <<: *base', '    steps: *steps');
  const definition = loadDefinitionText(lines.join('\n'), 'kiln.yaml');
  t.is(Object.keys(definition.jobs).length, 300);
  t.deepEqual(definition.jobs['job-299']?.env, { A: '1', B: '2', C: '3', D: '4' });
});

test.serial(`more than ${MAX_ALIASES} aliases are refused at the first one too many`, (t) => {
  const lines = ['version: 1', 'x-one: &one 1', 'x-many:'];
  for (let i = 0; i <= MAX_ALIASES; i++) lines.push('  - *one');
  lines.push('jobs: { a: { image: busybox, steps: [{ run: x }] } }');
  const problems = textProblems(lines.join('\n'));
  t.is(problems.length, 1);
  t.like(problems[0], { position: { line: 4 + MAX_ALIASES, column: 5 } });
  t.regex(problems[0]!.message, /more than 1000 aliases/);
});

test.serial('lists nested beyond what the parser can take are one problem, not a crash', (t) => {
  const depth = 20_000;
  const problems = textProblems(
    `version: 1\nx-deep: ${'['.repeat(depth)}${']'.repeat(depth)}\n${VALID.slice(11)}`,
  );
  t.is(problems.length, 1);
  t.regex(problems[0]!.message, /nest more than 100 levels deep/);
});

test.serial('a file of a million stray brackets is refused in well under a second, reading stopped', (t) => {
  const started = performance.now();
  const problems = textProblems(`version: 1\n${']'.repeat(1_000_000)}\n`);
  const elapsed = performance.now() - started;
  t.true(elapsed < 1500, `took ${elapsed} ms`);
  t.is(problems.length, 51);
  t.like(problems[50], {
    message: 'too many YAML errors to go on: kiln stopped reading here (fix those before it first)',
    position: { line: 2, column: 50 },
  });
});

test.serial('a map used as a key prints no warning of the YAML package', async (t) => {
  const warnings: string[] = [];
  const listener = (warning: Error): void => void warnings.push(warning.message);
  process.on('warning', listener);
  try {
    loadDefinitionText(`${VALID}x-keys: { [a, b]: 1 }\n`, 'kiln.yaml');
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  } finally {
    process.off('warning', listener);
  }
  t.deepEqual(warnings, []);
});

test.serial('the fast reader tests long runs of blanks in linear time', (t) => {
  const text = `${VALID}x-blank: a${' '.repeat(200_000)}b\n`;
  const started = performance.now();
  t.not(readFast(text), undefined);
  const elapsed = performance.now() - started;
  t.true(elapsed < 1000, `took ${elapsed} ms`);
});

/** Milliseconds to load (and fail) the text made by `make(n)`, best of two. */
function loadTime(make: (n: number) => string, n: number): number {
  const text = make(n);
  let best = Infinity;
  for (let i = 0; i < 2; i++) {
    const started = performance.now();
    loadIgnoringProblems(text);
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

function loadIgnoringProblems(text: string): void {
  try {
    loadDefinitionText(text, 'kiln.yaml');
  } catch (error) {
    if (!(error instanceof DefinitionError)) throw error;
  }
}

const manyFaults = (n: number): string => {
  const lines = ['version: 1', 'jobs:', '  a:', '    image: kiln-fixture/busybox:latest', '    steps:'];
  for (let i = 0; i < n; i++) lines.push('      - run: 5', `        nmae${i}: x`);
  return `${lines.join('\n')}\n`;
};

test.serial(
  'a file with ten times the faults takes about ten times as long to explain, not a hundred',
  (t) => {
    loadTime(manyFaults, 500); // warm-up
    const small = loadTime(manyFaults, 2_000);
    const large = loadTime(manyFaults, 20_000);
    t.log(`2,000 faulty steps: ${small.toFixed(0)} ms; 20,000: ${large.toFixed(0)} ms`);
    t.true(large / small < 25, `${(large / small).toFixed(1)} times as long`);
  },
);

test.serial('a cycle through 20,000 jobs is a definition problem naming a dozen of them', (t) => {
  const jobs: Record<string, { needs: string[]; steps: { run: string }[] }> = {};
  for (let i = 0; i < 20_000; i++) jobs[`j${i}`] = { needs: [`j${(i + 1) % 20_000}`], steps: [{ run: 'x' }] };
  const error = t.throws(
    () => compile({ version: 1, projectDir: '/p', defaults: { image: 'busybox' }, jobs }),
    { instanceOf: DefinitionError },
  );
  t.is(
    error?.message,
    'jobs form a cycle through needs: j0 -> j1 -> j2 -> j3 -> j4 -> j5 -> j6 -> j7 -> j8 -> j9 -> j10 -> j11 ' +
      '-> ... (19988 more jobs) -> j0 (each needs the next); remove one of these needs',
  );
});

test.serial(
  'thousands of unknown needs among thousands of jobs are reported quickly, suggestions for the first',
  (t) => {
    const jobs: Record<string, { needs: string[]; steps: { run: string }[] }> = {};
    for (let i = 0; i < 3_000; i++) {
      jobs[`job-number-${i}`] = {
        needs: Array.from({ length: 10 }, (_, k) => `job-numbr-${i}${k}`),
        steps: [{ run: 'x' }],
      };
    }
    const started = performance.now();
    const error = t.throws(
      () => compile({ version: 1, projectDir: '/p', defaults: { image: 'busybox' }, jobs }),
      { instanceOf: DefinitionError },
    );
    const elapsed = performance.now() - started;
    t.log(`30,000 unknown needs: ${elapsed.toFixed(0)} ms`);
    t.is(error?.diagnostics.length, 30_000);
    t.regex(error!.diagnostics[0]!.message, /did you mean 'job-number-/);
    t.true(elapsed < 5000, `took ${elapsed} ms`);
  },
);

test.serial('the CLI shows the first 100 problems and says how many there are', (t) => {
  const diagnostics = Array.from({ length: 250 }, (_, i) => ({
    message: `problem ${i}`,
    position: { file: '/w/kiln.yaml', line: i + 1, column: 1 },
  }));
  const lines = formatDiagnostics(diagnostics, '/w').trimEnd().split('\n');
  t.is(lines.length, 101);
  t.is(lines[99], 'kiln.yaml:100:1: problem 99');
  t.is(lines[100], 'kiln: 250 problems, the first 100 shown');
});
