/**
 * kiln as a user who installed it gets it: the package `npm pack` makes, unpacked into a project's
 * node_modules (its dependencies linked from this checkout, as no registry is reachable), imported as
 * `from 'kiln'` by plain JavaScript and type-checked by TypeScript, and its command run from there.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { repoRoot } from '../helpers/kiln-cli.js';

const run = promisify(execFile);

test("an installed package's `from 'kiln'` works in JavaScript and TypeScript, and so does its bin", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-package-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { stdout: packed } = await run('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: repoRoot,
  });
  const [{ filename }] = JSON.parse(packed) as [{ filename: string }];

  const app = join(dir, 'app');
  const installed = join(app, 'node_modules', 'kiln');
  await mkdir(installed, { recursive: true });
  await run('tar', ['-xzf', join(dir, filename), '-C', installed, '--strip-components=1']);
  for (const name of await readdir(join(repoRoot, 'node_modules'))) {
    if (name !== 'kiln') await symlink(join(repoRoot, 'node_modules', name), join(app, 'node_modules', name));
  }
  await writeFile(join(app, 'package.json'), JSON.stringify({ type: 'module', private: true }));

  await writeFile(
    join(app, 'main.mjs'),
    `import { compile, createReporter, job, pipeline, step, KILN_VERSION } from 'kiln';
const definition = pipeline().withJob(job('a').withImage('busybox').withStep(step('hi', 'echo hi'))).toDefinition();
const reporter = createReporter({ mode: 'json', logDir: false });
console.log(JSON.stringify({
  version: KILN_VERSION,
  jobs: [...compile(definition).jobs.keys()],
  projectDir: definition.projectDir,
  reporter: typeof reporter.onEvent,
}));
`,
  );
  const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: app });
  t.like(JSON.parse(stdout), { jobs: ['a'], projectDir: app, reporter: 'function' });

  await writeFile(
    join(app, 'check.ts'),
    `import { pipeline, job, bind, type Definition, type KilnEvent } from 'kiln';
export const definition: Definition = pipeline()
  .withJob(job('a').withImage('busybox').withMount(bind('out', '/out', { keepOwner: true })).withStep('true'))
  .toDefinition();
export const first: KilnEvent['type'] = 'run.start';
`,
  );
  await writeFile(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
      },
      files: ['check.ts'],
    }),
  );
  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  await t.notThrowsAsync(run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app }));

  const { stdout: version } = await run(process.execPath, [join(installed, 'bin', 'kiln.js'), '--version'], {
    cwd: app,
  });
  t.regex(version, /\d+\.\d+\.\d+/);
});
