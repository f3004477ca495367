import test from 'ava';
import type { Definition } from '../../src/definition/types.js';
import { compile, renderGraph } from '../../src/graph/index.js';
import type { BuildGraph } from '../../src/graph/types.js';

const definition: Definition = {
  version: 1,
  projectDir: '/home/me/app',
  defaults: { image: 'kiln-fixture/busybox:latest' },
  secrets: { token: { env: 'TOKEN' } },
  jobs: {
    build: {
      mounts: [
        { type: 'bind', source: '.', target: '/src', readonly: true },
        { type: 'tmpfs', target: '/build', size: '1m' },
      ],
      steps: [
        { name: 'compile', run: 'make' },
        { name: 'check', run: 'make check' },
      ],
    },
    'say "hi"': { image: 'busybox', needs: ['build'], steps: [{ run: 'echo hi' }] },
    publish: {
      needs: ['build', 'say "hi"'],
      steps: [{ run: './publish.sh', mounts: [{ type: 'secret', id: 'token' }] }],
    },
  },
};
const compiled = compile(definition);
// The compiler refuses an image reference such as `x\y`; set on the graph, it shows that labels escape
// backslashes.
const graph: BuildGraph = {
  ...compiled,
  jobs: new Map(
    [...compiled.jobs].map(([name, job]) => [name, name === 'say "hi"' ? { ...job, image: 'x\\y' } : job]),
  ),
};

test('dot shows each job with its image and step count, and edges from need to dependant', (t) => {
  t.is(
    renderGraph(graph, 'dot'),
    [
      'digraph kiln {',
      '  rankdir=LR;',
      '  node [shape=box];',
      '  "build" [label="build\\nkiln-fixture/busybox:latest\\n2 steps"];',
      '  "say \\"hi\\"" [label="say \\"hi\\"\\nx\\\\y\\n1 step"];',
      '  "publish" [label="publish\\nkiln-fixture/busybox:latest\\n1 step"];',
      '  "build" -> "say \\"hi\\"";',
      '  "build" -> "publish";',
      '  "say \\"hi\\"" -> "publish";',
      '}',
      '',
    ].join('\n'),
  );
});

test('mermaid uses safe node ids and escapes labels', (t) => {
  t.is(
    renderGraph(graph, 'mermaid'),
    [
      'flowchart LR',
      '  job0["build<br/>kiln-fixture/busybox:latest<br/>2 steps"]',
      '  job1["say #34;hi#34;<br/>x\\y<br/>1 step"]',
      '  job2["publish<br/>kiln-fixture/busybox:latest<br/>1 step"]',
      '  job0 --> job1',
      '  job0 --> job2',
      '  job1 --> job2',
      '',
    ].join('\n'),
  );
});

test('json lists jobs with image, needs, step names and mounts, and no secret values', (t) => {
  const text = renderGraph(graph, 'json');
  t.deepEqual(JSON.parse(text), {
    project: graph.project,
    jobs: [
      {
        name: 'build',
        image: 'kiln-fixture/busybox:latest',
        needs: [],
        steps: ['compile', 'check'],
        mounts: [
          {
            type: 'bind',
            source: '/home/me/app',
            target: '/src',
            readonly: true,
            allowOutsideProject: false,
            allowDockerSocket: false,
            keepOwner: false,
            exclude: [],
          },
          { type: 'tmpfs', target: '/build', sizeBytes: 1048576, mode: 0o1777 },
        ],
        outputs: [],
      },
      { name: 'say "hi"', image: 'x\\y', needs: ['build'], steps: ['step-1'], mounts: [], outputs: [] },
      {
        name: 'publish',
        image: 'kiln-fixture/busybox:latest',
        needs: ['build', 'say "hi"'],
        steps: ['step-1'],
        mounts: [],
        outputs: [],
      },
    ],
  });
  t.true(text.startsWith('{\n  "project": '));
  t.true(text.endsWith('}\n'));
  t.false(text.includes('TOKEN'));
});

const withOutputs = compile({
  version: 1,
  projectDir: '/home/me/app',
  defaults: { image: 'kiln-fixture/busybox:latest', workdir: '/work' },
  jobs: {
    build: { outputs: ['bin', { path: '/dist', export: './dist' }], cache: true, steps: [{ run: 'make' }] },
    docs: { outputs: ['/site'], steps: [{ run: 'make docs' }] },
    test: {
      needs: ['docs'],
      mounts: [
        { type: 'bind', from: 'build', source: 'bin', target: '/in/bin' },
        { type: 'bind', from: 'build', source: '/dist', target: '/in/dist' },
      ],
      cache: false,
      steps: [{ run: 'make test' }],
    },
  },
});

test('dot shows outputs in the box and labels a from edge with the outputs it mounts', (t) => {
  t.is(
    renderGraph(withOutputs, 'dot'),
    [
      'digraph kiln {',
      '  rankdir=LR;',
      '  node [shape=box];',
      '  "build" [label="build\\nkiln-fixture/busybox:latest\\n1 step\\noutputs: /work/bin, /dist (export ./dist)"];',
      '  "docs" [label="docs\\nkiln-fixture/busybox:latest\\n1 step\\noutputs: /site"];',
      '  "test" [label="test\\nkiln-fixture/busybox:latest\\n1 step"];',
      '  "docs" -> "test";',
      '  "build" -> "test" [label="/work/bin, /dist"];',
      '}',
      '',
    ].join('\n'),
  );
});

test('mermaid shows outputs in the box and labels a from edge with the outputs it mounts', (t) => {
  t.is(
    renderGraph(withOutputs, 'mermaid'),
    [
      'flowchart LR',
      '  job0["build<br/>kiln-fixture/busybox:latest<br/>1 step<br/>outputs: /work/bin, /dist (export ./dist)"]',
      '  job1["docs<br/>kiln-fixture/busybox:latest<br/>1 step<br/>outputs: /site"]',
      '  job2["test<br/>kiln-fixture/busybox:latest<br/>1 step"]',
      '  job1 --> job2',
      '  job0 -->|"/work/bin, /dist"| job2',
      '',
    ].join('\n'),
  );
});

test('json lists outputs with absolute paths and exports, output mounts, and cache when the job sets it', (t) => {
  const { jobs } = JSON.parse(renderGraph(withOutputs, 'json')) as { jobs: Record<string, unknown>[] };
  t.deepEqual(jobs[0]!['outputs'], [
    { path: '/work/bin', allowOutsideProject: false },
    { path: '/dist', export: '/home/me/app/dist', allowOutsideProject: false },
  ]);
  t.is(jobs[0]!['cache'], true);
  t.false('cache' in jobs[1]!);
  t.is(jobs[2]!['cache'], false);
  t.deepEqual(jobs[2]!['needs'], ['docs', 'build']);
  t.deepEqual(jobs[2]!['mounts'], [
    { type: 'output', job: 'build', path: '/work/bin', target: '/in/bin' },
    { type: 'output', job: 'build', path: '/dist', target: '/in/dist' },
  ]);
});

const withServices = compile({
  version: 1,
  projectDir: '/home/me/app',
  defaults: { image: 'kiln-fixture/busybox:latest' },
  jobs: {
    test: {
      services: {
        db: {
          image: 'kiln-fixture/redis:bookworm',
          aliases: ['cache'],
          ports: [6379],
          env: { PASSWORD: 'hunter2' },
          health: { run: 'redis-cli ping' },
        },
      },
      steps: [{ run: 'make test' }],
    },
    build: { matrix: { cc: ['gcc'] }, services: { web: { image: 'nginx' } }, steps: [{ run: 'make' }] },
    report: { needs: ['test'], steps: [{ run: 'true' }] },
  },
});

test("dot draws each job's services as cylinders named job:service, joined to the job without an arrow", (t) => {
  t.is(
    renderGraph(withServices, 'dot'),
    [
      'digraph kiln {',
      '  rankdir=LR;',
      '  node [shape=box];',
      '  "test" [label="test\\nkiln-fixture/busybox:latest\\n1 step"];',
      '  "test:db" [shape=cylinder, label="test:db\\nkiln-fixture/redis:bookworm"];',
      '  subgraph "cluster_build" {',
      '    label="build";',
      '    "build (cc=gcc)" [label="build (cc=gcc)\\nkiln-fixture/busybox:latest\\n1 step"];',
      '    "build (cc=gcc):web" [shape=cylinder, label="build (cc=gcc):web\\nnginx"];',
      '  }',
      '  "report" [label="report\\nkiln-fixture/busybox:latest\\n1 step"];',
      '  "test:db" -> "test" [style=dashed, arrowhead=none];',
      '  "build (cc=gcc):web" -> "build (cc=gcc)" [style=dashed, arrowhead=none];',
      '  "test" -> "report";',
      '}',
      '',
    ].join('\n'),
  );
});

test("mermaid draws each job's services as cylinders named job:service, joined to the job by a dotted line", (t) => {
  t.is(
    renderGraph(withServices, 'mermaid'),
    [
      'flowchart LR',
      '  job0["test<br/>kiln-fixture/busybox:latest<br/>1 step"]',
      '  svc0[("test:db<br/>kiln-fixture/redis:bookworm")]',
      '  subgraph matrix0["build"]',
      '    job1["build (cc=gcc)<br/>kiln-fixture/busybox:latest<br/>1 step"]',
      '    svc1[("build (cc=gcc):web<br/>nginx")]',
      '  end',
      '  job2["report<br/>kiln-fixture/busybox:latest<br/>1 step"]',
      '  svc0 -.- job0',
      '  svc1 -.- job1',
      '  job0 --> job2',
      '',
    ].join('\n'),
  );
});

test("json lists a job's services under it, without their env; a job without services has none", (t) => {
  const text = renderGraph(withServices, 'json');
  const { jobs } = JSON.parse(text) as { jobs: Record<string, unknown>[] };
  t.deepEqual(jobs[0]!['services'], [
    {
      name: 'db',
      image: 'kiln-fixture/redis:bookworm',
      aliases: ['cache'],
      ports: [6379],
      tmpfs: [],
      caches: [],
      health: {
        argv: ['/bin/sh', '-c', 'redis-cli ping'],
        intervalMs: 1000,
        timeoutMs: 5000,
        retries: 30,
        startPeriodMs: 0,
      },
    },
  ]);
  t.deepEqual(jobs[1]!['services'], [
    { name: 'web', image: 'nginx', aliases: [], ports: [], tmpfs: [], caches: [] },
  ]);
  t.false('services' in jobs[2]!);
  t.false(text.includes('hunter2'));
});
