import test from 'ava';
import { join } from 'node:path';
import { DefinitionError } from '../../src/errors.js';
import {
  bind,
  cache,
  job,
  output,
  pipeline,
  secret,
  ssh,
  step,
  tmpfs,
} from '../../src/definition/builder.js';
import { loadDefinitionFile, loadDefinitionText } from '../../src/definition/loader.js';
import { packageRoot } from '../../src/definition/schema.js';
import type { Definition } from '../../src/definition/types.js';
import { compile } from '../../src/graph/index.js';

const fixtures = join(packageRoot(), 'fixtures');

/** A Definition without what only a loaded one has. */
function graphOf(definition: Definition): Omit<Definition, 'file' | 'sourceMap'> {
  const { file: _file, sourceMap: _sourceMap, ...rest } = definition;
  return rest;
}

test('the builder and the loader make the same Definition for the full example step file (fixtures/design-example.yaml)', async (t) => {
  const build = job('build')
    .withImage('kiln-fixture/debian-gcc:bookworm')
    .withMount(
      bind('.', '/src', { readonly: true }),
      cache('ccache', '/root/.ccache', { sharing: 'locked' }),
      tmpfs('/build', { size: '256m' }),
    )
    .withStep(step('configure', 'cp -r /src/. /build && ./configure').withWorkdir('/build'))
    .withStep(step('compile', 'make -j2').withWorkdir('/build'))
    .withStep(step('test', 'make test').withWorkdir('/build').withEnv('VERBOSE', '1'));
  const publish = job('publish')
    .withNeeds(build)
    .withStep(step('./publish.sh').withMount(secret('npm-token'), ssh()));
  const built = pipeline({ projectDir: fixtures })
    .withDefaults({ image: 'kiln-fixture/busybox:latest', workdir: '/workspace', env: { CI: '1' } })
    .withSecret('npm-token', { env: 'NPM_TOKEN' })
    .withSecret('deploy-key', { file: '~/.ssh/deploy_key' })
    .withJob(build, publish)
    .toDefinition();
  const loaded = await loadDefinitionFile(join(fixtures, 'design-example.yaml'));
  t.deepEqual(graphOf(built), graphOf(loaded));
});

test('the builder and the loader agree on camelCase fields', (t) => {
  const built = pipeline({ projectDir: '/p' })
    .withJob(
      job('a')
        .withDefaultMounts(false)
        .withReuse({ name: 'dev' })
        .withShell(['/bin/bash', '-c'])
        .withTimeout('10m')
        .withMount(bind('/', '/host', { allowOutsideProject: true, allowDockerSocket: true }))
        .withStep(step(['ls', '-l']).withAllowFailure().withTimeout(90)),
    )
    .toDefinition();
  const loaded = loadDefinitionText(
    [
      'version: 1',
      'jobs:',
      '  a:',
      '    default-mounts: false',
      '    reuse: { name: dev }',
      '    shell: [/bin/bash, -c]',
      '    timeout: 10m',
      '    mounts:',
      '      - { type: bind, source: /, target: /host, allow-outside-project: true, allow-docker-socket: true }',
      '    steps:',
      '      - { run: [ls, -l], allow-failure: true, timeout: 90 }',
    ].join('\n'),
    '/p/kiln.yaml',
  );
  t.deepEqual(graphOf(built), graphOf(loaded));
});

test('with... returns a new job and leaves the old one unchanged', (t) => {
  const base = job('build').withImage('a').withEnv('CI', '1').withStep('make');
  const derived = base.withImage('b').withEnv({ DEBUG: '1' }).withStep('make test').withMount(tmpfs('/t'));
  t.deepEqual(base.toSpec(), { image: 'a', env: { CI: '1' }, steps: [{ run: 'make' }] });
  t.deepEqual(derived.toSpec(), {
    image: 'b',
    env: { CI: '1', DEBUG: '1' },
    steps: [{ run: 'make' }, { run: 'make test' }],
    mounts: [{ type: 'tmpfs', target: '/t' }],
  });
});

test('with... returns a new step and a new pipeline, and leaves the old ones unchanged', (t) => {
  const compile = step('compile', 'make');
  compile.withWorkdir('/build').withEnv('A', '1');
  t.deepEqual(compile.toSpec(), { name: 'compile', run: 'make' });

  const empty = pipeline({ projectDir: '/p' });
  const one = empty.withJob(job('a').withStep('true'));
  one.withSecret('s', { env: 'S' }).withDefaults({ image: 'i' });
  t.deepEqual(Object.keys(one.toDefinition().jobs), ['a']);
  t.is(one.toDefinition().secrets, undefined);
  t.throws(() => empty.toDefinition(), { instanceOf: DefinitionError });
});

test("a builder's spec is frozen, and so is the Definition", (t) => {
  const spec = job('a').withEnv('A', '1').withStep('true').toSpec();
  t.true(Object.isFrozen(spec) && Object.isFrozen(spec.env) && Object.isFrozen(spec.steps[0]));
  const definition = pipeline().withJob(job('a').withStep('true')).toDefinition();
  t.true(Object.isFrozen(definition) && Object.isFrozen(definition.jobs['a']?.steps));
});

test('a job needed through its builder is added to the pipeline, with what it needs in turn', (t) => {
  const lint = job('lint').withStep('lint');
  const build = job('build').withNeeds(lint).withStep('make');
  const publish = job('publish').withNeeds(build).withStep('publish');
  const definition = pipeline().withJob(publish).toDefinition();
  t.deepEqual(Object.keys(definition.jobs), ['publish', 'build', 'lint']);
  t.deepEqual(definition.jobs['build']?.needs, ['lint']);
});

test('a job the pipeline holds wins over the needed builder of the same name', (t) => {
  const build = job('build').withStep('make');
  const publish = job('publish').withNeeds(build).withStep('publish');
  const definition = pipeline().withJob(publish, build.withImage('custom')).toDefinition();
  t.is(definition.jobs['build']?.image, 'custom');
});

test('a job added again under the same name replaces the first', (t) => {
  const definition = pipeline()
    .withJob(job('a').withStep('one'), job('b').withStep('b'), job('a').withStep('two'))
    .toDefinition();
  t.deepEqual(Object.keys(definition.jobs), ['a', 'b']);
  t.deepEqual(definition.jobs['a']?.steps, [{ run: 'two' }]);
});

test('needs naming a job that is not in the pipeline is an error that names both jobs', (t) => {
  const error = t.throws(
    () =>
      pipeline()
        .withJob(job('build').withStep('make'), job('test').withNeeds('biuld').withStep('t'))
        .toDefinition(),
    { instanceOf: DefinitionError },
  );
  t.is(error?.message, "job 'test' needs 'biuld', which is not in the pipeline; did you mean 'build'?");
  t.deepEqual(error?.diagnostics[0]?.pointer, '/jobs/test/needs/0');
});

test('every problem of a built definition is reported, in the words of the step file', (t) => {
  const error = t.throws(
    () =>
      pipeline()
        .withJob(job('no steps'), job('ok').withStep(step('', 'x').withTimeout('soon')))
        .toDefinition(),
    { instanceOf: DefinitionError },
  );
  t.deepEqual(
    error?.diagnostics.map((d) => d.message),
    [
      "'no steps' is not a valid job name in 'jobs': letters, digits, '_', '.' and '-', starting with a letter or digit; at most 100 characters",
      "'steps' of job 'no steps' must be a non-empty list of steps, not an empty list",
      "'name' of step 1 of job 'ok' must be a non-empty string, not an empty string",
      "'timeout' of step 1 of job 'ok' must be a duration (e.g. 90s, 10m, 1h30m, 500ms, 600), not 'soon'",
    ],
  );
});

test('the project folder defaults to the working folder and is made absolute', (t) => {
  const a = job('a').withStep('true');
  t.is(pipeline().withJob(a).toDefinition().projectDir, process.cwd());
  t.is(pipeline({ projectDir: 'sub' }).withJob(a).toDefinition().projectDir, join(process.cwd(), 'sub'));
});

test('mount helpers make typed mounts without unset options', (t) => {
  t.deepEqual(cache('c', '/c'), { type: 'cache', id: 'c', target: '/c' });
  t.deepEqual(secret('tok', { env: 'TOKEN', target: undefined }), {
    type: 'secret',
    id: 'tok',
    env: 'TOKEN',
  });
  t.deepEqual(ssh({ id: 'deploy' }), { type: 'ssh', id: 'deploy' });
  t.deepEqual(tmpfs('/t', { size: 1024, mode: '1777' }), {
    type: 'tmpfs',
    target: '/t',
    size: 1024,
    mode: '1777',
  });
});

test('withOutput, withCache, output() and exclude make the Definition the step file makes', (t) => {
  const build = job('build')
    .withOutput('/out')
    .withOutput('dist', { export: './dist' })
    .withOutput('/pkg', { export: '/srv/pkg', allowOutsideProject: true })
    .withCache(true)
    .withMount(bind('.', '/src', { readonly: true, exclude: ['.git/', 'dist/'] }))
    .withStep('make');
  const test_ = job('test')
    .withCache(false)
    .withMount(output(build, '/out', '/in'))
    .withStep(step('check', 'make test').withMount(output(build, 'dist', '/dist')));
  const built = pipeline({ projectDir: '/p' }).withJob(build, test_).toDefinition();
  const loaded = loadDefinitionText(
    [
      'version: 1',
      'jobs:',
      '  build:',
      '    outputs: [/out, { path: dist, export: ./dist }, { path: /pkg, export: /srv/pkg, allow-outside-project: true }]',
      '    cache: true',
      '    mounts: [{ type: bind, source: ., target: /src, readonly: true, exclude: [.git/, dist/] }]',
      '    steps: [{ run: make }]',
      '  test:',
      '    cache: false',
      '    mounts: [{ type: bind, from: build, source: /out, target: /in }]',
      '    steps:',
      '      - name: check',
      '        run: make test',
      '        mounts: [{ type: bind, from: build, source: dist, target: /dist }]',
    ].join('\n'),
    '/p/kiln.yaml',
  );
  t.deepEqual(graphOf(built), graphOf(loaded));
});

test('output() makes a bind with from, naming the job it was given', (t) => {
  const build = job('build').withOutput('/out').withStep('make');
  t.deepEqual(output(build, '/out', '/in'), { type: 'bind', from: 'build', source: '/out', target: '/in' });
  t.true(Object.isFrozen(output(build, '/out', '/in')));
});

test('a job whose output is mounted through output() comes along into the pipeline, and is needed', (t) => {
  const deps = job('deps').withOutput('/deps').withStep('fetch');
  const build = job('build')
    .withOutput('/out')
    .withMount(output(deps, '/deps', '/deps'))
    .withStep('make');
  const docs = job('docs').withOutput('/site').withStep('make docs');
  const release = job('release')
    .withMount(output(build, '/out', '/in'))
    .withStep(step('site', 'publish').withMount(output(docs, '/site', '/site')));
  const definition = pipeline({ projectDir: '/p' })
    .withDefaults({ image: 'kiln-fixture/busybox:latest' })
    .withJob(release)
    .toDefinition();
  t.deepEqual(Object.keys(definition.jobs), ['release', 'build', 'docs', 'deps']);
  const graph = compile(definition);
  t.deepEqual(graph.jobs.get('release')!.needs, ['build', 'docs']);
  t.deepEqual(graph.order, ['docs', 'deps', 'build', 'release']);
});

test('withOutput and withCache return a new job and leave the old one unchanged', (t) => {
  const base = job('a').withStep('x');
  const derived = base.withOutput('/out', { export: undefined }).withCache(false);
  t.deepEqual(base.toSpec(), { steps: [{ run: 'x' }] });
  t.deepEqual(derived.toSpec(), { steps: [{ run: 'x' }], outputs: ['/out'], cache: false });
});

test('a from naming a job that is not in the pipeline is an error at the from, naming both jobs', (t) => {
  const error = t.throws(
    () =>
      pipeline()
        .withJob(
          job('build').withOutput('/out').withStep('make'),
          job('test')
            .withStep(step('t').withMount(bind('/out', '/in', { from: 'biuld' })))
            .withMount(bind('/out', '/in2', { from: 'nope' })),
        )
        .toDefinition(),
    { instanceOf: DefinitionError },
  );
  t.deepEqual(
    error?.diagnostics.map((d) => [d.pointer, d.message, d.jobs]),
    [
      [
        '/jobs/test/mounts/0/from',
        "job 'test', mounts[0] mounts an output of 'nope', which is not in the pipeline",
        ['test', 'nope'],
      ],
      [
        '/jobs/test/steps/0/mounts/0/from',
        "job 'test', step 1 mounts[0] mounts an output of 'biuld', which is not in the pipeline; did you mean 'build'?",
        ['test', 'biuld'],
      ],
    ],
  );
});

test("a step's options in code are the step file's: shell", (t) => {
  const built = pipeline({ projectDir: '/p' })
    .withJob(
      job('a')
        .withImage('kiln-fixture/busybox:latest')
        .withStep(step('make').withShell('bash'))
        .withStep(step('make test').withShell(['/bin/sh', '-c'])),
    )
    .toDefinition();
  const loaded = loadDefinitionText(
    [
      'version: 1',
      'jobs:',
      '  a:',
      '    image: kiln-fixture/busybox:latest',
      '    steps:',
      '      - { run: make, shell: bash }',
      '      - { run: make test, shell: [/bin/sh, -c] }',
    ].join('\n'),
    '/p/kiln.yaml',
  );
  t.deepEqual(graphOf(built), graphOf(loaded));
  t.deepEqual(
    compile(built)
      .jobs.get('a')!
      .steps.map((s) => s.argv),
    [
      ['bash', '-e', '-o', 'pipefail', '-c', 'make'],
      ['/bin/sh', '-c', 'make test'],
    ],
  );
});
