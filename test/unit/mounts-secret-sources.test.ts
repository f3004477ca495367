import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveSecretSource, secretFilePath } from '../../src/mounts/secret-sources.js';
import { tempDir } from '../helpers/mounts-fixtures.js';

test('reads a secret from an environment variable', async (t) => {
  const r = await resolveSecretSource(
    { env: 'NPM_TOKEN' },
    { projectDir: '/p', env: { NPM_TOKEN: 'tok-123' } },
  );
  t.deepEqual(r, { found: true, value: Buffer.from('tok-123') });
});

test('an empty environment variable is a secret with an empty value', async (t) => {
  const r = await resolveSecretSource({ env: 'EMPTY' }, { projectDir: '/p', env: { EMPTY: '' } });
  t.deepEqual(r, { found: true, value: Buffer.alloc(0) });
});

test('an unset environment variable is reported by name', async (t) => {
  const r = await resolveSecretSource({ env: 'NPM_TOKEN' }, { projectDir: '/p', env: {} });
  t.deepEqual(r, { found: false, reason: 'environment variable NPM_TOKEN is not set' });
});

test('reads a secret file as bytes, relative to the project folder', async (t) => {
  const dir = await tempDir(t);
  const bytes = Buffer.from([0, 1, 2, 255, 10]);
  await mkdir(join(dir, 'keys'));
  await writeFile(join(dir, 'keys', 'bin'), bytes);
  const r = await resolveSecretSource({ file: 'keys/bin' }, { projectDir: dir, env: {} });
  t.deepEqual(r, { found: true, value: bytes });
});

test('expands ~ in a secret file path to the home folder', async (t) => {
  const home = await tempDir(t);
  await mkdir(join(home, '.ssh'));
  await writeFile(join(home, '.ssh', 'deploy_key'), 'KEY\n');
  const context = { projectDir: '/elsewhere', env: { HOME: home } };
  t.is(secretFilePath('~/.ssh/deploy_key', context), join(home, '.ssh', 'deploy_key'));
  const r = await resolveSecretSource({ file: '~/.ssh/deploy_key' }, context);
  t.deepEqual(r, { found: true, value: Buffer.from('KEY\n') });
});

test('a missing secret file is reported with the path as written and as resolved', async (t) => {
  const dir = await tempDir(t);
  const r = await resolveSecretSource({ file: 'nope.txt' }, { projectDir: dir, env: {} });
  t.deepEqual(r, {
    found: false,
    reason: `file nope.txt (resolved ${join(dir, 'nope.txt')}) does not exist`,
  });
});

test('a secret file that exists but cannot be read is an error, not a missing secret', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'folder'));
  await t.throwsAsync(resolveSecretSource({ file: 'folder' }, { projectDir: dir, env: {} }), {
    code: 'EISDIR',
  });
});
