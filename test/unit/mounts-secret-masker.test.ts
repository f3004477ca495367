import test from 'ava';
import { compileMask, createMasker, maskAll, maskPatterns } from '../../src/mounts/secret-masker.js';
import { prng, textWithSecrets } from '../helpers/random.js';

/** The plain definition: at each position, left to right, the longest pattern that matches is replaced. */
function referenceMask(patterns: readonly string[], text: string): string {
  const sorted = [...patterns].filter((p) => p.length > 0).sort((a, b) => b.length - a.length);
  let out = '';
  let i = 0;
  while (i < text.length) {
    const hit = sorted.find((p) => text.startsWith(p, i));
    if (hit) {
      out += '***';
      i += hit.length;
    } else {
      out += text[i];
      i += 1;
    }
  }
  return out;
}

function streamed(secrets: readonly string[], chunks: readonly string[]): string {
  const masker = createMasker(secrets.map((s) => Buffer.from(s)));
  const parts = chunks.map((c) => masker.push(Buffer.from(c)));
  parts.push(masker.flush());
  return Buffer.concat(parts).toString();
}

const masks = test.macro({
  exec(t, secrets: readonly string[], chunks: readonly string[], expected: string) {
    t.is(streamed(secrets, chunks), expected);
  },
  title: (provided) => provided ?? 'masks secrets',
});

test(
  'masks a secret in one chunk',
  masks,
  ['hunter2'],
  ['the password is hunter2.\n'],
  'the password is ***.\n',
);
test('masks a secret split across two chunks', masks, ['hunter2'], ['pass hun', 'ter2 end'], 'pass *** end');
test('masks a secret split across many one-byte chunks', masks, ['hunter2'], [...'xhunter2y'], 'x***y');
test('masks every occurrence, adjacent ones too', masks, ['ab12'], ['ab12ab12 ab12'], '****** ***');
test(
  'masks overlapping occurrences leftmost first',
  masks,
  ['abab'],
  ['ababab'],
  // the first occurrence wins; the rest ("ab") is not a whole secret
  '***ab',
);
test(
  'masks several secrets, the longest first',
  masks,
  ['token', 'token-long'],
  ['a token-long b token'],
  'a *** b ***',
);
test(
  'masks a multi-line secret as a whole',
  masks,
  ['line-one\nline-two'],
  ['x line-one\nline-two y'],
  'x *** y',
);
test(
  'masks each line of a multi-line secret printed alone',
  masks,
  ['line-one\nline-two\n'],
  ['first: line-one\n', 'second: line-two\n'],
  'first: ***\nsecond: ***\n',
);
test(
  'masks a file secret ending in a newline when printed without it',
  masks,
  ['s3cr3t-token\n'],
  ['got s3cr3t-token!'],
  'got ***!',
);
test(
  'masks a CRLF-terminated line of a multi-line secret',
  masks,
  ['first-line\r\nsecond\r\n'],
  ['[first-line]'],
  '[***]',
);
test(
  'leaves lines shorter than 4 bytes of a multi-line secret visible',
  masks,
  ['abc\nlonger-line'],
  ['abc and longer-line'],
  'abc and ***',
);
test('shows a partial secret left at the end of the stream', masks, ['hunter2'], ['hunt', 'er'], 'hunter');
test('passes text through when there are no secrets', masks, [], ['plain', ' text'], 'plain text');
test('passes text through when every secret is empty', masks, [''], ['plain text'], 'plain text');

test('text that cannot start a secret is not held back', (t) => {
  const masker = createMasker([Buffer.from('hunter2')]);
  t.is(masker.push(Buffer.from('password: ')).toString(), 'password: ');
  t.is(masker.push(Buffer.from('hun')).toString(), '');
  t.is(masker.push(Buffer.from('gry')).toString(), 'hungry');
  t.is(masker.flush().toString(), '');
});

test('at most the longest secret minus one byte is held back', (t) => {
  const masker = createMasker([Buffer.from('aaaaaa')]);
  const out = masker.push(Buffer.from('aaaaa'));
  t.is(out.length, 0);
  t.is(masker.push(Buffer.from('b')).toString(), 'aaaaab');
});

test('patterns are unique, non-empty, longest first, with the lines of multi-line values', (t) => {
  const patterns = maskPatterns([Buffer.from('ab\ncdef\n'), Buffer.from('cdef'), Buffer.from('')]).map(
    String,
  );
  t.deepEqual(patterns, ['ab\ncdef\n', 'cdef']);
});

test('maskAll masks a whole buffer like the stream does', (t) => {
  t.is(maskAll([Buffer.from('k3y')], Buffer.from('k3y k3 k3y')).toString(), '*** k3 ***');
});

test('randomly chunked streams mask exactly like the whole text', (t) => {
  for (let seed = 1; seed <= 300; seed++) {
    const random = prng(seed);
    const { secrets, text } = textWithSecrets(random, { minSecret: 1, pieces: 20 });
    // The reference knows the patterns the masker derives (values plus long enough lines).
    const patterns = maskPatterns(secrets.map((s) => Buffer.from(s))).map(String);
    const expected = referenceMask(patterns, text);
    const cuts: number[] = [];
    for (let i = 1; i < text.length; i++) if (random() < 0.3) cuts.push(i);
    const chunks = [0, ...cuts].map((start, i) => text.slice(start, cuts[i] ?? text.length));
    const actual = streamed(secrets, chunks);
    if (actual !== expected) {
      t.fail(`seed ${seed}: secrets ${JSON.stringify(secrets)} chunks ${JSON.stringify(chunks)}`);
      return;
    }
  }
  t.pass();
});

// ---- both streams of a step --------------------------------------------------------------------

type Stream = 'stdout' | 'stderr';

/** Runs pushes through a streams masker; returns each stream's output and the order of everything shown. */
function streamedBoth(
  secrets: readonly string[],
  pushes: ReadonlyArray<readonly [Stream, string]>,
): { stdout: string; stderr: string; combined: string } {
  const masker = compileMask(secrets.map((s) => Buffer.from(s))).createStreamsMasker<Stream>();
  const shown = pushes.flatMap(([stream, text]) => masker.push(stream, Buffer.from(text)));
  shown.push(...masker.flush());
  const of = (stream: Stream) =>
    shown
      .filter((c) => c.stream === stream)
      .map((c) => c.data.toString())
      .join('');
  return {
    stdout: of('stdout'),
    stderr: of('stderr'),
    combined: shown.map((c) => c.data.toString()).join(''),
  };
}

/** The leftmost-longest matches of `patterns` in `text`, as [start, end) pairs. */
function referenceMatches(patterns: readonly string[], text: string): Array<[number, number]> {
  const sorted = [...patterns].filter((p) => p.length > 0).sort((a, b) => b.length - a.length);
  const matches: Array<[number, number]> = [];
  for (let i = 0; i < text.length;) {
    const hit = sorted.find((p) => text.startsWith(p, i));
    if (hit) matches.push([i, (i += hit.length)]);
    else i += 1;
  }
  return matches;
}

/**
 * The plain definition for two streams: the matches in the interleaved bytes and in each stream alone
 * hide their bytes; in each stream, the matches that share a byte there are one secret, one mask.
 */
function referenceBoth(
  secrets: readonly string[],
  pushes: ReadonlyArray<readonly [Stream, string]>,
): { stdout: string; stderr: string } {
  const patterns = maskPatterns(secrets.map((s) => Buffer.from(s))).map(String);
  // Every byte with its stream and its place among all bytes.
  const bytes: Array<{ stream: Stream; char: string }> = [];
  for (const [stream, text] of pushes) for (const char of text) bytes.push({ stream, char });
  const globalOf = (stream: Stream) => bytes.flatMap((b, i) => (b.stream === stream ? [i] : []));
  // A match in the interleaved bytes counts as one match in each stream, of its bytes there.
  const matches: number[][] = referenceMatches(patterns, bytes.map((b) => b.char).join('')).flatMap(
    ([s, e]) => {
      const places = Array.from({ length: e - s }, (_, k) => s + k);
      return (['stdout', 'stderr'] as const)
        .map((stream) => places.filter((p) => bytes[p]!.stream === stream))
        .filter((part) => part.length > 0);
    },
  );
  for (const stream of ['stdout', 'stderr'] as const) {
    const places = globalOf(stream);
    const text = places.map((i) => bytes[i]!.char).join('');
    for (const [s, e] of referenceMatches(patterns, text)) matches.push(places.slice(s, e));
  }
  // Clusters: matches that share a byte.
  const parent = matches.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const owner = new Map<number, number>();
  matches.forEach((places, m) => {
    for (const place of places) {
      const other = owner.get(place);
      if (other !== undefined) parent[find(m)] = find(other);
      else owner.set(place, m);
    }
  });
  const out = (stream: Stream) => {
    const shown = new Set<number>();
    let text = '';
    for (const place of globalOf(stream)) {
      const m = owner.get(place);
      if (m === undefined) text += bytes[place]!.char;
      else if (!shown.has(find(m))) {
        shown.add(find(m));
        text += '***';
      }
    }
    return text;
  };
  return { stdout: out('stdout'), stderr: out('stderr') };
}

test('a secret split across stdout and stderr is masked in both, one mask each', (t) => {
  const both = streamedBoth(
    ['first-half-rest'],
    [
      ['stdout', 'first-half'],
      ['stderr', '-rest\n'],
    ],
  );
  t.is(both.stdout, '***');
  t.is(both.stderr, '***\n');
  t.false(both.combined.includes('first'));
  t.false(both.combined.includes('rest'));
});

test('a secret printed in pieces on one stream, with the other stream between them, is masked', (t) => {
  const both = streamedBoth(
    ['hunter2'],
    [
      ['stdout', 'pw: hun'],
      ['stderr', 'progress 50%\n'],
      ['stdout', 'ter2\n'],
    ],
  );
  t.is(both.stdout, 'pw: ***\n');
  t.is(both.stderr, 'progress 50%\n');
});

test("bytes held back on one stream do not hold back the other stream's output", (t) => {
  const masker = compileMask([Buffer.from('hunter2')]).createStreamsMasker<Stream>();
  t.deepEqual(masker.push('stdout', Buffer.from('x hun')), [{ stream: 'stdout', data: Buffer.from('x ') }]);
  t.deepEqual(masker.push('stderr', Buffer.from('working\n')), [
    { stream: 'stderr', data: Buffer.from('working\n') },
  ]);
  t.deepEqual(masker.push('stdout', Buffer.from('gry\n')), [
    { stream: 'stdout', data: Buffer.from('hungry\n') },
  ]);
  t.deepEqual(masker.flush(), []);
});

test('both streams without secrets pass through as they came', (t) => {
  const masker = compileMask([]).createStreamsMasker<Stream>();
  t.deepEqual(masker.push('stderr', Buffer.from('a')), [{ stream: 'stderr', data: Buffer.from('a') }]);
  t.deepEqual(masker.flush(), []);
});

test('randomly interleaved and chunked streams mask like the plain definition', (t) => {
  for (let seed = 1; seed <= 400; seed++) {
    const random = prng(seed);
    const { secrets, text } = textWithSecrets(random, { minSecret: 2, pieces: 16 });
    const pushes: Array<[Stream, string]> = [];
    for (let i = 0; i < text.length;) {
      const length = 1 + Math.floor(random() * 5);
      pushes.push([random() < (seed % 3 === 0 ? 0.9 : 0.5) ? 'stdout' : 'stderr', text.slice(i, i + length)]);
      i += length;
    }
    const expected = referenceBoth(secrets, pushes);
    const actual = streamedBoth(secrets, pushes);
    if (actual.stdout !== expected.stdout || actual.stderr !== expected.stderr) {
      t.fail(
        `seed ${seed}: secrets ${JSON.stringify(secrets)} pushes ${JSON.stringify(pushes)}\n` +
          `expected ${JSON.stringify(expected)}\nactual ${JSON.stringify(actual)}`,
      );
      return;
    }
    // One stream alone is masked exactly like a single stream.
    const alone = streamedBoth(
      secrets,
      pushes.map(([, chunk]) => ['stdout', chunk] as const),
    );
    if (alone.stdout !== streamed(secrets, [text])) {
      t.fail(`seed ${seed} (one stream): secrets ${JSON.stringify(secrets)} text ${JSON.stringify(text)}`);
      return;
    }
  }
  t.pass();
});
