/**
 * Which jobs the job cache takes: every job whose inputs are all content-addressed; not, by default and
 * with the reason shown, one with a secret, an ssh agent, a read-write bind, the Docker socket or reuse.
 */
import test from 'ava';
import { cachePolicy } from '../../src/executor/job-key.js';
import type { CompiledJob } from '../../src/graph/types.js';
import {
  bindMount,
  cacheMount,
  job,
  secretMount,
  sshMount,
  step,
  tmpfsMount,
} from '../helpers/mounts-fixtures.js';

const PROJECT = '/work/app';

const policyCase = test.macro({
  exec(
    t,
    built: CompiledJob,
    expected: { cached: boolean; reasons: readonly RegExp[] },
    reuseAll: boolean = false,
  ) {
    const policy = cachePolicy(built, PROJECT, reuseAll);
    t.is(policy.cached, expected.cached);
    t.is(policy.reasons.length, expected.reasons.length, policy.reasons.join('\n'));
    expected.reasons.forEach((pattern, i) => t.regex(policy.reasons[i]!, pattern));
  },
  title: (title = '') => title,
});

test(
  'a job with read-only binds, caches and tmpfs is cached',
  policyCase,
  job('build', [
    bindMount('/work/app/src', '/src', { readonly: true }),
    cacheMount('ccache'),
    tmpfsMount('/build'),
  ]),
  { cached: true, reasons: [] },
);

test(
  'a job whose step mounts a secret is not cached, and the reason names the secret and cache: true',
  policyCase,
  job('publish', [], [step(0, [secretMount('token')])]),
  {
    cached: false,
    reasons: [/it mounts secret token, whose value is not in the key \(cache: true caches it anyway\)/],
  },
);

test('a job that uses an ssh agent is not cached', policyCase, job('fetch', [], [step(0, [sshMount()])]), {
  cached: false,
  reasons: [/ssh agent default/],
});

test(
  'a read-write bind keeps a job out of the cache, naming the bind',
  policyCase,
  job('build', [bindMount('/work/app/src', '/src')]),
  { cached: false, reasons: [/bind \.\/src -> \/src is read-write/] },
);

test(
  'a bind allowed to reach the Docker socket keeps a job out of the cache',
  policyCase,
  job('dind', [
    bindMount('/var/run/docker.sock', '/var/run/docker.sock', { readonly: true, allowDockerSocket: true }),
  ]),
  { cached: false, reasons: [/may reach the Docker socket/] },
);

test(
  'a reused job is not cached',
  policyCase,
  { ...job('warm', []), reuse: {} },
  { cached: false, reasons: [/reuses its container/] },
);

test(
  'kiln run --reuse keeps a job out of the cache',
  policyCase,
  job('plain', []),
  { cached: false, reasons: [/kiln run --reuse/] },
  true,
);

test(
  'a job with outputs stays cached under --reuse',
  policyCase,
  { ...job('build', []), outputs: [{ path: '/out', allowOutsideProject: false }] },
  { cached: true, reasons: [] },
  true,
);

test(
  'cache: true caches a job with a secret',
  policyCase,
  { ...job('publish', [], [step(0, [secretMount('token')])]), cache: true },
  { cached: true, reasons: [] },
);

test(
  'cache: false keeps any job out, saying so',
  policyCase,
  { ...job('build', []), cache: false },
  { cached: false, reasons: [/the job says cache: false/] },
);

test(
  'every reason is given, one per cause, a secret used by two steps once',
  policyCase,
  job(
    'all',
    [bindMount('/work/app', '/app')],
    [step(0, [secretMount('a')]), step(1, [secretMount('a'), sshMount()])],
  ),
  { cached: false, reasons: [/secret a/, /ssh agent default/, /bind \. -> \/app is read-write/] },
);
