/**
 * `kiln ci` played for real: the GitHub workflow that `kiln ci github` writes for a graph whose jobs hand
 * outputs over with `from:` binds, run as a CI would run it. Each generated job's own run line is a fresh
 * kiln process (a state folder of its own, as on a CI machine born empty), in dependency order,
 * alternating between the host's engine and a second engine, with a real HTTP cache server (nginx) named
 * by the workflow's secrets between them. Outputs travel through the cache only: no process shares a
 * state folder or an engine with the job before it.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parse } from 'yaml';
import { shellQuote } from '../../src/ci/index.js';
import {
  BUSYBOX,
  collectRun,
  kiln,
  kilnBin,
  makeProject,
  sweepProjects,
  type KilnRun,
  type Project,
} from '../helpers/kiln-cli.js';
import { otherMachineHooks, startCacheServer, startSecondEngine } from '../helpers/other-machine.js';

otherMachineHooks(test);
test.after.always(sweepProjects);

const PROJECT = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  gen:
    mounts: [{ type: bind, source: ./src, target: /src, readonly: true }]
    outputs: [/gen]
    steps:
      - run: cp /src/version.txt /gen/version
  compile:
    mounts: [{ type: bind, from: gen, source: /gen, target: /gen }]
    outputs: [/app]
    steps:
      - run: echo "app $(cat /gen/version)" > /app/app
      - run: head -c 100000 /dev/urandom > /app/blob
  docs:
    mounts: [{ type: bind, from: gen, source: /gen, target: /gen }]
    outputs: [/docs]
    steps:
      - run: echo "docs for $(cat /gen/version)" > /docs/index
  package:
    mounts:
      - { type: bind, from: compile, source: /app, target: /app }
      - { type: bind, from: docs, source: /docs, target: /docs }
    steps:
      - run: cat /app/app /docs/index && wc -c < /app/blob
`;

interface WorkflowJob {
  readonly name: string;
  readonly needs?: readonly string[];
  readonly steps: ReadonlyArray<{ readonly run?: string; readonly uses?: string }>;
}
interface Workflow {
  readonly env: Readonly<Record<string, string>>;
  readonly jobs: Readonly<Record<string, WorkflowJob>>;
}

/** The workflow's job ids in an order the CI could run them: each after its needs, ties as written. */
function dependencyOrder(workflow: Workflow): string[] {
  const done: string[] = [];
  const left = Object.keys(workflow.jobs);
  while (left.length > 0) {
    const next = left.findIndex((id) => (workflow.jobs[id]!.needs ?? []).every((n) => done.includes(n)));
    if (next < 0) throw new Error(`the needs of ${left.join(', ')} can never be met`);
    done.push(...left.splice(next, 1));
  }
  return done;
}

/** The workflow's `env:`, with `${{ secrets.NAME }}` resolved as GitHub would from the repository's secrets. */
function workflowEnv(workflow: Workflow, secrets: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(workflow.env).map(([name, value]) => [
      name,
      value.replace(/\$\{\{ secrets\.(\w+) \}\}/g, (_, secret: string) => secrets[secret] ?? ''),
    ]),
  );
}

/** Runs a `run:` line of the workflow as a CI runner would (`sh -c`), with `--json` for its events. */
function runLine(project: Project, line: string, env: NodeJS.ProcessEnv): Promise<KilnRun> {
  const child = spawn('/bin/sh', ['-c', `${line} --json`], {
    cwd: project.dir,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collectRun(child, true);
}

test.serial(
  'each generated CI job, run as its own kiln on alternating engines, runs its steps once and gets its inputs from the shared cache',
  async (t) => {
    const b = await startSecondEngine();
    const server = await startCacheServer({ token: 'fanout-token' });
    const project = await makeProject(PROJECT, { 'src/version.txt': `v${Date.now()}\n` });
    const secrets = {
      KILN_CACHE_URL: `${server.url}/fanout`,
      KILN_CACHE_TOKEN: 'fanout-token',
      KILN_CACHE_SIGNING_KEY: 'fanout-signing-key',
    };

    const kilnCommand = `${shellQuote(process.execPath)} ${shellQuote(kilnBin)}`;
    const generated = await kiln(project, ['ci', 'github', '--kiln', kilnCommand, '--install', '']);
    t.is(generated.code, 0, generated.stderr);
    const workflow = parse(generated.stdout) as Workflow;
    const env = workflowEnv(workflow, secrets);
    t.is(env.KILN_CACHE_URL, secrets.KILN_CACHE_URL, "the cache comes from the workflow's env");

    const order = dependencyOrder(workflow);
    t.deepEqual(order, ['gen', 'compile', 'docs', 'package']);
    const runs = new Map<string, { run: KilnRun; engine: 'a' | 'b' }>();
    for (const [i, id] of order.entries()) {
      const lines = workflow.jobs[id]!.steps.flatMap((s) => (s.run !== undefined ? [s.run] : []));
      t.is(lines.length, 1, `${id}: one run line, kiln's`);
      const engine = i % 2 === 0 ? 'a' : 'b';
      const run = await runLine(project, lines[0]!, {
        ...env,
        // A CI machine born empty: a state folder of its own, and engine A (the host's) or engine B.
        KILN_STATE_DIR: join(project.dir, `.state-${id}`),
        ...(engine === 'b' ? { DOCKER_HOST: b.dockerHost } : {}),
      });
      t.is(run.code, 0, `${id} on engine ${engine}:\n${run.stderr}`);
      runs.set(workflow.jobs[id]!.name, { run, engine });
    }

    // Each job ran in its own process only: one job.cache miss, each of its steps ended once, passed.
    const steps = { gen: 1, compile: 2, docs: 1, package: 1 } as Record<string, number>;
    for (const [job, { run }] of runs) {
      const cache = run.events.filter((e) => e.type === 'job.cache');
      t.deepEqual(
        cache.map((e) => [e.job, e.result]),
        [[job, 'miss']],
        `${job}: only its own job is handled, and it runs`,
      );
      const ends = [...runs.values()].flatMap(({ run: r }) =>
        r.events.filter((e) => e.type === 'step.end' && e.job === job),
      );
      t.is(ends.length, steps[job]!, `${job}: each step ran exactly once across both engines`);
      t.true(ends.every((e) => e.status === 'passed'));
    }
    t.deepEqual(
      [...runs.values()].map((r) => r.engine),
      ['a', 'b', 'a', 'b'],
    );

    // What package read came from compile (engine B) and docs (engine A), through the cache only.
    const out = runs
      .get('package')!
      .run.events.filter((e) => e.type === 'step.output' && e.stream === 'stdout')
      .map((e) => e.data as string)
      .join('');
    t.regex(out, /^app v\d+\ndocs for v\d+\n\s*100000\n$/);
    const fetched = (await server.requests()).filter(
      (r) => r.method === 'GET' && r.status === 200 && r.path.startsWith('/fanout/cas/'),
    );
    t.true(
      fetched.length >= 4,
      `the outputs of gen (twice), compile and docs were downloaded: ${fetched.length}`,
    );
  },
);
