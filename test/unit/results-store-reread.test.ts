import test from 'ava';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestOf } from '../../src/results/canonical.js';
import { ResultStore, type ResultRecord } from '../../src/results/result-store.js';
import { tempDir } from '../helpers/mounts-fixtures.js';
import { resultOwner, resultRecord } from '../helpers/results-fixtures.js';

const owner = resultOwner();

/** A result of job build whose one output is in `volume`. */
function record(key: string, volume: string): ResultRecord {
  return resultRecord(key, { outputs: [{ path: '/out', volume, digest: digestOf('out'), size: 1 }] });
}

test('a result file changed in place after a lookup read it is read afresh: damaged, it is a miss', async (t) => {
  const results = new ResultStore(join(await tempDir(t, 'kiln-state-'), 'results'));
  const key = digestOf('key-1');
  await results.seal(record(key, 'kiln-result-a'), owner);
  t.like(await results.lookup(key), { kind: 'hit' });
  const path = results.resultPath(key);
  // The same length, so that only the content differs.
  const text = await readFile(path, 'utf8');
  await writeFile(path, text.replace('kiln-result-a', 'kiln-result-b'));
  t.like(await results.lookup(key), { kind: 'miss', damaged: true });
});

test('a result removed and sealed again after a lookup read it reads back as the new one', async (t) => {
  const results = new ResultStore(join(await tempDir(t, 'kiln-state-'), 'results'));
  const key = digestOf('key-1');
  await results.seal(record(key, 'kiln-result-a'), owner);
  t.like(await results.list(), { results: [{ key }] });
  await rm(results.resultPath(key));
  t.like(await results.lookup(key), { kind: 'miss', damaged: false });
  await results.seal(record(key, 'kiln-result-b'), owner);
  const found = await results.lookup(key);
  if (found.kind !== 'hit') return t.fail('expected a hit');
  t.is(found.result.outputs[0]!.volume, 'kiln-result-b');
});
