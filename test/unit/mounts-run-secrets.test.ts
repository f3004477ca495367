import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunSecrets } from '../../src/mounts/run-secrets.js';
import { graph, job, tempDir } from '../helpers/mounts-fixtures.js';

test('every declared secret with a value masks output, whether or not a job mounts it; a missing one is skipped', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'key.pem'), 'KEY-LINE-1\nKEY-LINE-2\n');
  const secrets = new RunSecrets(
    graph(dir, 'p', [job('build', [])], {
      token: { env: 'TOKEN' },
      key: { file: join(dir, 'key.pem') },
      missing: { env: 'NOT_SET' },
      gone: { file: join(dir, 'gone.pem') },
    }),
    { TOKEN: 'tok-123456' },
  );
  const masker = (await secrets.mask()).createMasker();
  const shown = Buffer.concat([
    masker.push(Buffer.from('a tok-123456 b KEY-LINE-2 c NOT_SET')),
    masker.flush(),
  ]).toString();
  t.is(shown, 'a *** b *** c NOT_SET');
});

test('a secret is read once per run, however many steps and maskers ask', async (t) => {
  let reads = 0;
  const env = new Proxy<NodeJS.ProcessEnv>(
    { TOKEN: 'tok-1' },
    {
      get(target, name) {
        if (name === 'TOKEN') reads++;
        return Reflect.get(target, name);
      },
    },
  );
  const secrets = new RunSecrets(graph('/tmp', 'p', [], { token: { env: 'TOKEN' } }), env);
  await Promise.all([secrets.resolve('token'), secrets.resolve('token'), secrets.mask(), secrets.mask()]);
  t.is(reads, 1);
  t.is(secrets.resolve('undeclared'), undefined);
});

test('an empty secret value masks nothing', async (t) => {
  const secrets = new RunSecrets(graph('/tmp', 'p', [], { empty: { env: 'EMPTY' } }), { EMPTY: '' });
  const masker = (await secrets.mask()).createMasker();
  t.is(Buffer.concat([masker.push(Buffer.from('plain text')), masker.flush()]).toString(), 'plain text');
});
