import test from 'ava';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { repoRoot } from '../helpers/kiln-cli.js';

const src = join(repoRoot, 'src');

/** The rooms in the order of docs/architecture.md's table, top first; `bottom` is `src/*.ts`. */
function documentedRooms(): string[] {
  const doc = readFileSync(join(repoRoot, 'docs/architecture.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Rooms, and what each may import'));
  const rooms: string[] = [];
  for (const line of section.split('\n')) {
    if (line.startsWith('## ') && rooms.length > 0) break;
    const m = /^\| (?:`([a-z-]+)\/`|(bottom)) /.exec(line);
    if (m) rooms.push(m[1] ?? m[2]!);
  }
  return rooms;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

function roomOf(file: string): string {
  const parts = relative(src, file).split('/');
  return parts.length === 1 ? 'bottom' : parts[0]!;
}

/** Every import of another room by a file of `src/`, as `file → imported file`. */
function crossRoomImports(): Array<{ file: string; from: string; to: string; target: string }> {
  const found: Array<{ file: string; from: string; to: string; target: string }> = [];
  for (const file of sourceFiles(src)) {
    // The public API is the entry: it gathers every room.
    if (file === join(src, 'index.ts')) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = resolve(dirname(file), m[1]!).replace(/\.js$/, '.ts');
      const from = roomOf(file);
      const to = roomOf(target);
      if (from !== to)
        found.push({ file: relative(repoRoot, file), from, to, target: relative(repoRoot, target) });
    }
  }
  return found;
}

test("every room of src/ is in the architecture's table of rooms, and every room there exists", (t) => {
  const rooms = documentedRooms();
  const actual = readdirSync(src).filter((name) => statSync(join(src, name)).isDirectory());
  t.deepEqual([...rooms].filter((r) => r !== 'bottom').sort(), actual.sort());
  t.is(rooms.at(-1), 'bottom');
});

test('imports point down the table of rooms, never up', (t) => {
  const rank = new Map(documentedRooms().map((room, i) => [room, i]));
  const imports = crossRoomImports();
  t.true(imports.length > 100, 'the scan finds the imports between rooms');
  const upward = imports
    .filter(({ from, to }) => (rank.get(to) ?? -1) < (rank.get(from) ?? -1))
    .map(({ file, target }) => `${file} imports ${target}`);
  t.deepEqual(upward, []);
});
