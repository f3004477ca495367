/**
 * What the README shows, taken from the README itself and run as written on the real engine: the first
 * step file, the tour's example project and the code example.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { kiln, makeProject, repoRoot, sweepProjects, type KilnRun } from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

/** The first code block of `language` after the README heading `heading`. */
function readmeBlock(heading: string, language: string): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const at = readme.indexOf(`${heading}\n`);
  if (at < 0) throw new Error(`the README has no heading "${heading}"`);
  const block = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(readme.slice(at))?.[1];
  if (block === undefined) throw new Error(`no ${language} code block under "${heading}" in the README`);
  return block;
}

test("the README's first step file validates and runs", async (t) => {
  const project = await makeProject(readmeBlock('## A first step file', 'yaml'), {
    'hello.c': 'int main(void) { return 0; }\n',
  });
  const validate = await kiln(project, ['validate']);
  t.is(validate.code, 0, validate.stderr);
  const run = await kiln(project, ['run', '--progress', 'plain']);
  t.is(run.code, 0, run.stdout.slice(-2000) + run.stderr);
  t.regex(run.stdout, /\[build\/compile\]\s+built/);
  t.regex(run.stdout, /\[build\/test\]\s+hello\.c/);
  t.regex(run.stdout, /\[publish\/step-1\]\s+argv form: no shell/);
});

test("the tour's example compiles and tests its C tools in a tmpfs, exports them, publishes them with a masked secret, and is cached the second time", async (t) => {
  const project = await makeProject('version: 1\njobs: {}\n');
  await cp(join(repoRoot, 'fixtures', 'example'), project.dir, { recursive: true });
  const token = `tour-token-${process.pid}`;
  const runs = [];
  for (let i = 0; i < 2; i++) {
    const run = await kiln(project, ['run', '--progress', 'plain'], { EXAMPLE_PUBLISH_TOKEN: token });
    t.is(run.code, 0, run.stdout.slice(-3000) + run.stderr);
    runs.push(run);
  }
  const [first, second] = runs as [KilnRun, KilnRun];
  t.regex(first.stdout, /\[build\/compile\]\s+cc .*-o \/build\/bin\/greet/);
  t.regex(first.stdout, /\[build\/test\]\s+ok {3}wordcount/);
  t.regex(first.stdout, /\[build\/report\]\s+in \/out: greet wordcount/, 'the always() step reports');
  for (const opt of ['O0', 'O3']) {
    t.regex(
      first.stdout,
      new RegExp(`\\[warnings \\(opt=${opt}\\)/compile\\]\\s+cc -${opt} -Wall`),
      'one job per level',
    );
  }
  t.regex(second.stdout, /\[warnings \(opt=O3\)\]\s+cached/);
  t.regex(first.stdout, /\[publish\/upload\]\s+publishing 2 tools with token \*\*\*/);
  t.false(first.stdout.includes(token), 'the secret never shows');
  const greet = await stat(join(project.dir, 'dist', 'greet'));
  t.is(greet.mode & 0o111, 0o111, 'the exported tool is executable');
  t.is(greet.uid, process.getuid!(), "the export is the user's");
  // The second run: build is found in the job cache (kiln's state folder and the export inside the
  // bound project folder do not change its key); publish, which has a secret, runs again.
  t.regex(second.stdout, /\[build\]\s+cached \(key sha256:[0-9a-f]{12}…\)/);
  t.notRegex(second.stdout, /\[build\/compile\]/);
  t.regex(second.stdout, /\[publish\/upload\]\s+publishing 2 tools with token \*\*\*/);
  await writeFile(
    join(project.dir, 'src', 'greet.c'),
    `/* a comment */\n${await readFile(join(project.dir, 'src', 'greet.c'), 'utf8')}`,
  );
  const third = await kiln(project, ['run', '--progress', 'plain'], { EXAMPLE_PUBLISH_TOKEN: token });
  t.is(third.code, 0, third.stdout.slice(-3000) + third.stderr);
  t.regex(third.stdout, /\[build\]\s+cache miss: src\/greet\.c changed/);
});

test("the README's code example runs as written and passes", async (t) => {
  const snippet = readmeBlock('### The same graph in code', 'ts');
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
