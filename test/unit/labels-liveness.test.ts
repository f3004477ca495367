import test from 'ava';
import { hostname } from 'node:os';
import { Label, ownerIsGone, ownerLabels, setRunKeeper, thisHost } from '../../src/labels.js';

/** A pid no process has (above the kernel's maximum). */
const DEAD_PID = '4194304';

const of = (host: string, pid: string, keeper?: string) => ({
  [Label.managed]: 'true',
  [Label.host]: host,
  [Label.pid]: pid,
  ...(keeper !== undefined ? { [Label.keeper]: keeper } : {}),
});

test('thisHost is KILN_HOST_ID when set, else the host name', (t) => {
  t.is(thisHost({ KILN_HOST_ID: 'builder-7' }), 'builder-7');
  t.is(thisHost({ KILN_HOST_ID: '  ' }), hostname());
  t.is(thisHost({}), hostname());
});

test('a resource of this host is judged by its pid, whatever its keeper says', (t) => {
  t.false(ownerIsGone(of(thisHost(), String(process.pid), 'k1'), new Set()));
  t.true(ownerIsGone(of(thisHost(), DEAD_PID, 'k1'), new Set(['k1'])));
});

test('a resource of another host is gone once its keeper no longer runs', (t) => {
  t.false(ownerIsGone(of('elsewhere', '1', 'k1'), new Set(['k1'])));
  t.true(ownerIsGone(of('elsewhere', '1', 'k1'), new Set(['k2'])));
});

test('a resource of another host counts as alive without a keeper label, or when keepers were not asked', (t) => {
  t.false(ownerIsGone(of('elsewhere', DEAD_PID), new Set()));
  t.false(ownerIsGone(of('elsewhere', DEAD_PID, 'k1')));
  t.false(ownerIsGone(undefined, new Set()));
});

test('ownerLabels names the run’s keeper while it has one', (t) => {
  t.is(ownerLabels('r-keeper')[Label.keeper], undefined);
  setRunKeeper('r-keeper', 'kiln-keeper-r-keeper-abc');
  t.teardown(() => setRunKeeper('r-keeper', undefined));
  t.is(ownerLabels('r-keeper')[Label.keeper], 'kiln-keeper-r-keeper-abc');
  t.is(ownerLabels('r-other')[Label.keeper], undefined);
});
