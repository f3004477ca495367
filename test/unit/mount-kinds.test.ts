import test from 'ava';
import { DEFINITION_MOUNT_KINDS, MOUNT_TYPES } from '../../src/definition/mount-kinds/index.js';
import { resolveRef, stepFileSchema } from '../../src/definition/schema.js';
import { GRAPH_MOUNT_KINDS, SPEC_MOUNT_TYPES } from '../../src/graph/mount-kinds/index.js';
import { CONTAINER_MOUNT_KINDS, STEP_MOUNT_KINDS } from '../../src/mounts/kinds/index.js';

test("the schema's mount types are the definition's kinds, in order", (t) => {
  const mount = stepFileSchema().definitions['mount'];
  t.deepEqual(resolveRef(mount!.properties!['type']!).enum, [...MOUNT_TYPES]);
});

test("the schema routes each mount type to its kind's definition, whose keys are the kind's field table", (t) => {
  const schema = stepFileSchema();
  const routes = (schema.definitions['mount']!.allOf ?? []).map((branch) => {
    const node = branch as { if?: { properties?: { type?: { const?: string } } }; then?: { $ref?: string } };
    return [node.if?.properties?.type?.const, node.then?.$ref];
  });
  t.deepEqual(
    routes,
    MOUNT_TYPES.map((type) => [type, `#/definitions/${type}-mount`]),
  );
  for (const kind of DEFINITION_MOUNT_KINDS) {
    const keys = Object.keys(schema.definitions[`${kind.type}-mount`]?.properties ?? {});
    t.deepEqual(Object.keys(kind.fields).sort(), keys.sort(), kind.type);
  }
});

test('the compiler compiles exactly the mount types a definition can declare', (t) => {
  t.deepEqual([...SPEC_MOUNT_TYPES], [...MOUNT_TYPES]);
});

test('every compiled mount kind is planned and acquired by a kind of the same life', (t) => {
  const life = (l: string) => GRAPH_MOUNT_KINDS.filter((kind) => kind.life === l).map((kind) => kind.type);
  t.deepEqual(CONTAINER_MOUNT_KINDS.map((kind) => kind.type).sort(), life('container').sort());
  t.deepEqual(STEP_MOUNT_KINDS.map((kind) => kind.type).sort(), life('step').sort());
});

test("a kind's KILN_DEFAULT_MOUNTS keys are keys of the step file's form of it", (t) => {
  for (const kind of DEFINITION_MOUNT_KINDS) {
    for (const key of kind.defaultForm?.keys ?? []) t.true(key in kind.fields, `${kind.type}: ${key}`);
  }
});
