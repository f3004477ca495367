import { createHash } from 'node:crypto';
import test from 'ava';
import type { Defaults, Definition, JobSpec, StepSpec } from '../../src/definition/types.js';
import { compile, type CompiledJob } from '../../src/graph/index.js';

const IMAGE = 'kiln-fixture/busybox:latest';

function definition(jobs: Record<string, JobSpec>, rest: Partial<Definition> = {}): Definition {
  return { version: 1, projectDir: '/home/me/app', jobs, ...rest };
}

function onlyJob(
  defaults: Defaults | undefined,
  job: Partial<JobSpec>,
  step: Partial<StepSpec> = {},
): CompiledJob {
  const graph = compile(
    definition({ only: { steps: [{ run: 'true', ...step }], ...job } }, defaults ? { defaults } : {}),
  );
  return graph.jobs.get('only')!;
}

const merges = test.macro<[Defaults | undefined, Partial<JobSpec>, Partial<CompiledJob>]>(
  (t, defaults, job, expected) => {
    const compiled = onlyJob(defaults, job);
    const picked = Object.fromEntries(
      Object.keys(expected).map((key) => [key, compiled[key as keyof CompiledJob]]),
    );
    t.deepEqual(picked, expected);
  },
);

test('a job takes the image of the defaults', merges, { image: IMAGE }, {}, { image: IMAGE });
test(
  "a job's image wins over the defaults'",
  merges,
  { image: IMAGE },
  { image: 'other:1' },
  { image: 'other:1' },
);
test('the workdir defaults to /workspace', merges, { image: IMAGE }, {}, { workdir: '/workspace' });
test(
  "a job's relative workdir resolves against the defaults' workdir",
  merges,
  { image: IMAGE, workdir: '/src' },
  { workdir: 'sub/' },
  { workdir: '/src/sub' },
);
test(
  'user and network come from the defaults unless the job sets them',
  merges,
  { image: IMAGE, user: 'builder', network: 'none' },
  { user: '1000:1000' },
  { user: '1000:1000', network: 'none' },
);
test(
  'the shell defaults to /bin/sh -e -c, which stops at the first failing line',
  merges,
  { image: IMAGE },
  {},
  { shell: ['/bin/sh', '-e', '-c'] },
);
test(
  'shell: sh is the default shell',
  merges,
  { image: IMAGE },
  { shell: 'sh' },
  { shell: ['/bin/sh', '-e', '-c'] },
);
test(
  'shell: bash is bash with -e and pipefail',
  merges,
  { image: IMAGE },
  { shell: 'bash' },
  { shell: ['bash', '-e', '-o', 'pipefail', '-c'] },
);
test(
  'a shell list is used as given, so [/bin/sh, -c] opts out of -e',
  merges,
  { image: IMAGE, shell: ['/bin/sh', '-c'] },
  {},
  { shell: ['/bin/sh', '-c'] },
);
test(
  'a shell written as a string is split on whitespace',
  merges,
  { image: IMAGE, shell: '/bin/bash  -eu -c' },
  {},
  { shell: ['/bin/bash', '-eu', '-c'] },
);
test(
  "a job's shell list wins over the defaults'",
  merges,
  { image: IMAGE, shell: 'sh -c' },
  { shell: ['/bin/ash', '-c'] },
  { shell: ['/bin/ash', '-c'] },
);
test(
  'reuse: true means reuse under the derived name',
  merges,
  { image: IMAGE },
  { reuse: true },
  { reuse: {} },
);
test(
  'reuse with a name keeps the name',
  merges,
  { image: IMAGE },
  { reuse: { name: 'dev-box' } },
  { reuse: { name: 'dev-box' } },
);
test('no reuse is false', merges, { image: IMAGE }, { reuse: false }, { reuse: false });
test(
  'a job timeout is in milliseconds',
  merges,
  { image: IMAGE },
  { timeout: '1h30m' },
  { timeoutMs: 5_400_000 },
);

test('a string run is wrapped in the job shell and displayed as written', (t) => {
  const job = onlyJob({ image: IMAGE, shell: '/bin/bash -c' }, {}, { run: 'make -j2 && make test' });
  t.deepEqual(job.steps[0]!.argv, ['/bin/bash', '-c', 'make -j2 && make test']);
  t.is(job.steps[0]!.display, 'make -j2 && make test');
});

test('a string run with no shell set anywhere runs under /bin/sh -e -c', (t) => {
  const job = onlyJob({ image: IMAGE }, {}, { run: 'false\necho after' });
  t.deepEqual(job.steps[0]!.argv, ['/bin/sh', '-e', '-c', 'false\necho after']);
});

test("a step's shell wins over its job's for that step only", (t) => {
  const graph = compile(
    definition({
      j: {
        image: IMAGE,
        shell: ['/bin/sh', '-c'],
        steps: [
          { name: 'own', run: 'make', shell: 'bash' },
          { name: 'split', run: 'make', shell: '/bin/ash -e -c' },
          { name: 'job', run: 'make' },
          { name: 'argv', run: ['make'], shell: 'bash' },
        ],
      },
    }),
  );
  const job = graph.jobs.get('j')!;
  t.deepEqual(
    job.steps.map((s) => s.argv),
    [
      ['bash', '-e', '-o', 'pipefail', '-c', 'make'],
      ['/bin/ash', '-e', '-c', 'make'],
      ['/bin/sh', '-c', 'make'],
      ['make'],
    ],
  );
  t.deepEqual(job.shell, ['/bin/sh', '-c']);
});

test('a list run is the argv as is, displayed with shell quoting where needed', (t) => {
  const job = onlyJob({ image: IMAGE }, {}, { run: ['printf', '%s\n', "it's", 'a b', ''] });
  t.deepEqual(job.steps[0]!.argv, ['printf', '%s\n', "it's", 'a b', '']);
  t.is(job.steps[0]!.display, `printf '%s\n' 'it'\\''s' 'a b' ''`);
});

test('env layers: defaults, then the job, then the step', (t) => {
  const job = onlyJob(
    { image: IMAGE, env: { A: 'defaults', B: 'defaults', C: 'defaults' } },
    { env: { B: 'job', C: 'job' } },
    { env: { C: 'step' } },
  );
  t.deepEqual(job.env, { A: 'defaults', B: 'job', C: 'job' });
  t.deepEqual(job.steps[0]!.env, { A: 'defaults', B: 'job', C: 'step' });
});

test('step workdirs resolve against the job workdir; absolute ones stay', (t) => {
  const graph = compile(
    definition({
      j: {
        image: IMAGE,
        workdir: '/src',
        steps: [
          { run: 'a' },
          { run: 'b', workdir: 'build' },
          { run: 'c', workdir: '../out/' },
          { run: 'd', workdir: '/tmp' },
        ],
      },
    }),
  );
  t.deepEqual(
    graph.jobs.get('j')!.steps.map((s) => s.workdir),
    ['/src', '/src/build', '/out', '/tmp'],
  );
});

test('steps are named step-<n> from 1 unless named, and keep user, timeout and allowFailure', (t) => {
  const graph = compile(
    definition({
      j: {
        image: IMAGE,
        user: 'builder',
        steps: [{ run: 'a' }, { name: 'test', run: 'b', user: 'root', timeout: 90, allowFailure: true }],
      },
    }),
  );
  const [first, second] = graph.jobs.get('j')!.steps;
  t.like(first, { index: 0, name: 'step-1', user: 'builder', allowFailure: false });
  t.is(first!.timeoutMs, undefined);
  t.like(second, { index: 1, name: 'test', user: 'root', timeoutMs: 90_000, allowFailure: true });
});

test('jobs keep declaration order; the order puts every job after its needs, ties by declaration', (t) => {
  const graph = compile(
    definition(
      {
        deploy: { needs: ['test', 'build'], steps: [{ run: 'x' }] },
        lint: { steps: [{ run: 'x' }] },
        test: { needs: ['build'], steps: [{ run: 'x' }] },
        build: { steps: [{ run: 'x' }] },
        docs: { steps: [{ run: 'x' }] },
      },
      { defaults: { image: IMAGE } },
    ),
  );
  t.deepEqual([...graph.jobs.keys()], ['deploy', 'lint', 'test', 'build', 'docs']);
  t.deepEqual(graph.order, ['lint', 'build', 'test', 'deploy', 'docs']);
  t.deepEqual(graph.jobs.get('deploy')!.needs, ['test', 'build']);
});

test('the project is the folder name, sanitised, and a hash of its path', (t) => {
  const graph = compile(
    definition({ j: { image: IMAGE, steps: [{ run: 'x' }] } }, { projectDir: '/srv/My App!' }),
  );
  const hash = createHash('sha256').update('/srv/My App!').digest('hex').slice(0, 8);
  t.is(graph.project, `my-app--${hash}`);
  t.is(graph.projectDir, '/srv/My App!');
});

test('secret files resolve against the project folder and ~ against HOME', (t) => {
  const graph = compile(
    definition(
      { j: { image: IMAGE, steps: [{ run: 'x' }] } },
      { secrets: { a: { file: 'keys/a' }, b: { file: '~/.ssh/key' }, c: { env: 'TOKEN' } } },
    ),
    { env: { HOME: '/home/me' } },
  );
  t.deepEqual(graph.secrets, {
    a: { file: '/home/me/app/keys/a' },
    b: { file: '/home/me/.ssh/key' },
    c: { env: 'TOKEN' },
  });
});

test('the graph is deeply frozen: mutating any part throws', (t) => {
  const graph = compile(
    definition({
      j: { image: IMAGE, mounts: [{ type: 'tmpfs', target: '/t' }], steps: [{ run: 'x', env: { A: '1' } }] },
    }),
  );
  const job = graph.jobs.get('j')! as unknown as Record<string, unknown>;
  t.throws(() => {
    (graph.jobs as Map<string, CompiledJob>).set('k', graph.jobs.get('j')!);
  });
  t.throws(() => {
    job.image = 'changed';
  });
  t.throws(() => {
    (graph.order as string[]).push('k');
  });
  t.throws(() => {
    (graph.jobs.get('j')!.steps[0]!.env as Record<string, string>).A = '2';
  });
  t.throws(() => {
    (graph.jobs.get('j')!.mounts[0] as { target: string }).target = '/x';
  });
  t.is(graph.jobs.get('j')!.image, IMAGE);
});
