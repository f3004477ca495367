import test from 'ava';
import type { Definition, JobSpec, MountSpec } from '../../src/definition/types.js';
import { DefinitionError } from '../../src/errors.js';
import { compile, type CompileOptions } from '../../src/graph/index.js';

const IMAGE = 'kiln-fixture/busybox:latest';

function definition(jobs: Record<string, JobSpec>, rest: Partial<Definition> = {}): Definition {
  return { version: 1, projectDir: '/home/me/app', defaults: { image: IMAGE }, jobs, ...rest };
}

function messages(def: Definition, options?: CompileOptions): string[] {
  const error = (() => {
    try {
      compile(def, options);
    } catch (caught) {
      return caught;
    }
    return undefined;
  })();
  if (!(error instanceof DefinitionError)) throw new Error('compile did not throw a DefinitionError');
  return error.diagnostics.map((d) => d.message);
}

const run = [{ run: 'true' }];

test('bind, cache and tmpfs mounts are resolved and given their defaults', (t) => {
  const graph = compile(
    definition({
      j: {
        workdir: '/src',
        mounts: [
          { type: 'bind', source: '.', target: '/src' },
          { type: 'bind', source: '~/.npmrc', target: 'npmrc', readonly: true },
          { type: 'cache', id: 'npm', target: '/root/.npm/' },
          { type: 'tmpfs', target: '/scratch', size: '64m' },
        ],
        steps: run,
      },
    }),
    { env: { HOME: '/home/me' } },
  );
  t.deepEqual(graph.jobs.get('j')!.mounts, [
    {
      type: 'bind',
      source: '/home/me/app',
      target: '/src',
      readonly: false,
      allowOutsideProject: false,
      allowDockerSocket: false,
      keepOwner: false,
      exclude: [],
    },
    { type: 'tmpfs', target: '/scratch', sizeBytes: 64 * 1024 ** 2, mode: 0o1777 },
    {
      type: 'bind',
      source: '/home/me/.npmrc',
      target: '/src/npmrc',
      readonly: true,
      allowOutsideProject: false,
      allowDockerSocket: false,
      keepOwner: false,
      exclude: [],
    },
    { type: 'cache', id: 'npm', target: '/root/.npm', sharing: 'shared', readonly: false },
  ]);
});

test('mounts are sorted parents first, then in declaration order', (t) => {
  const targets = ['/a/b/c', '/z', '/a/b', '/a', '/y/x'];
  const graph = compile(
    definition({
      j: { mounts: targets.map((target): MountSpec => ({ type: 'tmpfs', target })), steps: run },
    }),
  );
  t.deepEqual(
    graph.jobs.get('j')!.mounts.map((m) => m.target),
    ['/z', '/a', '/a/b', '/y/x', '/a/b/c'],
  );
});

test('defaults.mounts come first, then KILN_DEFAULT_MOUNTS, then the job, then hoisted step mounts', (t) => {
  const graph = compile(
    definition(
      {
        j: {
          mounts: [{ type: 'tmpfs', target: '/job' }],
          steps: [{ run: 'x', mounts: [{ type: 'cache', id: 'c', target: '/step' }] }],
        },
      },
      { defaults: { image: IMAGE, mounts: [{ type: 'tmpfs', target: '/defaults' }] } },
    ),
    { defaultMounts: [{ type: 'tmpfs', target: '/env' }] },
  );
  const job = graph.jobs.get('j')!;
  t.deepEqual(
    job.mounts.map((m) => m.target),
    ['/defaults', '/env', '/job', '/step'],
  );
  t.deepEqual(job.steps[0]!.mounts, []);
});

test('a step mount with a relative target resolves against the step workdir before being hoisted', (t) => {
  const graph = compile(
    definition({
      j: { steps: [{ run: 'x', workdir: '/build', mounts: [{ type: 'tmpfs', target: 'out' }] }] },
    }),
  );
  t.deepEqual(
    graph.jobs.get('j')!.mounts.map((m) => m.target),
    ['/build/out'],
  );
});

test('default-mounts: false drops both defaults.mounts and KILN_DEFAULT_MOUNTS for that job only', (t) => {
  const graph = compile(
    definition(
      {
        plain: { defaultMounts: false, mounts: [{ type: 'tmpfs', target: '/own' }], steps: run },
        other: { steps: run },
      },
      { defaults: { image: IMAGE, mounts: [{ type: 'tmpfs', target: '/defaults' }] } },
    ),
    { defaultMounts: [{ type: 'tmpfs', target: '/env' }] },
  );
  t.deepEqual(
    graph.jobs.get('plain')!.mounts.map((m) => m.target),
    ['/own'],
  );
  t.deepEqual(
    graph.jobs.get('other')!.mounts.map((m) => m.target),
    ['/defaults', '/env'],
  );
});

test('identical mounts on one target are kept once', (t) => {
  const cache: MountSpec = { type: 'cache', id: 'npm', target: '/root/.npm' };
  const graph = compile(
    definition(
      { j: { mounts: [cache, { ...cache, sharing: 'shared' }], steps: [{ run: 'x', mounts: [cache] }] } },
      { defaults: { image: IMAGE, mounts: [cache] } },
    ),
  );
  t.deepEqual(graph.jobs.get('j')!.mounts, [
    { type: 'cache', id: 'npm', target: '/root/.npm', sharing: 'shared', readonly: false },
  ]);
});

test('different mounts on one target are reported naming both', (t) => {
  t.deepEqual(
    messages(
      definition(
        { j: { mounts: [{ type: 'tmpfs', target: '/src/' }], steps: run } },
        {
          defaults: { image: IMAGE, mounts: [{ type: 'bind', source: '.', target: '/src', readonly: true }] },
        },
      ),
    ),
    [
      "job 'j': two different mounts on /src: defaults.mounts[0] (bind /home/me/app read-only) and mounts[0] (tmpfs); keep one, or give one another target",
    ],
  );
});

test('a secret mount gets its defaults and stays on its step', (t) => {
  const graph = compile(
    definition(
      {
        j: {
          steps: [
            { run: 'a' },
            { run: 'b', mounts: [{ type: 'secret', id: 'npm-token' }, { type: 'ssh' }] },
            {
              run: 'c',
              mounts: [
                {
                  type: 'secret',
                  id: 'npm-token',
                  target: 'token',
                  env: 'NPM_TOKEN',
                  mode: '0440',
                  uid: 1000,
                  gid: 1000,
                  required: false,
                },
              ],
            },
          ],
        },
      },
      { secrets: { 'npm-token': { env: 'NPM_TOKEN' } } },
    ),
  );
  const [a, b, c] = graph.jobs.get('j')!.steps;
  t.deepEqual(a!.mounts, []);
  t.deepEqual(b!.mounts, [
    {
      type: 'secret',
      id: 'npm-token',
      target: '/run/secrets/npm-token',
      mode: 0o400,
      uid: 0,
      gid: 0,
      required: true,
    },
    { type: 'ssh', id: 'default', target: '/run/kiln/ssh-default.sock', required: true },
  ]);
  t.deepEqual(c!.mounts, [
    {
      type: 'secret',
      id: 'npm-token',
      target: '/workspace/token',
      env: 'NPM_TOKEN',
      mode: 0o440,
      uid: 1000,
      gid: 1000,
      required: false,
    },
  ]);
  t.deepEqual(graph.jobs.get('j')!.mounts, []);
});

test('secret and ssh mounts on a job are given to every step of the job', (t) => {
  const graph = compile(
    definition(
      {
        j: {
          mounts: [
            { type: 'secret', id: 'key' },
            { type: 'ssh', id: 'deploy' },
          ],
          steps: [{ run: 'a' }, { run: 'b', mounts: [{ type: 'secret', id: 'key' }] }],
        },
      },
      { secrets: { key: { file: 'key.txt' } } },
    ),
  );
  for (const step of graph.jobs.get('j')!.steps) {
    t.deepEqual(
      step.mounts.map((m) => `${m.type} ${m.id} ${m.target}`),
      ['secret key /run/secrets/key', 'ssh deploy /run/kiln/ssh-deploy.sock'],
    );
  }
});

test('an unknown secret id is reported at the mount, with the closest id', (t) => {
  const error = (() => {
    try {
      compile(
        definition(
          { j: { steps: [{ run: 'x', mounts: [{ type: 'secret', id: 'npm-tokn' }] }] } },
          { secrets: { 'npm-token': { env: 'T' } } },
        ),
      );
    } catch (caught) {
      return caught as DefinitionError;
    }
    return undefined;
  })();
  t.deepEqual(error?.diagnostics, [
    {
      message:
        "job 'j', step 'step-1' mounts[0]: secret 'npm-tokn' is not declared in secrets (did you mean 'npm-token'?)",
      pointer: '/jobs/j/steps/0/mounts/0/id',
    },
  ]);
});

test('a secret with no secrets declared says how to declare one', (t) => {
  t.deepEqual(messages(definition({ j: { mounts: [{ type: 'secret', id: 'tok' }], steps: run } })), [
    "job 'j', mounts[0]: secret 'tok' is not declared in secrets; declare it under `secrets:` with `env:` or `file:`",
  ]);
});

test('secret and ssh mounts cannot be defaults for every job', (t) => {
  t.deepEqual(
    messages(
      definition(
        { a: { steps: run }, b: { steps: run } },
        { defaults: { image: IMAGE, mounts: [{ type: 'ssh' }] } },
      ),
    ),
    [
      'defaults.mounts[0]: an ssh mount cannot be a default for every job; declare it on the job or the step that needs it',
    ],
  );
});

test('a faulty default mount is reported once, not once per job', (t) => {
  t.deepEqual(
    messages(
      definition(
        { a: { steps: run }, b: { workdir: '/other', steps: run } },
        { defaults: { image: IMAGE, mounts: [{ type: 'cache', id: '', target: '/c' }] } },
      ),
      { defaultMounts: [{ type: 'tmpfs', target: '/t', mode: '999' }] },
    ),
    [
      'defaults.mounts[0]: id must be a non-empty string',
      'KILN_DEFAULT_MOUNTS entry 1: invalid mode "999": write octal digits as a string, at most 7777 (e.g. "0400", "0755", "1777")',
    ],
  );
});

test('a step secret on a target the container mounts is refused', (t) => {
  t.deepEqual(
    messages(
      definition(
        {
          j: {
            mounts: [{ type: 'tmpfs', target: '/run/secrets/tok' }],
            steps: [{ run: 'x', mounts: [{ type: 'secret', id: 'tok' }] }],
          },
        },
        { secrets: { tok: { env: 'TOK' } } },
      ),
    ),
    [
      "job 'j', step 'step-1' mounts[0] (secret 'tok'): /run/secrets/tok is also a mount of the job's container; give the secret another target",
    ],
  );
});

test('mount fields are checked: type, sharing, target, uid and env name', (t) => {
  t.deepEqual(
    messages(
      definition(
        {
          j: {
            mounts: [
              { type: 'volume', target: '/v' } as unknown as MountSpec,
              { type: 'cache', id: 'c', target: '/c', sharing: 'all' } as unknown as MountSpec,
              { type: 'tmpfs', target: '/' },
              { type: 'bind', source: '.' } as unknown as MountSpec,
              { type: 'secret', id: 's', uid: -1, env: 'NOT-A-NAME' },
            ],
            steps: run,
          },
        },
        { secrets: { s: { env: 'S' } } },
      ),
    ),
    [
      "job 'j', mounts[0]: unknown mount type 'volume' (allowed: bind, cache, tmpfs, secret, ssh)",
      "job 'j', mounts[1]: unknown sharing 'all' (allowed: shared, private, locked)",
      "job 'j', mounts[2]: cannot mount on / (the container root); choose a folder",
      "job 'j', mounts[3]: missing target",
      "job 'j', mounts[4]: uid -1 must be a whole number, 0 or more",
      `job 'j', mounts[4]: env "NOT-A-NAME" is not a variable name (letters, digits, _)`,
    ],
  );
});
