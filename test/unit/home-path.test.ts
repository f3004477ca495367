import test from 'ava';
import { homeDir, resolveUserPath } from '../../src/home-path.js';

test('a leading ~ alone or before / is the home folder; other paths resolve against the base', (t) => {
  t.is(resolveUserPath('~', '/project', '/home/me'), '/home/me');
  t.is(resolveUserPath('~/.ssh/key', '/project', '/home/me'), '/home/me/.ssh/key');
  t.is(resolveUserPath('keys/a', '/project', '/home/me'), '/project/keys/a');
  t.is(resolveUserPath('~other/x', '/project', '/home/me'), '/project/~other/x');
  t.is(resolveUserPath('/etc/hosts', '/project', '/home/me'), '/etc/hosts');
});

test("the home folder is HOME when set, else the user's", (t) => {
  t.is(homeDir({ HOME: '/home/elsewhere' }), '/home/elsewhere');
  t.true(homeDir({}).length > 0);
});
