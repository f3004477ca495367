/**
 * acquireServices over an in-memory engine (kiln's runtime interfaces, not Docker's): what it makes, in
 * which order it is released, and how a service's output becomes events. The real engine's behaviour is
 * tested in test/integration/services.test.ts.
 */
import test from 'ava';
import type { KilnEvent } from '../../src/events.js';
import { createEmitter } from '../../src/events.js';
import type { CompiledJob, CompiledService } from '../../src/graph/types.js';
import { ReleaseStack } from '../../src/release.js';
import type { ContainerSpec } from '../../src/runtime/containers.js';
import type { ChunkListener } from '../../src/runtime/exec.js';
import { acquireServices, type ServicesContext } from '../../src/services/acquire-services.js';
import { compiledJob } from '../helpers/graphs.js';

/** An engine that records what is asked of it; each service prints `chunks` and keeps running. */
function memoryEngine(chunks: readonly Buffer[]) {
  const calls: string[] = [];
  const specs: ContainerSpec[] = [];
  let n = 0;
  const engine = {
    networks: {
      create: async (name: string) => {
        calls.push(`network.create ${name.startsWith('kiln-') ? 'kiln-*' : name}`);
        return 'net-1';
      },
      remove: async () => {
        calls.push('network.remove');
        return 'removed' as const;
      },
      list: async () => [],
    },
    containers: {
      create: async (spec: ContainerSpec) => {
        specs.push(spec);
        calls.push(`container.create ${spec.networkAliases?.join(',')}`);
        return `c${++n}`;
      },
      start: async (id: string) => void calls.push(`container.start ${id}`),
      inspect: async (id: string) => ({
        id,
        name: id,
        imageId: 'sha256:1',
        imageReference: 'img',
        running: true,
        labels: {},
      }),
      stop: async (id: string) => void calls.push(`container.stop ${id}`),
      remove: async (id: string) => {
        calls.push(`container.remove ${id}`);
        return 'removed' as const;
      },
      follow: async (_id: string, listener: ChunkListener) => {
        for (const chunk of chunks) listener('stdout', chunk);
      },
    },
    exec: { start: () => Promise.reject(new Error('no exec expected')) },
  };
  return { engine, calls, specs };
}

const service = (name: string, fields: Partial<CompiledService> = {}): CompiledService => ({
  name,
  image: 'kiln-fixture/redis:bookworm',
  env: { ONLY: name },
  tmpfs: [],
  caches: [],
  aliases: [],
  ports: [],
  ...fields,
});

function context(engine: unknown, events: KilnEvent[], stack: ReleaseStack): ServicesContext {
  return {
    engine: engine as ServicesContext['engine'],
    images: { idOf: async () => 'sha256:redis', pull: async () => {} },
    project: 'app-1234',
    runId: 'run-1',
    emit: createEmitter((e) => events.push(e)),
    stack,
    signal: new AbortController().signal,
    killSignal: new AbortController().signal,
    graceMs: 3000,
    mounts: {} as ServicesContext['mounts'],
  };
}

test("services are made on the job's network under their names, and released before it, last first", async (t) => {
  const { engine, calls, specs } = memoryEngine([]);
  const events: KilnEvent[] = [];
  const stack = new ReleaseStack();
  const job: CompiledJob = {
    ...compiledJob('test'),
    services: [service('db', { aliases: ['database'] }), service('cache')],
  };
  const services = await acquireServices(job, context(engine, events, stack));
  t.deepEqual(services?.aliases, ['test'], "the job's container answers to the job's name");
  await services!.ready('job-container');
  await stack.release();
  t.deepEqual(calls, [
    'network.create kiln-*',
    'container.create db,database',
    'container.start c1',
    'container.create cache',
    'container.start c2',
    'container.stop c2',
    'container.remove c2',
    'container.stop c1',
    'container.remove c1',
    'network.remove',
  ]);
  t.like(specs[0], {
    image: 'sha256:redis',
    env: { ONLY: 'db' },
    stopTimeoutS: 3,
    labels: { 'dev.kiln.service': 'db', 'dev.kiln.scope': 'run', 'dev.kiln.job': 'test' },
  });
  t.deepEqual(
    events
      .filter((e) => e.type.startsWith('service.'))
      .map((e) => `${e.type} ${'service' in e ? e.service : ''}`),
    [
      'service.start db',
      'service.start cache',
      'service.ready db',
      'service.ready cache',
      'service.end cache',
      'service.end db',
    ],
  );
});

test("a character split between two chunks of a service's output comes out whole", async (t) => {
  const text = Buffer.from('café\n');
  const { engine } = memoryEngine([text.subarray(0, 4), text.subarray(4)]);
  const events: KilnEvent[] = [];
  const stack = new ReleaseStack();
  const services = await acquireServices(
    { ...compiledJob('test'), services: [service('db')] },
    context(engine, events, stack),
  );
  await services!.ready('job-container');
  await stack.release();
  const printed = events.flatMap((e) => (e.type === 'service.output' ? [e.data] : [])).join('');
  t.is(printed, 'café\n');
});

test('a job without services gets none, and nothing is made', async (t) => {
  const { engine, calls } = memoryEngine([]);
  const stack = new ReleaseStack();
  t.is(await acquireServices(compiledJob('test'), context(engine, [], stack)), undefined);
  t.deepEqual(calls, []);
});
