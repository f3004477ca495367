/**
 * The job cache against BuildKit on the same engine: the example's C build and tests as a two-stage
 * Dockerfile built by the Debian docker CLI's built-in BuildKit (`DOCKER_BUILDKIT=1 docker build`), and
 * as a two-job kiln.yaml run through kiln's CLI, each cold (BuildKit: after `docker builder prune -af`;
 * kiln: a fresh state folder, so no result and no stat index), unchanged, and after a one-file change.
 * Then where kiln's unchanged rerun spends its time: node's start and the CLI's modules (`kiln
 * --version`), a fresh node importing the run command's modules, loading and compiling the step file
 * (`kiln validate`), the engine check, the plan without running (`kiln plan`), and the run's own split
 * from its events (before run.start, the run, after run.end).
 *
 * `docker builder prune -af` empties the engine's whole BuildKit cache (nothing else here uses it); the
 * images the builds tag are removed at the end, and the build cache pruned once more.
 *
 * The two tools work on copies of the same sources in folders of their own; each repetition changes
 * the same file in both (a new global in greet.c, so the binary changes too and `final` re-runs).
 */
import { spawn } from 'node:child_process';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constants } from 'node:fs';
import { projectName } from '../src/graph/index.js';
import { checkEngine } from '../src/runtime/engine.js';
import { countOutcomes, eventedRun, removeProjectVolumes } from './cache-cli.js';
import { copyExampleSources, exampleDefinition, writeExampleDockerfile } from './cache-graphs.js';
import type { BenchContext } from './context.js';
import { REPO_ROOT, timedCliRun, writeStepFile } from './kiln-runs.js';
import { runRounds, samplesOf, type Variant } from './repeat.js';
import { atMost, metric, ratio, type CaseResult, type Metric } from './report.js';
import { formatNumber, median } from './stats.js';

/**
 * The Debian docker CLI (20.10), whose `docker build` has BuildKit built in. (A CLI of its own release
 * that needs the buildx plugin may come first in PATH.)
 */
export const BUILDKIT_CLI = '/usr/bin/docker';

/** Runs the BuildKit CLI; resolves with its wall time in ms, throws with its stderr on failure. */
async function timedDocker(args: readonly string[], cwd: string): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(BUILDKIT_CLI, args, {
      cwd,
      env: { ...process.env, DOCKER_BUILDKIT: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < 20_000) stderr += text;
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${BUILDKIT_CLI} ${args.join(' ')} exited ${code}: ${stderr.trim()}`)),
    );
  });
  return performance.now() - started;
}

/** A fresh node importing `kiln run`'s modules (the CLI, dockerode, the loader, the executor): wall ms. */
async function timedRunModules(): Promise<number> {
  const module = join(REPO_ROOT, 'dist', 'src', 'cli', 'run-command.js');
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', `await import(${JSON.stringify(module)})`],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`importing ${module} exited ${code}`)),
    );
  });
  return performance.now() - started;
}

/** Rewrites greet.c as the example has it plus a global naming the revision: a change the binary shows. */
async function changeSource(app: string, original: string, revision: string): Promise<void> {
  await writeFile(join(app, 'src', 'greet.c'), `${original}const char bench_revision[] = "${revision}";\n`);
}

export async function benchCacheBuildkit(context: BenchContext): Promise<CaseResult> {
  await access(BUILDKIT_CLI, constants.X_OK).catch(() => {
    throw new Error(`${BUILDKIT_CLI} (the docker CLI with BuildKit built in) is missing`);
  });
  const buildkitDir = join(context.workDir, 'buildkit');
  const kilnDir = join(context.workDir, 'kiln');
  await mkdir(buildkitDir, { recursive: true });
  await mkdir(kilnDir, { recursive: true });
  const buildkitApp = await copyExampleSources(buildkitDir);
  const kilnApp = await copyExampleSources(kilnDir);
  const original = await readFile(join(kilnApp, 'src', 'greet.c'), 'utf8');
  await writeExampleDockerfile(buildkitDir);
  const file = await writeStepFile(exampleDefinition(kilnDir));
  const project = projectName(kilnDir);

  const tag = `kiln-bench-buildkit:${process.pid}`;
  const iidFile = join(buildkitDir, 'image-id');
  const images = new Set<string>();
  const build = async (): Promise<number> => {
    const ms = await timedDocker(['build', '-q', '--iidfile', iidFile, '-t', tag, '.'], buildkitDir);
    images.add((await readFile(iidFile, 'utf8')).trim());
    return ms;
  };

  let revisions = 0;
  let lastOutcome = '';
  const buildkit: Variant = {
    name: 'BuildKit',
    async run() {
      await timedDocker(['builder', 'prune', '-af'], buildkitDir);
      const cold = await build();
      const unchanged = await build();
      await changeSource(buildkitApp, original, `r${++revisions}`);
      const changed = await build();
      return { 'bk.cold': cold, 'bk.unchanged': unchanged, 'bk.changed': changed };
    },
  };

  let stateDirs = 0;
  const kiln: Variant = {
    name: 'kiln',
    async run() {
      // A fresh state folder: no result, no stat index. Output volumes of earlier results stay; the
      // results that named them are gone, so they are never mounted again (removed at the end).
      const env = { ...context.env, KILN_STATE_DIR: join(context.workDir, `state-${++stateDirs}`) };
      const cli = (args: readonly string[]) => timedCliRun({ args, cwd: kilnDir, env });
      const runArgs = ['run', '-f', file, '--progress', 'plain'];
      const cold = await cli(runArgs);
      const unchanged = await cli(runArgs);
      const split = await eventedRun({ args: ['-f', file], cwd: kilnDir, env });
      const counts = countOutcomes(split);
      lastOutcome = `${counts.cached} of ${split.status.size} jobs cached, ${counts.ran} ran`;
      await changeSource(kilnApp, original, `r${++revisions}`);
      const changed = await cli(runArgs);
      const version = await cli(['--version']);
      const validate = await cli(['validate', '-f', file]);
      const plan = await cli(['plan', '-f', file]);
      const modules = await timedRunModules();
      const engineStarted = performance.now();
      await checkEngine(context.engine);
      const engineCheck = performance.now() - engineStarted;
      return {
        'kiln.cold': cold.wallMs,
        'kiln.unchanged': unchanged.wallMs,
        'kiln.changed': changed.wallMs,
        'kiln.json': split.wallMs,
        'kiln.start': split.startMs,
        'kiln.run': split.runMs,
        'kiln.exit': split.exitMs,
        'kiln.version': version.wallMs,
        'kiln.validate': validate.wallMs,
        'kiln.plan': plan.wallMs,
        'kiln.modules': modules,
        'kiln.engineCheck': engineCheck,
      };
    },
  };

  try {
    const { samples, retries } = await runRounds(context, 'cache-buildkit', [buildkit, kiln]);
    const of = (key: string) => samplesOf(samples, key);
    const bkCold = metric('BuildKit cold (build cache pruned)', 'ms', of('bk.cold'));
    const bkUnchanged = metric('BuildKit unchanged rerun', 'ms', of('bk.unchanged'));
    const bkChanged = metric('BuildKit after a one-file change', 'ms', of('bk.changed'));
    const kilnCold = metric('kiln cold (fresh state folder)', 'ms', of('kiln.cold'));
    const kilnUnchanged = metric('kiln unchanged rerun (--progress plain)', 'ms', of('kiln.unchanged'));
    const kilnChanged = metric('kiln after a one-file change', 'ms', of('kiln.changed'));
    const split: Metric[] = [
      metric('kiln unchanged rerun (--progress json): wall', 'ms', of('kiln.json')),
      metric('… spawn to run.start (start, modules, load, engine check, sweep)', 'ms', of('kiln.start')),
      metric('… run.start to run.end (keys, hits, jobs)', 'ms', of('kiln.run')),
      metric('… run.end to exit (summary, leaving)', 'ms', of('kiln.exit')),
      metric('kiln --version (node start, CLI modules)', 'ms', of('kiln.version')),
      metric("node importing kiln run's modules (no run)", 'ms', of('kiln.modules')),
      metric('kiln validate (+ load and compile the step file)', 'ms', of('kiln.validate')),
      metric("the engine check kiln run makes (in the bench's process)", 'ms', of('kiln.engineCheck')),
      metric('kiln plan (+ image IDs, keys; no run)', 'ms', of('kiln.plan')),
    ];
    return {
      id: 'cache-buildkit',
      title: 'Job cache: against BuildKit',
      setup:
        `The example's C build and tests as a two-stage Dockerfile (\`DOCKER_BUILDKIT=1 ${BUILDKIT_CLI} build\`, ` +
        `final stage on busybox copying /out) and as two kiln jobs (\`build\` with output /out, \`final\` mounting ` +
        `it), both through their CLIs on the same engine: cold, unchanged, and after changing one source file. ` +
        `${context.repetitions} repetitions interleaved after a warm-up.`,
      params: { repetitions: context.repetitions },
      metrics: [bkCold, kilnCold, bkUnchanged, kilnUnchanged, bkChanged, kilnChanged, ...split],
      ratios: [
        ratio('kiln / BuildKit, cold', kilnCold, bkCold),
        ratio('kiln / BuildKit, unchanged rerun', kilnUnchanged, bkUnchanged, atMost(1)),
        ratio('kiln / BuildKit, one-file change', kilnChanged, bkChanged),
      ],
      notes: [
        `The last unchanged rerun with --progress json: ${lastOutcome}.`,
        `Of kiln's unchanged rerun (${formatNumber(median(of('kiln.json')))} ms with json events), ` +
          `${formatNumber(median(of('kiln.version')))} ms is node starting and loading the CLI, ` +
          `${formatNumber(median(of('kiln.modules')))} ms a fresh node importing the run command's modules, ` +
          `${formatNumber(median(of('kiln.start')))} ms passes before run.start and ` +
          `${formatNumber(median(of('kiln.run')))} ms between run.start and run.end.`,
        'Both figures include starting the CLI process (docker: a Go binary; kiln: node).',
        ...retries,
      ],
    };
  } finally {
    for (const id of images)
      await context.docker
        .getImage(id)
        .remove({ force: true })
        .catch(() => {});
    await timedDocker(['builder', 'prune', '-af'], buildkitDir).catch(() => 0);
    await removeProjectVolumes(context.docker, project).catch(() => 0);
    await rm(join(context.workDir, 'buildkit'), { recursive: true, force: true });
  }
}
