/**
 * The `kiln` command line: parses arguments, calls the API, maps errors to exit codes. Thin by design.
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CI_SYSTEMS, type CiSystem } from '../ci/job-ids.js';
import { ExitCode, UsageError } from '../errors.js';
import { KILN_VERSION } from '../runtime/version.js';
import { reportError } from './report-error.js';

// Each command's module (and the libraries behind it: dockerode, the loader, the live view) is imported
// when that command runs, so that `kiln --help`, `kiln --version` and `kiln validate` start fast.
const runCommand: typeof import('./run-command.js').runCommand = async (...args) =>
  (await import('./run-command.js')).runCommand(...args);
const validateCommand: typeof import('./graph-commands.js').validateCommand = async (...args) =>
  (await import('./graph-commands.js')).validateCommand(...args);
const graphCommand: typeof import('./graph-commands.js').graphCommand = async (...args) =>
  (await import('./graph-commands.js')).graphCommand(...args);
const planCommand: typeof import('./plan-command.js').planCommand = async (...args) =>
  (await import('./plan-command.js')).planCommand(...args);
const pruneCommand: typeof import('./prune-command.js').pruneCommand = async (...args) =>
  (await import('./prune-command.js')).pruneCommand(...args);
const shellCommand: typeof import('./shell-command.js').shellCommand = async (...args) =>
  (await import('./shell-command.js')).shellCommand(...args);
const ciCommand: typeof import('./ci-command.js').ciCommand = async (...args) =>
  (await import('./ci-command.js')).ciCommand(...args);

/** A repeatable option's values, in the order given. */
function collect(value: string, previous: readonly string[]): string[] {
  return [...previous, value];
}

const ENV_HELP = "a value for ${{ env.NAME }}: NAME=VALUE, or NAME for the host's (repeatable)";

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError('Allowed values are whole numbers from 1 up (e.g. --concurrency 4).');
  }
  return n;
}

/** The longest grace period a timer can hold: 2^31 - 1 ms (the compiler's limit for timeouts too). */
const MAX_GRACE_S = 2_147_483;

function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > MAX_GRACE_S) {
    throw new InvalidArgumentError(
      'Allowed values are numbers of seconds from 0 to 2147483 (about 24.8 days; e.g. --grace-period 30).',
    );
  }
  return n;
}

const EXIT_CODES =
  'Exit codes: 0 passed, 1 a step failed, 2 bad usage or definition, 3 Docker unreachable or another\n' +
  'infrastructure fault, 130 interrupted.';

/** Examples as an aligned two-column block, for `addHelpText('after', ...)`. */
function examples(rows: ReadonlyArray<readonly [string, string]>, footer?: string): string {
  const width = Math.max(...rows.map(([command]) => command.length));
  const lines = rows.map(([command, what]) => `  ${command.padEnd(width)}  ${what}`);
  return `\nExamples:\n${lines.join('\n')}\n${footer ? `\n${footer}\n` : ''}`;
}

/**
 * A subcommand whose usage errors point at its own help. Each but `run` (whose `--debug` opens a shell
 * when a step fails) takes `--debug` after its name too, as `kiln --debug CMD` does: stack traces.
 */
function subcommand(program: Command, name: string): Command {
  const command = program.command(name).showHelpAfterError(`(run kiln ${name} --help for usage)`);
  if (name !== 'run') command.addOption(new Option('--debug', 'print stack traces of errors').hideHelp());
  return command;
}

/** `kiln run`: runs the jobs of a step file. */
function addRunCommand(program: Command, setExit: (code: number) => void, debug: () => boolean): void {
  subcommand(program, 'run')
    .description('run the jobs of a step file (all, or the named ones and what they need)')
    .argument('[jobs...]', 'jobs to run; their needs run too')
    .option('-f, --file <file>', 'the step file', 'kiln.yaml')
    .addOption(
      new Option('--progress <mode>', 'how to show progress')
        .choices(['auto', 'tty', 'plain', 'json'])
        .default('auto'),
    )
    .option('--json', 'print the events as JSON lines (same as --progress json)')
    .option('--concurrency <n>', 'jobs at once (default: the number of cores)', positiveInt)
    .option('--keep-going', 'after a failure, still run every job whose needs passed')
    .option('--only', 'run the named jobs without their needs; outputs they mount come from the job cache')
    .option('--failed', 'run again the jobs that failed, timed out or were cancelled in the last run')
    .option('--watch', "after the run, run again on each change to the jobs' bind sources (Ctrl-C ends)")
    .option('--reuse', 'reuse every job container across runs (see README: file state persists)')
    .option(
      '--grace-period <seconds>',
      'on cancellation, seconds between SIGTERM and SIGKILL (default KILN_CANCEL_GRACE_PERIOD or 10)',
      seconds,
    )
    .option('--no-cache', 'run every job, even those the job cache has, and record the new results')
    .option('--expect-cached', 'exit 1 when a job the cache takes missed (each is named with why)')
    .option(
      '--cache-url <url>',
      'a shared job cache: http(s)://… (Bazel remote cache layout), file://… or a folder (default KILN_CACHE_URL)',
    )
    .option('--cache-readonly', 'use the shared cache but never write to it (default KILN_CACHE_READONLY=1)')
    .option('--trace <file>', 'write the run as Chrome trace-event JSON (open in Perfetto)')
    .option('--no-logs', 'do not keep the full output of each step on disk')
    .option('--env <name[=value]>', ENV_HELP, collect, [])
    .addOption(
      new Option(
        '-i, --debug [secrets]',
        "when a step fails, open a shell in its job's container before anything is released (needs a " +
          "terminal); --debug=secrets mounts the step's secrets in it again",
      ),
    )
    .addHelpText(
      'after',
      examples(
        [
          ['kiln run', 'run every job of ./kiln.yaml'],
          ['kiln run test -f ci/kiln.yaml', 'run job "test" and the jobs it needs'],
          ['kiln run --json > events.jsonl', 'machine-readable events, one per line'],
          ['kiln run --keep-going --concurrency 4', 'run all that can run, four jobs at once'],
          ['kiln run --trace run.trace.json', 'record a trace to open in Perfetto'],
          ['kiln run --expect-cached', 'in CI: fail when a job that should be cached ran'],
          ['kiln run test --only', 'run only "test"; what it mounts from its needs comes from the cache'],
          ['kiln run --failed', 'run again what failed last time (and what it needs)'],
          ['kiln run test --watch', 'run "test" again whenever a source it binds changes'],
          ['kiln run test -i', 'if a step of "test" fails, a shell where it failed (exit leaves)'],
          ['kiln run test --debug=secrets', "the same, with the step's secrets mounted in the shell"],
        ],
        `${EXIT_CODES}\nStack traces of errors: kiln --debug run.`,
      ),
    )
    .action(async (jobs: string[], opts) => {
      // `--debug` takes no value but `secrets`: another word after it is a job (`kiln run --debug test`).
      const { debug: shell, ...rest } = opts as { debug?: true | string };
      const named = typeof shell === 'string' && shell !== 'secrets' ? [shell, ...jobs] : jobs;
      const debugShell =
        shell === undefined ? {} : { debugShell: shell === 'secrets' ? ('secrets' as const) : true };
      setExit(await runCommand(named, { ...(rest as RunOptions), ...debugShell, debug: debug() }));
    });
}

type RunOptions = Parameters<typeof import('./run-command.js').runCommand>[1];

/** `kiln shell`: a shell in a fresh container of a job, no step run. */
function addShellCommand(program: Command, setExit: (code: number) => void, debug: () => boolean): void {
  subcommand(program, 'shell')
    .description(
      'open a shell in a fresh container of a job: its mounts, the outputs of its needs (from the job ' +
        'cache), its workdir and env; no step runs, everything is released when the shell exits',
    )
    .argument('<job>', 'the job')
    .option('-f, --file <file>', 'the step file', 'kiln.yaml')
    .option('--secrets', "mount the job's secrets in the shell too")
    .option('--env <name[=value]>', ENV_HELP, collect, [])
    .addHelpText(
      'after',
      examples(
        [
          ['kiln shell build', 'poke at job "build"\'s environment (exit or Ctrl-D leaves)'],
          ['kiln shell test -f ci/kiln.yaml', 'job "test" of another step file, with its needs\' outputs'],
          ['kiln shell deploy --secrets', "with the secrets the job's steps get"],
        ],
        'Needs a terminal. A need whose outputs the job mounts must have run: kiln run NEED first.\n' +
          "Exit codes: the shell's, 2 bad usage or definition (or no terminal), 3 Docker unreachable.",
      ),
    )
    .action(async (job: string, opts) => setExit(await shellCommand(job, { ...opts, debug: debug() })));
}

/** `kiln plan`: what `kiln run` would do, starting nothing. */
function addPlanCommand(program: Command, setExit: (code: number) => void, debug: () => boolean): void {
  subcommand(program, 'plan')
    .description('say what kiln run would do: per job cached or runs, and why; starts nothing')
    .argument('[jobs...]', 'jobs to plan; their needs too')
    .option('-f, --file <file>', 'the step file', 'kiln.yaml')
    .option('--json', 'one JSON object per job: { job, key, result, reasons, exports }')
    .option('--reuse', 'as kiln run --reuse would (no job is cached)')
    .option('--no-cache', 'as kiln run --no-cache would (every job runs)')
    .option('--cache-url <url>', 'the shared job cache to look up too (default KILN_CACHE_URL)')
    .option('--env <name[=value]>', ENV_HELP, collect, [])
    .addHelpText(
      'after',
      examples(
        [
          ['kiln plan', 'which jobs of ./kiln.yaml would run, and why'],
          ['kiln plan test --json', 'job "test" and its needs, as JSON lines'],
        ],
        'Exit codes: 0 planned, 2 bad usage or definition, 3 Docker unreachable.',
      ),
    )
    .action(async (jobs: string[], opts) => setExit(await planCommand(jobs, { ...opts, debug: debug() })));
}

/** `kiln validate`: checks a step file. */
function addValidateCommand(program: Command, setExit: (code: number) => void, debug: () => boolean): void {
  subcommand(program, 'validate')
    .description('check a step file; prints FILE:LINE:COL: message for each problem')
    .option('-f, --file <file>', 'the step file', 'kiln.yaml')
    .option('--env <name[=value]>', ENV_HELP, collect, [])
    .addHelpText(
      'after',
      examples(
        [
          ['kiln validate', 'check ./kiln.yaml'],
          ['kiln validate -f ci/kiln.yaml', 'check another step file'],
        ],
        'Exit codes: 0 valid, 2 invalid (every problem is printed).',
      ),
    )
    .action(async (opts) => setExit(await validateCommand({ ...opts, debug: debug() })));
}

/** `kiln graph`: prints the job graph. */
function addGraphCommand(program: Command, setExit: (code: number) => void, debug: () => boolean): void {
  subcommand(program, 'graph')
    .description('print the job graph')
    .option('-f, --file <file>', 'the step file', 'kiln.yaml')
    .addOption(
      new Option('--format <format>', 'output format').choices(['dot', 'mermaid', 'json']).default('dot'),
    )
    .option('--env <name[=value]>', ENV_HELP, collect, [])
    .addHelpText(
      'after',
      examples([
        ['kiln graph | dot -Tsvg > graph.svg', 'draw the graph with Graphviz'],
        ['kiln graph --format mermaid', 'a Mermaid flowchart, for Markdown'],
      ]),
    )
    .action(async (opts) => setExit(await graphCommand({ ...opts, debug: debug() })));
}

/** `kiln prune`: removes what kiln's runs left. */
function addPruneCommand(program: Command, setExit: (code: number) => void, debug: () => boolean): void {
  subcommand(program, 'prune')
    .description("remove kiln's containers, unused run volumes, caches and old job cache results")
    .option('--all', 'also remove reused containers and every unused cache')
    .option('--dry-run', 'only list what would be removed')
    .option('--project', 'only the project of the step file (-f): its containers, caches and results')
    .option('-f, --file <file>', 'the step file whose project --project means', 'kiln.yaml')
    .option(
      '--keep-storage <size>',
      "keep the job cache's results under this size, least recently used removed first (e.g. 10g)",
    )
    .addHelpText(
      'after',
      examples([
        ['kiln prune --dry-run', 'list what would be removed'],
        ['kiln prune --all', 'also reused containers, unused caches and every unused result'],
        ['kiln prune --keep-storage 5g', "keep the job cache's results under 5 GiB"],
        ['kiln prune --all --project', "only ./kiln.yaml's project: other projects' caches stay"],
      ]),
    )
    .action(async (opts) => setExit(await pruneCommand({ ...opts, debug: debug() })));
}

/** `kiln ci`: prints the pipeline that fans the graph out over a CI system. */
function addCiCommand(program: Command, setExit: (code: number) => void, debug: () => boolean): void {
  subcommand(program, 'ci')
    .description(
      'print a CI pipeline (GitHub Actions, GitLab CI, Buildkite): one CI job per kiln job, each running ' +
        'kiln run JOB --only; outputs pass between CI machines through the shared job cache',
    )
    .addArgument(new Argument('<system>', 'the CI system').choices(CI_SYSTEMS))
    .argument('[jobs...]', 'jobs to include; their needs too (default: all)')
    .option('-f, --file <file>', 'the step file', 'kiln.yaml')
    .option('--env <name[=value]>', `${ENV_HELP}; passed on to each CI job's kiln run`, collect, [])
    .option('-o, --output <file>', 'write the pipeline to this file (default: stdout)')
    .option('--kiln <command>', 'how a CI machine runs kiln (default: npx kiln)')
    .option('--install <command>', "what installs kiln on a CI machine, '' for nothing (default: npm ci)")
    .option(
      '--runs-on <label>',
      "where jobs run: GitHub's runs-on (default ubuntu-latest), a GitLab runner tag, a Buildkite queue",
    )
    .addHelpText(
      'after',
      examples(
        [
          ['kiln ci github -o .github/workflows/kiln.yml', 'a GitHub Actions workflow'],
          ['kiln ci gitlab -o .gitlab-ci.yml', 'a GitLab CI pipeline'],
          ['kiln ci buildkite | buildkite-agent pipeline upload', 'a Buildkite dynamic pipeline'],
          ['kiln ci github test --runs-on self-hosted', 'job "test" and its needs, on your runners'],
        ],
        'Each CI machine needs Node 20 and a Docker engine, and the shared cache in KILN_CACHE_URL,\n' +
          'KILN_CACHE_TOKEN and KILN_CACHE_SIGNING_KEY (secrets or CI variables; see README).\n' +
          'Exit codes: 0 written, 2 bad usage or definition.',
      ),
    )
    .action(async (system: CiSystem, jobs: string[], opts) =>
      setExit(await ciCommand(system, jobs, { ...opts, debug: debug() })),
    );
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('kiln')
    .description('A declarative build-graph engine: jobs in containers, steps as execs, typed mounts.')
    .version(KILN_VERSION, '-v, --version', 'print the version')
    .option('--debug', 'print stack traces of errors (before the command: kiln --debug run)')
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run kiln --help for usage)')
    .configureOutput({ outputError: (str, write) => write(`kiln: ${str.replace(/^error: /, '')}`) })
    .exitOverride()
    .addHelpText(
      'after',
      examples(
        [
          ['kiln run', 'run every job of ./kiln.yaml'],
          ['kiln run test', 'run job "test" and the jobs it needs'],
          ['kiln plan', 'what kiln run would run, and why'],
          ['kiln validate -f ci/kiln.yaml', 'check a step file'],
          ['kiln graph --format mermaid', 'print the job graph'],
          ['kiln prune --dry-run', "list what kiln's dead runs left"],
          ['kiln shell build', 'a shell in a fresh container of job "build"'],
          ['kiln help run', 'the options of one command'],
        ],
        EXIT_CODES,
      ),
    );
  // `kiln --debug CMD`, or `kiln CMD --debug` for a command whose --debug means that (see subcommand).
  const debug = () =>
    program.opts().debug === true ||
    program.commands.some((c) => c.name() !== 'run' && c.opts().debug === true);
  addRunCommand(program, setExit, debug);
  addPlanCommand(program, setExit, debug);
  addValidateCommand(program, setExit, debug);
  addGraphCommand(program, setExit, debug);
  addPruneCommand(program, setExit, debug);
  addShellCommand(program, setExit, debug);
  addCiCommand(program, setExit, debug);
  return program;
}

/**
 * `kiln graph | head` closes the pipe before kiln is done writing: that is the reader's choice, not a fault,
 * so writes to a closed stdout or stderr are dropped instead of crashing with a stack trace.
 */
function ignoreClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') > 0) continue;
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    });
  }
}

/**
 * Whether errors get their stack trace: `--debug` before the command, or after any command but `run`,
 * whose `--debug` opens a shell when a step fails.
 */
function wantsStackTraces(argv: readonly string[]): boolean {
  const command = argv.findIndex((arg) => !arg.startsWith('-'));
  if (command === -1) return argv.includes('--debug');
  if (argv.slice(0, command).includes('--debug')) return true;
  return argv[command] !== 'run' && argv.slice(command + 1).includes('--debug');
}

/** Runs the command line `argv` (without node and the script); resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  ignoreClosedPipes();
  let code: number = ExitCode.passed;
  const program = buildProgram((c) => {
    code = c;
  });
  const debug = wantsStackTraces(argv);
  // `kiln help CMD` is `kiln CMD --help`; a mistyped CMD gets the same "did you mean" as `kiln CMD`.
  const known = new Set(program.commands.map((c) => c.name()));
  const args =
    argv[0] === 'help' && argv.length === 2
      ? known.has(argv[1]!)
        ? [argv[1]!, '--help']
        : [argv[1]!]
      : [...argv];
  try {
    if (args.filter((a) => a !== '--debug').length === 0) {
      // No command: the help, on stderr, as a usage error.
      program.outputHelp({ error: true });
      return ExitCode.usage;
    }
    await program.parseAsync(args, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help, --version: 0. Help shown because something was missing, and every parse error: 2.
      return error.exitCode === 0 ? ExitCode.passed : ExitCode.usage;
    }
    return reportError(error, debug);
  }
}

export { reportError, UsageError };
