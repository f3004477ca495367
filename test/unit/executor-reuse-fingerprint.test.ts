import test from 'ava';
import { reuseFingerprint, type FingerprintInput } from '../../src/executor/reuse-fingerprint.js';

const base: FingerprintInput = {
  imageId: `sha256:${'1'.repeat(64)}`,
  mounts: [{ Type: 'bind', Source: '/host/src', Target: '/src', ReadOnly: true }],
  tmpfs: { '/run/kiln': 'rw,exec', '/build': 'exec,mode=1777' },
  kilnVersion: '0.1.0',
};

test('the fingerprint depends on the config, not on the order its keys were given in', (t) => {
  const reordered: FingerprintInput = {
    kilnVersion: '0.1.0',
    tmpfs: { '/build': 'exec,mode=1777', '/run/kiln': 'rw,exec' },
    mounts: [{ ReadOnly: true, Target: '/src', Source: '/host/src', Type: 'bind' }],
    imageId: `sha256:${'1'.repeat(64)}`,
  };
  t.is(reuseFingerprint(reordered), reuseFingerprint(base));
  t.regex(reuseFingerprint(base), /^[0-9a-f]{32}$/);
});

test('a changed image, mount, tmpfs, network, user or kiln version changes the fingerprint', (t) => {
  const fingerprints = new Set([
    reuseFingerprint(base),
    reuseFingerprint({ ...base, imageId: `sha256:${'2'.repeat(64)}` }),
    reuseFingerprint({ ...base, mounts: [{ ...base.mounts[0]!, ReadOnly: false }] }),
    reuseFingerprint({ ...base, tmpfs: { '/run/kiln': 'rw,exec' } }),
    reuseFingerprint({ ...base, network: 'host' }),
    reuseFingerprint({ ...base, user: '1000' }),
    reuseFingerprint({ ...base, kilnVersion: '0.2.0' }),
  ]);
  t.is(fingerprints.size, 7);
});
