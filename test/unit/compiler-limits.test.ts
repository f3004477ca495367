/**
 * What the compiler refuses because the engine or the machine would fail on it at run time: timeouts
 * beyond a timer's range, mounts on the kernel's folders, NUL characters, image references and
 * container names Docker does not take, socket paths too long; each at the value's position.
 */
import test from 'ava';
import { join } from 'node:path';
import { loadGraph } from '../../src/cli/load.js';
import { packageRoot } from '../../src/definition/schema.js';
import type { Definition, JobSpec, MountSpec } from '../../src/definition/types.js';
import { job, pipeline, step } from '../../src/definition/builder.js';
import { DefinitionError, formatDiagnostic, UsageError, type Diagnostic } from '../../src/errors.js';
import { compile, MAX_TIMEOUT_MS } from '../../src/graph/compile.js';
import { renderGraph } from '../../src/graph/render.js';
import { imageReferenceProblem } from '../../src/graph/image-reference.js';
import { MAX_PROJECT_BASE, projectName } from '../../src/graph/project-name.js';

const IMAGE = 'kiln-fixture/busybox:latest';
const run = [{ run: 'true' }];

function definition(jobs: Record<string, JobSpec>, rest: Partial<Definition> = {}): Definition {
  return {
    version: 1,
    projectDir: '/home/me/app',
    defaults: { image: IMAGE },
    secrets: { token: { env: 'TOKEN' } },
    jobs,
    ...rest,
  };
}

function problems(def: Definition): readonly Diagnostic[] {
  try {
    compile(def);
  } catch (error) {
    if (error instanceof DefinitionError) return error.diagnostics;
    throw error;
  }
  throw new Error('compile did not throw');
}

function messages(def: Definition): string[] {
  return problems(def).map((d) => d.message);
}

const fixture = (name: string): string => join(packageRoot(), 'fixtures', 'invalid', name);

async function fileProblems(name: string): Promise<string[]> {
  const error = await loadGraph(fixture(name)).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof DefinitionError)) throw new Error(`${name} did not fail with a DefinitionError`);
  return error.diagnostics.map(formatDiagnostic);
}

test('a timeout of 1000h is refused at its position, saying the longest there can be', async (t) => {
  t.deepEqual(await fileProblems('timeout-too-long.yaml'), [
    `${fixture('timeout-too-long.yaml')}:5:14: job 'build': timeout 1000h is longer than the most kiln can wait, ` +
      '596h31m23s (2147483647 ms, about 24.8 days); write a shorter timeout, or none',
    `${fixture('timeout-too-long.yaml')}:8:18: job 'build', step 'step-1': timeout 600h is longer than the ` +
      'most kiln can wait, 596h31m23s (2147483647 ms, about 24.8 days); write a shorter timeout, or none',
  ]);
});

test('the longest timeout a timer can wait is accepted, one millisecond more is not', (t) => {
  const graph = compile(
    definition({ j: { timeout: '596h31m23.647s', steps: [{ run: 'x', timeout: 2147483.647 }] } }),
  );
  t.is(graph.jobs.get('j')!.timeoutMs, MAX_TIMEOUT_MS);
  t.is(graph.jobs.get('j')!.steps[0]!.timeoutMs, MAX_TIMEOUT_MS);
  t.deepEqual(
    problems(definition({ j: { timeout: '596h31m23.648s', steps: run } })).map((d) => d.pointer),
    ['/jobs/j/timeout'],
  );
  t.regex(
    messages(definition({ j: { steps: [{ run: 'x', timeout: '9'.repeat(400) }] } }))[0]!,
    /longer than/,
  );
});

test('mounts on the kernel folders, and on /dev, are refused at their targets', async (t) => {
  const file = fixture('mount-under-kernel.yaml');
  t.deepEqual(await fileProblems('mount-under-kernel.yaml'), [
    `${file}:8:32: job 'build', mounts[0]: cannot mount on /proc/x: /proc belongs to the kernel, and nothing can be mounted or written under it; choose another target`,
    `${file}:9:42: job 'build', mounts[1]: cannot mount on /sys/fs/x: /sys belongs to the kernel, and nothing can be mounted or written under it; choose another target`,
    `${file}:10:39: job 'build', mounts[2]: cannot mount on /dev: it would hide the container's devices, and the container could not start; mount a folder under it (e.g. /dev/shm) or elsewhere`,
    `${file}:14:53: job 'build', step 'step-1' mounts[0]: cannot put a secret at /dev/null: /dev holds the container's devices, which it could replace; choose another target (the default is under /run)`,
  ]);
});

const targets = test.macro({
  exec(t, mount: MountSpec, refused: boolean) {
    const spec: JobSpec = ['secret', 'ssh'].includes(mount.type)
      ? { steps: [{ run: 'x', mounts: [mount] }] }
      : { mounts: [mount], steps: run };
    const found = (() => {
      try {
        compile(definition({ j: spec }));
        return [];
      } catch (error) {
        if (!(error instanceof DefinitionError)) throw error;
        return error.diagnostics.map((d) => d.message);
      }
    })();
    t.is(found.length, refused ? 1 : 0, found.join('\n'));
  },
  title: (_, mount: MountSpec, refused: boolean) =>
    `a ${mount.type} mount on ${(mount as { target?: string }).target} is ${refused ? 'refused' : 'accepted'}`,
});

for (const type of ['tmpfs', 'cache', 'bind'] as const) {
  const base = (target: string): MountSpec =>
    type === 'tmpfs'
      ? { type, target }
      : type === 'cache'
        ? { type, id: 'c', target }
        : { type, source: '.', target };
  test(targets, base('/proc/self/x'), true);
  test(targets, base('/sys'), true);
  test(targets, base('/dev'), true);
  test(targets, base('/dev/shm'), false);
  test(targets, base('/process'), false);
}
for (const type of ['secret', 'ssh'] as const) {
  const base = (target: string): MountSpec =>
    type === 'secret' ? { type, id: 'token', target } : { type, target };
  test(targets, base('/dev/shm/x'), true);
  test(targets, base('/proc/x'), true);
  test(targets, base('/sys/x'), true);
  test(targets, base('/devices/x'), false);
}

test('an ssh socket path longer than a Unix socket can be is refused', (t) => {
  const long = `/run/${'s'.repeat(110)}.sock`;
  t.deepEqual(
    messages(definition({ j: { steps: [{ run: 'x', mounts: [{ type: 'ssh', target: long }] }] } })),
    [
      `job 'j', step 'step-1' mounts[0]: the socket path ${long} is 120 bytes long, longer than the 107 a Unix socket's path can be; choose a shorter target`,
    ],
  );
});

test('NUL characters in what a definition built in code hands the engine are refused where they are', (t) => {
  const found = problems(
    definition(
      {
        j: {
          image: 'busybox\u0000',
          workdir: '/w\u0000',
          env: { A: 'a\u0000', 'B\u0000': 'b' },
          shell: ['/bin/sh\u0000', '-c'],
          mounts: [{ type: 'tmpfs', target: '/t\u0000' }],
          steps: [{ run: 'echo\u0000' }, { run: ['echo', 'x\u0000'], user: 'u\u0000' }],
        },
      },
      { defaults: { image: IMAGE, network: 'n\u0000' } },
    ),
  );
  t.deepEqual(
    found.map((d) => d.pointer),
    [
      '/defaults/network',
      '/jobs/j/image',
      '/jobs/j/workdir',
      '/jobs/j/env/A',
      '/jobs/j/env/B\u0000',
      '/jobs/j/shell',
      '/jobs/j/mounts/0/target',
      '/jobs/j/steps/0/run',
      '/jobs/j/steps/1/user',
      '/jobs/j/steps/1/run/1',
    ].sort((a, b) => found.findIndex((d) => d.pointer === a) - found.findIndex((d) => d.pointer === b)),
  );
  t.is(found.length, 10);
  t.true(found.every((d) => /NUL/.test(d.message)));
});

test('a step name with a control character is refused by the compiler too', (t) => {
  t.deepEqual(messages(definition({ j: { steps: [{ name: 'ok\r\u001b[2K', run: 'x' }] } })), [
    "job 'j', step 1: its name holds a control character; names are printed on terminals, so they may not hold newlines, tabs, escapes or other control characters",
  ]);
});

test('a reuse name Docker does not take is refused at the name', (t) => {
  const found = problems(definition({ j: { reuse: { name: 'bad name/../x' }, steps: run } }));
  t.is(found.length, 1);
  t.is(found[0]!.pointer, '/jobs/j/reuse/name');
  t.regex(found[0]!.message, /is not a container name Docker takes/);
});

const references = test.macro({
  exec(t, image: string, problem: RegExp | undefined) {
    const found = imageReferenceProblem(image);
    if (problem === undefined) t.is(found, undefined);
    else t.regex(found ?? '', problem);
  },
  title: (_, image: string, problem: RegExp | undefined) =>
    `image ${JSON.stringify(image)} is ${problem === undefined ? 'a reference Docker takes' : 'refused'}`,
});

test(references, 'kiln-fixture/busybox:latest', undefined);
test(references, 'busybox', undefined);
test(references, 'localhost:5000/team/app:1.2.3', undefined);
test(references, 'Registry.Example.com/team/app@sha256:' + 'a'.repeat(64), undefined);
test(references, 'sha256:' + 'b'.repeat(64), undefined);
test(references, 'debian:bookworm-slim', undefined);
test(references, 'Busybox', /upper-case letters/);
test(references, 'busy box', /a space/);
test(references, 'x\\y', /not an image reference Docker takes/);
test(references, ':latest', /not an image reference Docker takes/);
test(references, 'a'.repeat(2000), /too long/);

test('an image reference Docker does not take is refused once, where it is written', (t) => {
  const found = problems(
    definition(
      { a: { steps: run }, b: { steps: run }, c: { image: 'My Image', steps: run } },
      {
        defaults: { image: 'Busybox' },
      },
    ),
  );
  t.deepEqual(
    found.map((d) => [d.pointer, d.message]),
    [
      [
        '/defaults/image',
        `defaults: image "Busybox" has upper-case letters in its repository name, which Docker takes in lower case only`,
      ],
      [
        '/jobs/c/image',
        `job 'c': image "My Image" holds a space or another blank, which no image reference can`,
      ],
    ],
  );
});

test('a project name keeps at most 40 characters of its folder name, and its hash', (t) => {
  const name = projectName(`/home/me/${'a'.repeat(250)}`);
  t.regex(name, new RegExp(`^a{${MAX_PROJECT_BASE}}-[0-9a-f]{8}$`));
  t.not(name, projectName(`/home/me/${'a'.repeat(249)}`));
  t.is(projectName('/home/me/App'), `app-${projectName('/home/me/App').slice(-8)}`);
});

test('a cache id from KILN_DEFAULT_MOUNTS longer than 128 characters is refused when compiling', (t) => {
  const target = `/${'c'.repeat(200)}`;
  t.deepEqual(
    (() => {
      try {
        compile(definition({ j: { steps: run } }), {
          defaultMounts: [{ type: 'cache', id: target, target }],
        });
        return [];
      } catch (error) {
        if (!(error instanceof DefinitionError)) throw error;
        return error.diagnostics.map((d) => d.message);
      }
    })(),
    ['KILN_DEFAULT_MOUNTS entry 1: id is 201 characters long, longer than the 128 allowed'],
  );
});

test('a definition built in JavaScript with a mount of an unknown type or no mount is a DefinitionError', (t) => {
  const unknown = t.throws(
    () =>
      pipeline()
        .withJob(
          job('a')
            .withImage(IMAGE)
            .withMount({ type: 'volume', target: '/x' } as unknown as MountSpec)
            .withStep('x'),
        )
        .toDefinition(),
    { instanceOf: DefinitionError },
  );
  t.is(unknown?.message, "unknown mount type 'volume' (allowed: bind, cache, tmpfs, secret, ssh)");
  const missing = t.throws(
    () =>
      pipeline()
        .withJob(
          job('a')
            .withImage(IMAGE)
            .withStep(step('s', 'x').withMount(null as unknown as MountSpec)),
        )
        .toDefinition(),
    { instanceOf: DefinitionError },
  );
  t.is(missing?.message, "mount 1 of step 's' of job 'a' must be a mount, not an empty value");
});

test('an unknown graph format is a usage error (exit 2)', (t) => {
  const error = t.throws(() => renderGraph(compile(definition({ j: { steps: run } })), 'svg' as 'dot'), {
    instanceOf: UsageError,
  });
  t.is(error?.exitCode, 2);
  t.is(error?.message, "unknown graph format 'svg' (allowed: dot, mermaid, json)");
});
