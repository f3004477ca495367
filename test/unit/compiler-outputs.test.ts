/**
 * Job outputs, binds with `from`, `exclude` and `cache:` in the compiler: what they compile to, and
 * every definition the compiler refuses, each at its line and column in the step file.
 */
import test from 'ava';
import { loadDefinitionText } from '../../src/definition/loader.js';
import type { Definition, JobSpec, MountSpec } from '../../src/definition/types.js';
import { DefinitionError, type Diagnostic } from '../../src/errors.js';
import { compile, selectJobs } from '../../src/graph/index.js';
import { withNeedProblems } from '../../src/graph/needs.js';
import type { BuildGraph } from '../../src/graph/types.js';

const FILE = '/home/me/app/kiln.yaml';
const ENV = { HOME: '/home/me' };
const IMAGE = 'kiln-fixture/busybox:latest';

/** A step file whose jobs are `jobs` (YAML lines, indented by 2): they start on line 4. */
function stepFile(jobs: readonly string[], defaults = `{ image: ${IMAGE}, workdir: /work }`): string {
  return ['version: 1', `defaults: ${defaults}`, 'jobs:', ...jobs.map((line) => `  ${line}`), ''].join('\n');
}

function compileText(text: string, defaultMounts?: readonly MountSpec[]): BuildGraph {
  return compile(loadDefinitionText(text, FILE), { env: ENV, ...(defaultMounts ? { defaultMounts } : {}) });
}

function problemsOf(run: () => unknown): readonly Diagnostic[] {
  try {
    run();
  } catch (error) {
    if (error instanceof DefinitionError) return error.diagnostics;
    throw error;
  }
  throw new Error('no DefinitionError was thrown');
}

function definition(jobs: Record<string, JobSpec>): Definition {
  return { version: 1, projectDir: '/home/me/app', defaults: { image: IMAGE, workdir: '/work' }, jobs };
}

const run = [{ run: 'true' }];

// ---------------------------------------------------------------------------------------------------
// What compiles

test('outputs resolve against the workdir, exports against the project folder and ~ against home', (t) => {
  const graph = compileText(
    stepFile([
      'build:',
      '  workdir: /build',
      '  outputs:',
      '    - bin',
      '    - /dist',
      '    - { path: site/, export: ./public }',
      '    - { path: ../pkg, export: ~/pkgs/app, allow-outside-project: true }',
      '  steps: [{ run: make }]',
    ]),
  );
  t.deepEqual(graph.jobs.get('build')!.outputs, [
    { path: '/build/bin', allowOutsideProject: false },
    { path: '/dist', allowOutsideProject: false },
    { path: '/build/site', export: '/home/me/app/public', allowOutsideProject: false },
    { path: '/pkg', export: '/home/me/pkgs/app', allowOutsideProject: true },
  ]);
});

test('a job without outputs has an empty list, and cache: is carried only when written', (t) => {
  const graph = compile(
    definition({ plain: { steps: run }, on: { cache: true, steps: run }, off: { cache: false, steps: run } }),
  );
  t.deepEqual(graph.jobs.get('plain')!.outputs, []);
  t.false('cache' in graph.jobs.get('plain')!);
  t.is(graph.jobs.get('on')!.cache, true);
  t.is(graph.jobs.get('off')!.cache, false);
});

test("a bind with from mounts the producing job's output, its source relative to that job's workdir", (t) => {
  const graph = compileText(
    stepFile([
      'test:',
      '  mounts: [{ type: bind, from: build, source: bin, target: in }]',
      '  steps: [{ run: make test }]',
      'build:',
      '  workdir: /build',
      '  outputs: [bin]',
      '  steps: [{ run: make }]',
    ]),
  );
  t.deepEqual(graph.jobs.get('test')!.mounts, [
    { type: 'output', job: 'build', path: '/build/bin', target: '/work/in' },
  ]);
  t.deepEqual(graph.jobs.get('test')!.needs, ['build']);
  t.deepEqual(graph.order, ['build', 'test']);
});

test('from adds its job to needs once, after the needs as written, in the order of the mounts', (t) => {
  const graph = compile(
    definition({
      lint: { steps: run },
      docs: { outputs: ['/site'], steps: run },
      build: { outputs: ['/out', '/lib'], steps: run },
      release: {
        needs: ['lint', 'build'],
        mounts: [
          { type: 'bind', from: 'docs', source: '/site', target: '/in/site' },
          { type: 'bind', from: 'build', source: '/out', target: '/in/out' },
        ],
        steps: [{ run: 'x', mounts: [{ type: 'bind', from: 'build', source: '/lib', target: '/in/lib' }] }],
      },
    }),
  );
  t.deepEqual(graph.jobs.get('release')!.needs, ['lint', 'build', 'docs']);
});

test("a bind with from on a step is hoisted to the job's container, and its job needed", (t) => {
  const graph = compile(
    definition({
      build: { outputs: ['/out'], steps: run },
      test: {
        steps: [{ run: 'x', mounts: [{ type: 'bind', from: 'build', source: '/out', target: '/in' }] }],
      },
    }),
  );
  const test_ = graph.jobs.get('test')!;
  t.deepEqual(test_.mounts, [{ type: 'output', job: 'build', path: '/out', target: '/in' }]);
  t.deepEqual(test_.steps[0]!.mounts, []);
  t.deepEqual(test_.needs, ['build']);
});

test('selecting a job brings along the jobs whose outputs it mounts', (t) => {
  const graph = compile(
    definition({
      build: { outputs: ['/out'], steps: run },
      other: { steps: run },
      test: { mounts: [{ type: 'bind', from: 'build', source: '/out', target: '/in' }], steps: run },
    }),
  );
  t.deepEqual(selectJobs(graph, ['test']).order, ['build', 'test']);
});

test('exclude patterns are carried onto the bind, from defaults.mounts to every job too', (t) => {
  const graph = compile(
    {
      ...definition({
        a: { steps: run },
        b: { mounts: [{ type: 'bind', source: 'src', target: '/src', exclude: ['*.o'] }], steps: run },
      }),
      defaults: {
        image: IMAGE,
        mounts: [{ type: 'bind', source: '.', target: '/project', readonly: true, exclude: ['.git/'] }],
      },
    },
    { env: ENV },
  );
  t.deepEqual(
    graph.jobs.get('a')!.mounts.map((m) => m.type === 'bind' && m.exclude),
    [['.git/']],
  );
  t.deepEqual(
    graph.jobs.get('b')!.mounts.map((m) => m.type === 'bind' && m.exclude),
    [['.git/'], ['*.o']],
  );
});

test('an export outside the project folder is accepted with allow-outside-project', (t) => {
  const graph = compile(
    definition({
      a: { outputs: [{ path: '/out', export: '/srv/www', allowOutsideProject: true }], steps: run },
    }),
  );
  t.deepEqual(graph.jobs.get('a')!.outputs, [
    { path: '/out', export: '/srv/www', allowOutsideProject: true },
  ]);
});

test('outputs beside mounts, and side by side, are accepted', (t) => {
  const graph = compile({
    ...definition({
      a: {
        mounts: [
          { type: 'bind', source: '.', target: '/work/src', readonly: true },
          { type: 'cache', id: 'c', target: '/work/cache' },
        ],
        outputs: ['out', 'outer', '/work/src-out'],
        steps: [{ run: 'x', mounts: [{ type: 'secret', id: 't' }] }],
      },
    }),
    secrets: { t: { env: 'T' } },
  });
  t.deepEqual(
    graph.jobs.get('a')!.outputs.map((o) => o.path),
    ['/work/out', '/work/outer', '/work/src-out'],
  );
});

// ---------------------------------------------------------------------------------------------------
// What is refused, where

/** A diagnostic as `LINE:COLUMN message`. */
type Expected = string;

const refuses = test.macro({
  exec(t, _title: string, jobs: readonly string[], expected: readonly Expected[], defaults?: string) {
    const found = problemsOf(() => compileText(stepFile(jobs, defaults)));
    t.deepEqual(
      found.map((d) => `${d.position?.line}:${d.position?.column} ${d.message}`),
      expected,
    );
    for (const d of found) t.is(d.position?.file, FILE);
  },
  title: (_, title: string, _jobs, expected: readonly Expected[]) =>
    `${title} is refused at ${expected.map((e) => e.split(' ')[0]).join(', ')}`,
});

const build = ['build:', '  outputs: [/out, dist]', '  steps: [{ run: make }]'];

test(
  refuses,
  'a from naming no job',
  [
    ...build,
    'test:',
    '  mounts: [{ type: bind, from: biuld, source: /out, target: /in }]',
    '  steps: [{ run: x }]',
  ],
  ["8:34 job 'test', mounts[0]: from 'biuld' is not a job (did you mean 'build'?)"],
);
test(
  refuses,
  'a from naming a path its job does not output',
  [
    ...build,
    'test:',
    '  mounts: [{ type: bind, from: build, source: bin, target: /in }]',
    '  steps: [{ run: x }]',
  ],
  [
    "8:49 job 'test', mounts[0]: job 'build' has no output /work/bin (bin in its workdir /work); its outputs: /out, /work/dist",
  ],
);
test(
  refuses,
  'a from naming a path inside an output',
  [
    ...build,
    'test:',
    '  mounts: [{ type: bind, from: build, source: /out/lib, target: /in }]',
    '  steps: [{ run: x }]',
  ],
  ["8:49 job 'test', mounts[0]: job 'build' has no output /out/lib; its outputs: /out, /work/dist"],
);
test(
  refuses,
  'a from naming a job without outputs',
  [
    'lint:',
    '  steps: [{ run: lint }]',
    'test:',
    '  mounts: [{ type: bind, from: lint, source: /out, target: /in }]',
    '  steps: [{ run: x }]',
  ],
  [
    "7:48 job 'test', mounts[0]: job 'lint' has no outputs, so it has no /out; declare it under outputs: of job 'lint'",
  ],
);
test(
  refuses,
  'a job mounting its own output',
  [
    'build:',
    '  outputs: [/out]',
    '  mounts: [{ type: bind, from: build, source: /out, target: /in }]',
    '  steps: [{ run: make }]',
  ],
  [
    "6:34 job 'build', mounts[0]: from 'build' is this job: a job cannot mount its own outputs (its steps write them where its outputs say; use those paths)",
  ],
);
test(
  refuses,
  'a cycle closed by a from',
  [
    'build:',
    '  outputs: [/out]',
    '  needs: [test]',
    '  steps: [{ run: make }]',
    'test:',
    '  steps:',
    '    - run: x',
    '      mounts: [{ type: bind, from: build, source: /out, target: /in }]',
  ],
  [
    "6:13 jobs form a cycle through needs: build -> test -> build (each needs the next; a bind with from needs the job it names: test's step 'step-1' mounts[0] from build); remove one of these needs or binds",
  ],
);
test(
  refuses,
  'a cycle of froms',
  [
    'a:',
    '  outputs: [/a]',
    '  mounts: [{ type: bind, from: b, source: /b, target: /in }]',
    '  steps: [{ run: x }]',
    'b:',
    '  outputs: [/b]',
    '  mounts: [{ type: bind, from: a, source: /a, target: /in }]',
    '  steps: [{ run: x }]',
  ],
  [
    "6:34 jobs form a cycle through needs: a -> b -> a (each needs the next; a bind with from needs the job it names: a's mounts[0] from b, b's mounts[0] from a); remove one of these needs or binds",
  ],
);
test(
  refuses,
  'readonly: false, allow-outside-project, allow-docker-socket, exclude and keep-owner on a from; keep-owner on a read-only bind',
  [
    ...build,
    'test:',
    '  mounts:',
    '    - { type: bind, from: build, source: /out, target: /in, readonly: false }',
    '    - { type: bind, from: build, source: /out, target: /in2, allow-outside-project: true }',
    '    - { type: bind, from: build, source: /out, target: /in3, allow-docker-socket: true }',
    '    - { type: bind, from: build, source: /out, target: /in4, exclude: [x] }',
    '    - { type: bind, from: build, source: /out, target: /in5, keep-owner: true }',
    '    - { type: bind, source: ./src, target: /src, readonly: true, keep-owner: true }',
    '  steps: [{ run: x }]',
  ],
  [
    "9:73 job 'test', mounts[0]: readonly does not apply to a bind with from: an output is always mounted read-only; remove it",
    "10:87 job 'test', mounts[1]: allow-outside-project does not apply to a bind with from: its source is an output of job 'build', not a host path; remove it",
    "11:85 job 'test', mounts[2]: allow-docker-socket does not apply to a bind with from: its source is an output of job 'build', not a host path; remove it",
    "12:64 job 'test', mounts[3]: exclude does not apply to a bind with from: an output's content is known by its digest, so nothing of it can be left out of the key; remove it",
    "13:76 job 'test', mounts[4]: keep-owner does not apply to a bind with from: an output is read-only, so the job writes nothing into it; remove it",
    "14:80 job 'test', mounts[5]: keep-owner does not apply to a read-only bind: the job writes nothing into it; remove it",
  ],
);
test(
  refuses,
  'a from in defaults.mounts',
  build,
  [
    '2:78 defaults.mounts[0]: a bind with from cannot be a default for every job (the job that makes the output would mount it too); declare it on the jobs that use the output',
  ],
  `{ image: ${IMAGE}, mounts: [{ type: bind, from: build, source: /out, target: /in }] }`,
);
test(
  refuses,
  'two outputs on one path, written two ways',
  ['a:', '  outputs: [/work/out, out]', '  steps: [{ run: x }]'],
  ["5:26 job 'a', outputs[1]: /work/out is also outputs[0]; declare each output once"],
);
test(
  refuses,
  'an output inside another, and one holding another',
  ['a:', '  outputs: [/out, /out/lib, /srv/x, /srv]', '  steps: [{ run: x }]'],
  [
    "5:21 job 'a', outputs[1]: /out/lib lies inside outputs[0] (/out); outputs cannot nest, since the volume of one would hide part of the other: declare one folder that holds both",
    "5:39 job 'a', outputs[3]: /srv holds outputs[2] (/srv/x); outputs cannot nest, since the volume of one would hide part of the other: declare one folder that holds both",
  ],
);
test(
  refuses,
  'outputs on /, /proc, /sys and /dev',
  ['a:', '  outputs: [/, /proc/x, { path: /sys }, /dev]', '  steps: [{ run: x }]'],
  [
    "5:15 job 'a', outputs[0]: cannot mount on / (the container root); choose a folder",
    "5:18 job 'a', outputs[1]: cannot mount on /proc/x: /proc belongs to the kernel, and nothing can be mounted or written under it; choose another target",
    "5:35 job 'a', outputs[2]: cannot mount on /sys: /sys belongs to the kernel, and nothing can be mounted or written under it; choose another target",
    "5:43 job 'a', outputs[3]: cannot mount on /dev: it would hide the container's devices, and the container could not start; mount a folder under it (e.g. /dev/shm) or elsewhere",
  ],
);
test(
  refuses,
  "an output on, inside or around the job's mounts",
  [
    'a:',
    '  mounts:',
    '    - { type: cache, id: c, target: /cache }',
    '    - { type: bind, source: ., target: /work/src, readonly: true }',
    '    - { type: tmpfs, target: /scratch/tmp }',
    '  outputs: [/cache, src/out, /scratch]',
    '  steps: [{ run: x }]',
  ],
  [
    "9:15 job 'a', outputs[0]: /cache is also the target of mounts[0] (cache 'c'); an output is a volume of its own mounted at its path: give one of them another path",
    "9:23 job 'a', outputs[1]: /work/src/out lies inside /work/src, the target of mounts[1] (bind /home/me/app read-only); the output's volume would be mounted into it (and its mount point made in the host folder): put the output outside /work/src (e.g. /out) and have the steps write there",
    "9:32 job 'a', outputs[2]: /scratch holds /scratch/tmp, the target of mounts[2] (tmpfs), which would be mounted inside the output and leave its mount point in it: put the mount outside /scratch, or the output beside it",
  ],
);
test(
  refuses,
  "an output holding a step's secret, and one on a default mount",
  [
    'a:',
    '  outputs: [/run/secrets, /project/out]',
    '  steps:',
    '    - run: x',
    '      mounts: [{ type: secret, id: token }]',
  ],
  [
    "6:15 job 'a', outputs[0]: /run/secrets holds /run/secrets/token, the target of step 'step-1' mounts[0] (secret 'token'), which would be mounted inside the output and leave its mount point in it: put the mount outside /run/secrets, or the output beside it",
    "6:29 job 'a', outputs[1]: /project/out lies inside /project, the target of defaults.mounts[0] (bind /home/me/app); the output's volume would be mounted into it (and its mount point made in the host folder): put the output outside /project (e.g. /out) and have the steps write there",
  ],
  `{ image: ${IMAGE}, mounts: [{ type: bind, source: ., target: /project }] }\nsecrets: { token: { env: TOKEN } }`,
);
test(
  refuses,
  'an export on the project folder, around it, or outside it',
  [
    'a:',
    '  outputs:',
    '    - { path: /a, export: . }',
    '    - { path: /b, export: .. }',
    '    - { path: /c, export: "~" }',
    '    - { path: /d, export: /tmp/out }',
    '  steps: [{ run: x }]',
  ],
  [
    "6:29 job 'a', outputs[0]: export . (/home/me/app) is the project folder itself; an export replaces its folder, so export into a folder inside the project, e.g. ./dist",
    "7:29 job 'a', outputs[1]: export .. (/home/me) holds the project folder /home/me/app; an export replaces its folder, so export into a folder inside the project, e.g. ./dist",
    "8:29 job 'a', outputs[2]: export ~ (/home/me) holds the project folder /home/me/app; an export replaces its folder, so export into a folder inside the project, e.g. ./dist",
    "9:29 job 'a', outputs[3]: export /tmp/out is outside the project folder /home/me/app; export into a folder inside it, or set allow-outside-project: true on this output",
  ],
);
test(
  refuses,
  'two jobs exporting into one folder, and nested exports',
  [
    'a:',
    '  outputs: [{ path: /out, export: dist }, { path: /doc, export: ./dist/doc/ }]',
    '  steps: [{ run: x }]',
    'b:',
    '  outputs: [{ path: /out, export: ./dist }]',
    '  steps: [{ run: x }]',
  ],
  [
    "5:67 job 'a', outputs[1]: export /home/me/app/dist/doc lies inside /home/me/app/dist, the export of job 'a', outputs[0]; exports cannot nest (the outer one replaces its folder, inner export included): give them folders side by side",
    "8:37 job 'b', outputs[0]: export /home/me/app/dist is also the export of job 'a', outputs[0]; two outputs cannot export into one folder (each replaces it): give one another folder",
  ],
);

test('nested exports of two jobs name both jobs', (t) => {
  const found = problemsOf(() =>
    compile(
      definition({
        site: { outputs: [{ path: '/out', export: 'public' }], steps: run },
        docs: { outputs: [{ path: '/out', export: 'public/docs' }], steps: run },
      }),
    ),
  );
  t.deepEqual(
    found.map((d) => [d.pointer, d.jobs]),
    [['/jobs/docs/outputs/0/export', ['site', 'docs']]],
  );
});

test('a from in KILN_DEFAULT_MOUNTS is refused once, however many jobs there are', (t) => {
  const found = problemsOf(() =>
    compile(definition({ a: { outputs: ['/out'], steps: run }, b: { steps: run } }), {
      defaultMounts: [{ type: 'bind', from: 'a', source: '/out', target: '/in' }],
    }),
  );
  t.deepEqual(
    found.map((d) => d.message),
    [
      'KILN_DEFAULT_MOUNTS entry 1: a bind with from cannot be a default for every job (the job that makes the output would mount it too); declare it on the jobs that use the output',
    ],
  );
});

test('outputs and cache of the wrong shape, in a definition built in code, are refused at their pointers', (t) => {
  const found = problemsOf(() =>
    compile(
      definition({
        a: {
          outputs: [
            ' ',
            3 as unknown as string,
            { path: '/o', export: '' },
            { path: '/p', allowOutsideProject: 'yes' as unknown as boolean },
          ],
          cache: 'yes' as unknown as boolean,
          mounts: [{ type: 'bind', source: '.', target: '/s', exclude: 'x' as unknown as string[] }],
          steps: run,
        },
        b: { outputs: '/out' as unknown as string[], steps: run },
      }),
    ),
  );
  t.deepEqual(
    found.map((d) => [d.pointer, d.message]),
    [
      ['/jobs/a/outputs/0', "job 'a', outputs[0]: the path must be a non-empty string"],
      ['/jobs/a/outputs/1', "job 'a', outputs[1]: an output must be a path, or { path, export }"],
      [
        '/jobs/a/outputs/2/export',
        "job 'a', outputs[2]: export must be a folder of the host: a non-empty path without NUL characters",
      ],
      [
        '/jobs/a/outputs/3/allow-outside-project',
        "job 'a', outputs[3]: allow-outside-project must be true or false",
      ],
      [
        '/jobs/a/mounts/0/exclude',
        "job 'a', mounts[0]: exclude must be a list of patterns in .gitignore syntax (non-empty strings)",
      ],
      ['/jobs/a/cache', "job 'a': cache must be true or false"],
      ['/jobs/b/outputs', "job 'b': outputs must be a list of paths or { path, export }"],
    ],
  );
});

test('a step file that fails its schema still gets its unknown froms and from cycles reported', (t) => {
  const text = stepFile([
    'build:',
    '  imagee: x',
    '  outputs: [/out]',
    '  mounts: [{ type: bind, from: test, source: /t, target: /in }]',
    '  steps: [{ run: make }]',
    'test:',
    '  outputs: [/t]',
    '  mounts: [{ type: bind, from: build, source: /out, target: /in }, { type: bind, from: nope, source: /x, target: /y }]',
    '  steps: [{ run: x }]',
  ]);
  let error: unknown;
  try {
    loadDefinitionText(text, FILE);
  } catch (caught) {
    error = withNeedProblems(caught);
  }
  if (!(error instanceof DefinitionError)) throw new Error('the file loaded');
  t.deepEqual(
    error.diagnostics.map((d) => `${d.position?.line}:${d.position?.column} ${d.message.slice(0, 50)}`),
    [
      "5:5 unknown key 'imagee' in job 'build', did you mean ",
      '7:34 jobs form a cycle through needs: build -> test -> ',
      "11:90 job 'test', mounts[1]: from 'nope' is not a job",
    ],
  );
});
