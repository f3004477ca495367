/**
 * A fuzz pass over the loader and the compiler: random and mutated step files, as many as fit in about
 * ten seconds (a few thousand), made from a seed that is printed (KILN_FUZZ_SEED=<seed> replays a run,
 * KILN_FUZZ_MS=<ms> sets its length). Each loads and compiles, or is refused with exit code 2; never
 * another error, never a case that runs for seconds. Then `kiln validate` on the nastiest of them exits
 * 0 or 2 without a stack trace.
 */
import test from 'ava';
import { Worker } from 'node:worker_threads';
import { bomb, type Outcome, type WorkerMessage } from '../helpers/loader-fuzz.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kiln } from '../helpers/kiln-cli.js';

const SEED = process.env.KILN_FUZZ_SEED ? Number(process.env.KILN_FUZZ_SEED) : Date.now() % 2 ** 31;
const BUDGET_MS = Number(process.env.KILN_FUZZ_MS ?? 10_000);
/** A case still running after this long is a hang. */
const CASE_LIMIT_MS = 5_000;

/** The cases that took longest, for the CLI test. */
const slowest: { text: string; ms: number }[] = [];

function show(text: string): string {
  const json = JSON.stringify(text);
  return json.length > 2000 ? `${json.slice(0, 2000)}... (${text.length} characters)` : json;
}

test.serial(
  'random and mutated step files load or are refused with exit code 2, none crashes or hangs',
  async (t) => {
    t.timeout(BUDGET_MS + 4 * CASE_LIMIT_MS + 60_000);
    t.log(`seed ${SEED} (replay with KILN_FUZZ_SEED=${SEED})`);
    const worker = new Worker(new URL('../helpers/loader-fuzz.js', import.meta.url), {
      workerData: { seed: SEED, budgetMs: BUDGET_MS },
    });
    const counts = { ok: 0, refused: 0 };
    const crashes: string[] = [];
    let current: { index: number; text: string } | undefined;
    let watchdog: NodeJS.Timeout | undefined;
    const hang = await new Promise<string | undefined>((resolve, reject) => {
      const arm = (): void => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          void worker.terminate();
          resolve(
            current === undefined
              ? 'the worker did not start'
              : `case ${current.index}: ${show(current.text)}`,
          );
        }, CASE_LIMIT_MS);
      };
      arm();
      worker.on('message', (message: WorkerMessage) => {
        arm();
        if (message.type === 'case') {
          current = { index: message.index, text: message.text };
        } else if (message.type === 'outcome') {
          const outcome: Outcome = message.outcome;
          if (outcome.kind === 'crash') {
            crashes.push(`case ${message.index}: ${show(current?.text ?? '')}\n${outcome.error}`);
          } else {
            counts[outcome.kind]++;
          }
          slowest.push({ text: current?.text ?? '', ms: message.ms });
          slowest.sort((a, b) => b.ms - a.ms).splice(5);
        } else {
          clearTimeout(watchdog);
          resolve(undefined);
        }
      });
      worker.on('error', (error) => {
        clearTimeout(watchdog);
        reject(error);
      });
    });
    await worker.terminate();
    const total = counts.ok + counts.refused + crashes.length;
    t.log(
      `${total} cases: ${counts.ok} loaded, ${counts.refused} refused; slowest ` +
        slowest.map((s) => `${s.ms.toFixed(0)} ms`).join(', '),
    );
    t.is(hang, undefined, `a case ran for more than ${CASE_LIMIT_MS} ms (seed ${SEED}): ${hang}`);
    t.deepEqual(crashes.slice(0, 3), [], `seed ${SEED}: ${crashes.length} case(s) threw something else`);
    t.true(total >= BUDGET_MS / 20, `only ${total} cases ran`);
    t.true(counts.ok > 0 && counts.refused > 0, 'the cases both load and fail');
  },
);

const NASTY: Readonly<Record<string, string>> = {
  'an alias bomb': `version: 1\n${bomb(9, 9)}\njobs: { a: { image: busybox, steps: [{ run: x }] } }\n`,
  'lists nested 50,000 deep': `version: 1\nx: ${'['.repeat(50_000)}${']'.repeat(50_000)}\njobs: {}\n`,
  'maps nested 800 deep': `version: 1\nx:\n${Array.from({ length: 800 }, (_, i) => `${' '.repeat(i + 1)}k:`).join('\n')}\n`,
  '30,000 faulty steps': `version: 1\njobs:\n  a:\n    image: busybox\n    steps:\n${'      - { run: 5, nmae: x }\n'.repeat(30_000)}`,
  'control characters and NULs in names and commands':
    'version: 1\njobs:\n  "a\\e[2J":\n    image: "x\\0"\n    steps:\n      - { name: "s\\nok run passed\\a", run: "echo\\0" }\n',
  'a timeout past any timer':
    'version: 1\njobs:\n  a:\n    image: busybox\n    timeout: 99999999999999999999\n    steps: [{ run: x, timeout: 1000h }]\n',
};

test.serial('kiln validate exits 0 or 2 without a stack trace on the nastiest step files', async (t) => {
  const cases = Object.entries(NASTY).concat(slowest.map((s, i) => [`slow fuzz case ${i + 1}`, s.text]));
  // kiln validate makes nothing on the engine: a folder with the step file is all a case needs.
  const dir = await mkdtemp(join(tmpdir(), 'kiln-fuzz-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const project = { dir, file: join(dir, 'kiln.yaml'), stateDir: join(dir, '.kiln-state') };
  for (const [name, text] of cases) {
    await writeFile(project.file, text);
    const started = performance.now();
    const run = await kiln(project, ['validate']);
    const elapsed = performance.now() - started;
    const what = `${name} (${elapsed.toFixed(0)} ms): exit ${run.code}\n${run.stderr.slice(0, 2000)}`;
    t.true(run.code === 0 || run.code === 2, what);
    t.false(/^\s+at /m.test(run.stderr), what);
    t.false(run.stderr.includes('internal error'), what);
    t.false(
      /[\u0000-\u0009\u000B-\u001F\u007F]/.test(run.stderr),
      `${name}: raw control characters in ${JSON.stringify(run.stderr.slice(0, 500))}`,
    );
    t.true(elapsed < 15_000, what);
  }
});
