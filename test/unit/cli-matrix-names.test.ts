/**
 * A matrix job's name as written (`build`) on the command line: it names all its instances, as in
 * `needs`, for kiln run, plan and ci (and with --only); kiln shell refuses it, listing the instances.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { loadGraph, selectNamedJobs } from '../../src/cli/load.js';
import { checkOneJob } from '../../src/cli/shell-command.js';
import { ExitCode, UsageError } from '../../src/errors.js';
import { selectOnly } from '../../src/graph/select.js';
import type { BuildGraph } from '../../src/graph/types.js';

const STEP_FILE = `version: 1
defaults: { image: kiln-fixture/busybox:latest }
jobs:
  setup: { steps: [{ run: 'true' }] }
  build:
    needs: [setup]
    matrix: { cc: [gcc, clang] }
    steps: [{ run: 'true' }]
  package: { needs: [build], steps: [{ run: 'true' }] }
  lint: { steps: [{ run: 'true' }] }
`;

const GCC = 'build (cc=gcc)';
const CLANG = 'build (cc=clang)';

let graph: BuildGraph;
let dir: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-matrix-names-'));
  await writeFile(join(dir, 'kiln.yaml'), STEP_FILE);
  graph = (await loadGraph(join(dir, 'kiln.yaml'), {})).graph;
});

test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("a matrix job's name selects all its instances and what they need", (t) => {
  t.deepEqual([...selectNamedJobs(graph, ['build'], 'kiln.yaml').order], ['setup', GCC, CLANG]);
});

test("a matrix job's name beside another job's selects both, their needs once", (t) => {
  t.deepEqual(
    [...selectNamedJobs(graph, ['lint', 'build', GCC], 'kiln.yaml').order],
    ['setup', GCC, CLANG, 'lint'],
  );
});

test("one instance's name still selects that instance alone", (t) => {
  t.deepEqual([...selectNamedJobs(graph, [CLANG], 'kiln.yaml').order], ['setup', CLANG]);
});

test("a matrix job's name with --only runs its instances without their needs", (t) => {
  selectNamedJobs(graph, ['build'], 'kiln.yaml');
  const only = selectOnly(graph, ['build']);
  t.deepEqual([...only.graph.order], [GCC, CLANG]);
  t.deepEqual(only.dropped.get(GCC), ['setup']);
});

test("a mistyped matrix job's name suggests the matrix job", (t) => {
  const error = t.throws(() => selectNamedJobs(graph, ['biuld'], 'kiln.yaml'), { instanceOf: UsageError });
  t.is(error?.exitCode, ExitCode.usage);
  t.is(error?.message, "no job named 'biuld' in kiln.yaml. Did you mean build?");
});

test('a name close to none lists the jobs as written, a matrix job once', (t) => {
  const error = t.throws(() => selectNamedJobs(graph, ['nosuchjob'], 'kiln.yaml'), {
    instanceOf: UsageError,
  });
  t.is(error?.message, "no job named 'nosuchjob' in kiln.yaml; its jobs are: setup, build, package, lint");
});

test("kiln shell refuses a matrix job's name, naming its instances", (t) => {
  const error = t.throws(() => checkOneJob(graph, 'build', 'kiln.yaml'), { instanceOf: UsageError });
  t.is(error?.exitCode, ExitCode.usage);
  t.is(
    error?.message,
    `kiln shell opens one job: build is a matrix job; name one of its instances: '${GCC}', '${CLANG}'`,
  );
});

test('kiln shell takes one instance, and refuses an unknown name with a suggestion', (t) => {
  t.notThrows(() => checkOneJob(graph, GCC, 'kiln.yaml'));
  const error = t.throws(() => checkOneJob(graph, 'packge', 'kiln.yaml'), { instanceOf: UsageError });
  t.is(error?.message, "no job named 'packge' in kiln.yaml. Did you mean package?");
});
