/**
 * The builder speaks the step file's language: every option is the file's key in camelCase, the field
 * tables are the one place that maps them, and a key in any other spelling is refused, never dropped.
 */
import test from 'ava';
import { resolve } from 'node:path';
import { DefinitionError } from '../../src/errors.js';
import { bind, cache, job, pipeline, tmpfs } from '../../src/definition/builder.js';
import { FIELD_TABLES } from '../../src/definition/fields.js';

const camel = (key: string) => key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

test('every field of the definition is its step-file key in camelCase', (t) => {
  for (const [table, fields] of Object.entries(FIELD_TABLES)) {
    for (const [key, field] of Object.entries(fields)) {
      if (field !== null) t.is(field, camel(key), `${table}: ${key}`);
    }
  }
});

test("an option in the step file's spelling is refused, naming the one code uses", (t) => {
  const built = pipeline().withJob(
    job('a')
      .withImage('busybox')
      .withMount(bind('.', '/src', { 'allow-outside-project': true } as never))
      .withStep('true'),
  );
  const error = t.throws(() => built.toDefinition(), { instanceOf: DefinitionError });
  t.deepEqual(error!.diagnostics, [
    {
      message:
        "/jobs/a/mounts/0: 'allow-outside-project' is how the step file spells it; in code, write 'allowOutsideProject'",
      pointer: '/jobs/a/mounts/0',
    },
  ]);
});

test('an unknown option is refused with the closest one, not dropped', (t) => {
  const built = pipeline()
    .withDefaults({ image: 'busybox', workDir: '/w' } as never)
    .withJob(
      job('a')
        .withMount(cache('deps', '/deps', { sharng: 'locked' } as never), tmpfs('/t'))
        .withStep('true'),
    );
  const error = t.throws(() => built.toDefinition(), { instanceOf: DefinitionError });
  const messages = error!.diagnostics.map((d) => d.message);
  t.is(messages.length, 2);
  t.regex(messages[0]!, /^\/defaults: unknown option 'workDir'; did you mean 'workdir'\?/);
  t.regex(messages[1]!, /^\/jobs\/a\/mounts\/0: unknown option 'sharng'; did you mean 'sharing'\?/);
});

test('options spelled as code spells them are kept', (t) => {
  const definition = pipeline()
    .withJob(
      job('a')
        .withImage('busybox')
        .withMount(bind('.', '/src', { allowOutsideProject: true, keepOwner: true }))
        .withStep('true'),
    )
    .toDefinition();
  t.like(definition.jobs['a']!.mounts![0], { allowOutsideProject: true, keepOwner: true });
});

test("a pipeline's project folder is the working directory unless given", (t) => {
  t.is(pipeline().projectDir, process.cwd());
  t.is(
    pipeline().withJob(job('a').withImage('busybox').withStep('true')).toDefinition().projectDir,
    process.cwd(),
  );
  t.is(pipeline({ projectDir: 'sub' }).projectDir, resolve('sub'));
});
