import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { digestOf } from '../../src/results/canonical.js';
import { choosePrunable, ResultStore, type StoredResult } from '../../src/results/result-store.js';
import { listingOf } from '../../src/results/tree-format.js';
import { tempDir } from '../helpers/mounts-fixtures.js';
import {
  KEY_INPUTS as INPUTS,
  resultOwner as owner,
  resultRecord as record,
} from '../helpers/results-fixtures.js';

async function store(t: Parameters<typeof tempDir>[0]): Promise<ResultStore> {
  return new ResultStore(join(await tempDir(t, 'kiln-state-'), 'results'));
}

test('a sealed result reads back as a hit with its outputs', async (t) => {
  const results = await store(t);
  const key = digestOf('key-1');
  t.like(await results.lookup(key), { kind: 'miss', damaged: false });
  const sealed = await results.seal(record(key), owner());
  t.is(sealed.outcome, 'sealed');
  const found = await results.lookup(key);
  if (found.kind !== 'hit') return t.fail('expected a hit');
  t.deepEqual(found.result.outputs, record(key).outputs);
  t.is(found.result.size, 1234);
  t.deepEqual(found.result.inputs, INPUTS);
});

test('touch records the last use without rewriting the result', async (t) => {
  const results = await store(t);
  const key = digestOf('key-touch');
  await results.seal(record(key), owner());
  const before = await readFile(results.resultPath(key), 'utf8');
  const later = new Date(Date.now() + 3_600_000);
  await results.touch(key, later);
  const found = await results.lookup(key);
  t.is(found.kind === 'hit' && found.result.lastUsedAt, later.toISOString());
  t.is(await readFile(results.resultPath(key), 'utf8'), before);
  await t.notThrowsAsync(results.touch(digestOf('absent')));
});

test('a damaged, cut short, empty or foreign result file is a miss with a warning, never an error', async (t) => {
  const results = await store(t);
  const key = digestOf('key-damaged');
  await results.seal(record(key), owner());
  const path = results.resultPath(key);
  const good = await readFile(path, 'utf8');
  const cases: Array<[string, string, RegExp]> = [
    ['cut short', good.slice(0, good.length / 2), /not complete JSON/],
    ['empty', '', /it is empty/],
    ['a changed digest', good.replace(/"size":1234/, '"size":4321'), /checksum does not match/],
    ['another key', (await sealedText(t, digestOf('other'))).text, /checksum|another key/],
  ];
  for (const [what, text, why] of cases) {
    await writeFile(path, text);
    const found = await results.lookup(key);
    t.is(found.kind, 'miss', what);
    if (found.kind === 'miss') {
      t.true(found.damaged, what);
      t.regex(found.warning ?? '', why, what);
      t.regex(found.warning ?? '', /counts as a miss/, what);
    }
  }
});

/** The text of a result sealed in a store of its own. */
async function sealedText(t: Parameters<typeof tempDir>[0], key: string): Promise<{ text: string }> {
  const other = await store(t);
  await other.seal(record(key), owner());
  return { text: await readFile(other.resultPath(key), 'utf8') };
}

test('a write cut short by a crash is never read: its temporary file is not the result', async (t) => {
  const results = await store(t);
  const key = digestOf('key-crash');
  const path = results.resultPath(key);
  await mkdir(dirname(path), { recursive: true });
  const { text } = await sealedText(t, key);
  // What a process killed while writing leaves: a temporary sibling, part written.
  const temp = `${path}.tmp-99999-0123456789ab`;
  await writeFile(temp, text.slice(0, 40));
  t.like(await results.lookup(key), { kind: 'miss', damaged: false });
  const old = new Date(Date.now() - 2 * 3_600_000);
  await utimes(temp, old, old);
  t.deepEqual((await results.list()).results, []);
  await t.throwsAsync(stat(temp), { code: 'ENOENT' });
  t.is((await results.seal(record(key), owner())).outcome, 'sealed');
});

test('sealing over a damaged result replaces it', async (t) => {
  const results = await store(t);
  const key = digestOf('key-replace');
  await mkdir(dirname(results.resultPath(key)), { recursive: true });
  await writeFile(results.resultPath(key), '{"trunc');
  t.is((await results.seal(record(key), owner())).outcome, 'sealed');
  t.is((await results.lookup(key)).kind, 'hit');
});

test('a second seal of a key loses to the first and gets its result', async (t) => {
  const results = await store(t);
  const key = digestOf('key-twice');
  await results.seal(record(key, { producedBy: 'run-a' }), owner('build', 'run-a'));
  const second = await results.seal(record(key, { producedBy: 'run-b' }), owner('build', 'run-b'));
  t.is(second.outcome, 'lost');
  if (second.outcome === 'lost') t.is(second.winner.producedBy, 'run-a');
});

test('of several kiln processes sealing one key at once, exactly one wins', async (t) => {
  const results = await store(t);
  const key = digestOf('key-race');
  const module = new URL('../../src/results/result-store.js', import.meta.url).href;
  const script = `
    import { ResultStore } from ${JSON.stringify(module)};
    import { hostname } from 'node:os';
    const [dir, key, run] = process.argv.slice(1);
    const store = new ResultStore(dir);
    const record = JSON.parse(process.env.RECORD);
    const outcome = await store.seal({ ...record, producedBy: run }, { pid: process.pid, host: hostname(), runId: run, job: 'build' });
    process.stdout.write(JSON.stringify({ outcome: outcome.outcome, winner: (outcome.winner ?? outcome.result).producedBy }));
  `;
  const runs = ['run-1', 'run-2', 'run-3', 'run-4'];
  const outcomes = await Promise.all(
    runs.map(
      (run) =>
        new Promise<{ outcome: string; winner: string }>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            ['--input-type=module', '-e', script, results.dir, key, run],
            {
              env: { ...process.env, RECORD: JSON.stringify(record(key)) },
              stdio: ['ignore', 'pipe', 'inherit'],
            },
          );
          let out = '';
          child.stdout.on('data', (c: Buffer) => (out += c.toString()));
          child.on('error', reject);
          child.on('exit', (code) =>
            code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`exit ${code}`)),
          );
        }),
    ),
  );
  const winners = outcomes.filter((o) => o.outcome === 'sealed');
  t.is(winners.length, 1);
  const winner = outcomes.find((o) => o.outcome === 'sealed')!.winner;
  t.true(outcomes.every((o) => o.winner === winner));
  const found = await results.lookup(key);
  t.is(found.kind === 'hit' && found.result.producedBy, winner);
});

test('a seal lock left by a kiln that died is taken over', async (t) => {
  const results = await store(t);
  const key = digestOf('key-dead-holder');
  const dead = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['-e', '']);
    child.on('exit', () => resolve(child.pid!));
  });
  const lockPath = join(results.dir, 'locks', `result-${key.slice(7)}.seal`);
  await mkdir(dirname(lockPath), { recursive: true });
  await writeFile(
    lockPath,
    JSON.stringify({
      pid: dead,
      host: hostname(),
      runId: 'dead',
      job: 'build',
      since: new Date().toISOString(),
    }),
  );
  t.is((await results.seal(record(key), owner())).outcome, 'sealed');
});

test('a pinned result is not removed; once unpinned it is', async (t) => {
  const results = await store(t);
  const key = digestOf('key-pinned');
  await results.seal(record(key), owner());
  const acquired = await results.acquire(key, owner('test', 'run-2'));
  if (acquired.kind !== 'hit') return t.fail('expected a hit');
  const refused = await results.remove(key, owner('prune', 'prune-1'));
  t.deepEqual(refused, { pinnedBy: [`job test of run run-2 (pid ${process.pid})`] });
  t.is((await results.lookup(key)).kind, 'hit');
  await acquired.pin.release();
  t.is(await results.remove(key, owner('prune', 'prune-1')), 'removed');
  t.like(await results.lookup(key), { kind: 'miss' });
  t.is(await results.remove(key, owner('prune', 'prune-1')), 'absent');
});

test('acquiring a result that was removed is a miss and leaves no pin', async (t) => {
  const results = await store(t);
  const key = digestOf('key-gone');
  await results.seal(record(key), owner());
  await results.remove(key, owner('prune'));
  t.like(await results.acquire(key, owner('test')), { kind: 'miss' });
  t.deepEqual(await results.pinnedBy(key), []);
});

test('the last inputs of a job read back; damaged ones give a warning and no inputs', async (t) => {
  const results = await store(t);
  const key = digestOf('key-last');
  t.deepEqual(await results.readLast('app', 'build'), {});
  await results.recordLast('app', 'build', key, INPUTS);
  const { last } = await results.readLast('app', 'build');
  t.is(last?.key, key);
  t.deepEqual(last?.inputs, INPUTS);
  t.deepEqual(await results.readLast('app', 'test'), {});
  await writeFile(results.lastPath('app', 'build'), '{"format":1,');
  const damaged = await results.readLast('app', 'build');
  t.is(damaged.last, undefined);
  t.regex(damaged.warning ?? '', /are damaged/);
});

test('listings are kept by digest, checked when read, and pruned when nothing refers to them', async (t) => {
  const results = await store(t);
  const listing = listingOf([
    { path: 'a.txt', type: 'file', mode: 0o644, size: 1, content: 'a'.repeat(64) },
    { path: 'dir', type: 'dir', mode: 0o755, size: 0 },
  ]);
  await results.storeListing(listing);
  await results.storeListing(listing);
  t.deepEqual(await results.readListing(listing.digest), listing);
  t.is(await results.readListing(digestOf('nothing')), undefined);

  await results.recordLast('app', 'build', digestOf('k'), {
    ...INPUTS,
    binds: [{ target: '/src', source: './src', readonly: true, digest: listing.digest }],
  });
  const orphan = listingOf([{ path: 'x', type: 'dir', mode: 0o700, size: 0 }]);
  await results.storeListing(orphan);
  t.is(await results.removeUnreferencedListings(0), 1);
  t.truthy(await results.readListing(listing.digest));
  t.is(await results.readListing(orphan.digest), undefined);

  await writeFile(results.listingPath(listing.digest), 'garbage');
  t.is(await results.readListing(listing.digest), undefined);
});

test('list returns every sound result and warns of damaged ones', async (t) => {
  const results = await store(t);
  await results.seal(record(digestOf('l1')), owner());
  await results.seal(record(digestOf('l2')), owner());
  await mkdir(dirname(results.resultPath(digestOf('l3'))), { recursive: true });
  await writeFile(results.resultPath(digestOf('l3')), 'nope');
  const listed = await results.list();
  t.deepEqual(listed.results.map((r) => r.key).sort(), [digestOf('l1'), digestOf('l2')].sort());
  t.is(listed.warnings.length, 1);
  t.true((await readdir(join(results.dir, 'store'))).length >= 1);
});

function stored(key: string, size: number, lastUsedAt: string): StoredResult {
  return { ...record(digestOf(key)), size, lastUsedAt };
}

test('pruning to a byte budget removes the least recently used first, never a pinned one', (t) => {
  const all = [
    stored('a', 100, '2024-01-01T00:00:00Z'),
    stored('b', 100, '2024-01-03T00:00:00Z'),
    stored('c', 100, '2024-01-02T00:00:00Z'),
    stored('d', 100, '2024-01-04T00:00:00Z'),
  ];
  const pinned = new Set([digestOf('a')]);
  const chosen = choosePrunable(all, { keepBytes: 200, isPinned: (k) => pinned.has(k) });
  t.deepEqual(
    chosen.map((r) => r.key),
    [digestOf('c'), digestOf('b')],
  );
  t.deepEqual(choosePrunable(all, { keepBytes: 1000 }), []);
});

test('pruning by age removes results unused for longer than the limit', (t) => {
  const now = Date.parse('2024-01-10T00:00:00Z');
  const all = [stored('old', 1, '2024-01-01T00:00:00Z'), stored('new', 1, '2024-01-09T12:00:00Z')];
  t.deepEqual(
    choosePrunable(all, { unusedForMs: 7 * 86_400_000, now }).map((r) => r.key),
    [digestOf('old')],
  );
});
