import test from 'ava';
import { createHash } from 'node:crypto';
import {
  computeKey,
  KEY_FORMAT,
  missReasons,
  NO_EARLIER_RESULT,
  type KeyInputs,
} from '../../src/results/miss-reasons.js';
import { listingOf, type TreeEntry, type TreeListing } from '../../src/results/tree-format.js';

const IMAGE_A = `sha256:ab12${'0'.repeat(60)}`;
const IMAGE_B = `sha256:cd34${'0'.repeat(60)}`;

function hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function file(path: string, text: string, mode = 0o644): TreeEntry {
  return { path, type: 'file', mode, size: text.length, content: hex(text) };
}

const SRC = listingOf([
  file('a.txt', 'alpha'),
  file('b.c', 'int b;'),
  { path: 'lib', type: 'dir', mode: 0o755, size: 0 },
]);

function inputs(overrides: Partial<KeyInputs> = {}): KeyInputs {
  return {
    format: KEY_FORMAT,
    image: { ref: 'kiln-fixture/debian-gcc:bookworm', id: IMAGE_A },
    env: { CC: 'gcc', CI: '1' },
    workdir: '/build',
    shell: ['/bin/sh', '-e', '-c'],
    steps: [
      {
        name: 'configure',
        argv: ['/bin/sh', '-e', '-c', './configure'],
        env: { CC: 'gcc', CI: '1' },
        workdir: '/build',
        allowFailure: false,
        mounts: [],
      },
      {
        name: 'compile',
        argv: ['/bin/sh', '-e', '-c', 'make -j2'],
        env: { CC: 'gcc', CI: '1' },
        workdir: '/build',
        allowFailure: false,
        mounts: [],
      },
    ],
    mounts: [{ type: 'cache', target: '/root/.ccache', id: 'ccache', sharing: 'locked', readonly: false }],
    binds: [{ target: '/src', source: './src', readonly: true, digest: SRC.digest }],
    consumed: [],
    outputs: ['/out'],
    ...overrides,
  };
}

function listings(...all: TreeListing[]): Map<string, TreeListing> {
  return new Map(all.map((l) => [l.digest, l]));
}

test('a job with no earlier inputs says so', (t) => {
  t.deepEqual(missReasons(undefined, inputs()), [NO_EARLIER_RESULT]);
  t.is(NO_EARLIER_RESULT, 'no earlier result');
});

test('the key is stable and ignores what is kept only for messages', (t) => {
  const base = inputs();
  t.is(computeKey(base), computeKey(inputs()));
  const renamed = inputs({
    image: { ref: 'another-tag-of:same', id: IMAGE_A },
    steps: base.steps.map((s, i) => ({ ...s, name: `renamed-${i}` })),
    binds: [{ ...base.binds[0]!, source: './moved', exclude: ['*.o'] }],
  });
  t.is(computeKey(renamed), computeKey(base));
  t.not(computeKey(inputs({ env: { CC: 'clang', CI: '1' } })), computeKey(base));
  t.regex(computeKey(base), /^sha256:[0-9a-f]{64}$/);
});

test('a file that changed is named, as the project shows it', (t) => {
  const after = listingOf([
    file('a.txt', 'ALPHA'),
    file('b.c', 'int b;'),
    { path: 'lib', type: 'dir', mode: 0o755, size: 0 },
  ]);
  const current = inputs({
    binds: [{ target: '/src', source: './src', readonly: true, digest: after.digest }],
  });
  t.deepEqual(missReasons(inputs(), current, { listings: listings(SRC, after) }), ['src/a.txt changed']);
});

test('files added are counted, the first named', (t) => {
  const after = listingOf([...SRC.entries, file('new.c', 'x'), file('lib/z.c', 'z')]);
  const current = inputs({
    binds: [{ target: '/src', source: './src', readonly: true, digest: after.digest }],
  });
  t.deepEqual(missReasons(inputs(), current, { listings: listings(SRC, after) }), [
    '2 files added under ./src (first: src/lib/z.c)',
  ]);
});

test('one file removed is named; a mode change and a symlink retarget say what changed', (t) => {
  const before = listingOf([
    ...SRC.entries,
    file('run.sh', '#!'),
    { path: 'l', type: 'symlink', mode: 0, size: 0, content: 'a.txt' },
  ]);
  const after = listingOf([
    file('a.txt', 'alpha'),
    { path: 'lib', type: 'dir', mode: 0o755, size: 0 },
    file('run.sh', '#!', 0o755),
    { path: 'l', type: 'symlink', mode: 0, size: 0, content: 'b.c' },
  ]);
  const previous = inputs({
    binds: [{ target: '/src', source: './src', readonly: true, digest: before.digest }],
  });
  const current = inputs({
    binds: [{ target: '/src', source: './src', readonly: true, digest: after.digest }],
  });
  t.deepEqual(missReasons(previous, current, { listings: listings(before, after) }), [
    'src/l links to b.c now (was a.txt)',
    "src/run.sh's mode changed (0644 → 0755)",
    'src/b.c removed',
  ]);
});

test('many changed files: the first few are named, the rest counted', (t) => {
  const names = Array.from({ length: 6 }, (_, i) => `f${i}.c`);
  const before = listingOf(names.map((n) => file(n, 'old')));
  const after = listingOf(names.map((n) => file(n, 'new')));
  const bind = (digest: string) => [{ target: '/w', source: '.', readonly: true, digest }];
  t.deepEqual(
    missReasons(inputs({ binds: bind(before.digest) }), inputs({ binds: bind(after.digest) }), {
      listings: listings(before, after),
    }),
    ['f0.c changed', 'f1.c changed', 'f2.c changed', '3 more changed under .'],
  );
});

test('without the earlier listing, the reason names the source', (t) => {
  const current = inputs({
    binds: [{ target: '/src', source: './src', readonly: true, digest: `sha256:${'e'.repeat(64)}` }],
  });
  t.deepEqual(missReasons(inputs(), current), ['the content of ./src changed']);
});

test('another image behind the same tag is told with both IDs', (t) => {
  const current = inputs({ image: { ref: 'kiln-fixture/debian-gcc:bookworm', id: IMAGE_B } });
  t.deepEqual(missReasons(inputs(), current), [
    'image kiln-fixture/debian-gcc:bookworm is another image (sha256:ab1200000000… → sha256:cd3400000000…)',
  ]);
});

test("a step's command, env, workdir and user changes are told per step", (t) => {
  const base = inputs();
  const steps = base.steps.map((s) =>
    s.name === 'compile'
      ? {
          ...s,
          argv: ['/bin/sh', '-e', '-c', 'make -j4'],
          env: { ...s.env, V: '1' },
          workdir: '/b2',
          user: 'builder',
        }
      : s,
  );
  t.deepEqual(missReasons(base, inputs({ steps })), [
    "step compile's command changed",
    "step compile's env V added",
    "step compile's workdir changed (/build → /b2)",
    "step compile's user changed (the default → builder)",
  ]);
});

test('a job env change is told once, not again for every step that inherits it', (t) => {
  const base = inputs();
  const env = { CC: 'clang', CI: '1' };
  const current = inputs({ env, steps: base.steps.map((s) => ({ ...s, env })) });
  t.deepEqual(missReasons(base, current), ['env CC changed']);
});

test('steps added, removed and reordered are told by name', (t) => {
  const base = inputs();
  const test_ = { ...base.steps[1]!, name: 'test', argv: ['make', 'test'] };
  t.deepEqual(missReasons(base, inputs({ steps: [...base.steps, test_] })), ['step test added']);
  t.deepEqual(missReasons(base, inputs({ steps: [base.steps[0]!] })), ['step compile removed']);
  t.deepEqual(missReasons(base, inputs({ steps: [base.steps[1]!, base.steps[0]!] })), [
    'steps run in another order (configure, compile → compile, configure)',
  ]);
});

test('a changed shell is told once, not as every command', (t) => {
  const base = inputs();
  const shell = ['/bin/bash', '-c'];
  const steps = base.steps.map((s) => ({ ...s, argv: [...shell, ...s.argv.slice(3)] }));
  t.deepEqual(missReasons(base, inputs({ shell, steps })), [
    "the job's shell changed (/bin/sh -e -c → /bin/bash -c)",
  ]);
});

test('mount spec changes are told with the fields that changed; cache content is not an input', (t) => {
  const base = inputs();
  t.deepEqual(
    missReasons(
      base,
      inputs({
        mounts: [
          { ...base.mounts[0]!, sharing: 'shared' },
          { type: 'tmpfs', target: '/tmp', sizeBytes: 1024 },
        ],
      }),
    ),
    ['mount cache /root/.ccache changed (sharing locked → shared)', 'mount tmpfs /tmp added'],
  );
  t.deepEqual(missReasons(base, inputs({ mounts: [] })), ['mount cache /root/.ccache removed']);
});

test("a secret's id is an input, its value never", (t) => {
  const base = inputs();
  const withSecret = (id: string) =>
    inputs({
      steps: base.steps.map((s) =>
        s.name === 'compile' ? { ...s, mounts: [{ type: 'secret', target: `/run/secrets/${id}`, id }] } : s,
      ),
    });
  t.deepEqual(missReasons(withSecret('npm-token'), withSecret('other-token')), [
    "step compile's mount secret /run/secrets/npm-token removed",
    "step compile's mount secret /run/secrets/other-token added",
  ]);
});

test("another job's output that changed is named", (t) => {
  const consumed = (digest: string) => [{ job: 'build', path: '/out', target: '/in', digest }];
  t.deepEqual(missReasons(inputs({ consumed: consumed(IMAGE_A) }), inputs({ consumed: consumed(IMAGE_B) })), [
    'the output /out of job build changed',
  ]);
});

test('the same key missing says why it did not hit', (t) => {
  t.deepEqual(missReasons(inputs(), inputs()), ['the last run with the same inputs did not pass']);
  t.deepEqual(missReasons(inputs(), inputs(), { sameKeyCause: 'volume-gone' }), [
    'the result of the same inputs lost its output volume (removed outside kiln)',
  ]);
});

test('a new key format is one reason, whatever else changed', (t) => {
  t.deepEqual(missReasons({ ...inputs(), format: 0 }, inputs({ env: {} })), [
    "kiln's key format changed (0 → 1): every job runs once again",
  ]);
});

test('output paths added or removed are told', (t) => {
  t.deepEqual(missReasons(inputs(), inputs({ outputs: ['/out', '/dist'] })), ['output /dist added']);
});
