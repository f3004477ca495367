/**
 * The `kiln` command line: parses arguments, calls the API, maps errors to exit codes. Thin by design.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ExitCode, isKilnError, UsageError } from '../errors.js';
import { KILN_VERSION } from '../runtime/version.js';
import { runCommand } from './run-command.js';
import { validateCommand, graphCommand } from './graph-commands.js';
import { pruneCommand } from './prune-command.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number of seconds (0 or more)');
  return n;
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('kiln')
    .description('A declarative build-graph engine: jobs in containers, steps as execs, typed mounts.')
    .version(KILN_VERSION, '-v, --version', 'print the version')
    .option('--debug', 'print stack traces of errors')
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run kiln --help for usage)')
    .configureOutput({ outputError: (str, write) => write(`kiln: ${str.replace(/^error: /, '')}`) })
    .exitOverride();

  program
    .command('run')
    .description('run the jobs of a step file (all, or the named ones and what they need)')
    .argument('[jobs...]', 'jobs to run; their needs run too')
    .option('-f, --file <file>', 'the step file', 'kiln.yaml')
    .addOption(new Option('--progress <mode>', 'how to show progress').choices(['auto', 'tty', 'plain', 'json']).default('auto'))
    .option('--json', 'print the events as JSON lines (same as --progress json)')
    .option('--concurrency <n>', 'jobs at once (default: the number of cores)', positiveInt)
    .option('--keep-going', 'after a failure, still run every job whose needs passed')
    .option('--reuse', 'reuse every job container across runs (see README: file state persists)')
    .option('--grace-period <seconds>', 'on cancellation, seconds between SIGTERM and SIGKILL (default KILN_CANCEL_GRACE_PERIOD or 10)', seconds)
    .option('--trace <file>', 'write the run as Chrome trace-event JSON (open in Perfetto)')
    .option('--no-logs', 'do not keep the full output of each step on disk')
    .addHelpText(
      'after',
      `
Examples:
  kiln run                      run every job of ./kiln.yaml
  kiln run test -f ci/kiln.yaml run job "test" and the jobs it needs
  kiln run --json > events.jsonl  machine-readable events, one per line
  kiln run --keep-going --concurrency 4 --trace run.trace.json

Exit codes: 0 passed, 1 a step failed, 2 bad usage or definition, 3 Docker unreachable or another
infrastructure fault, 130 interrupted.`,
    )
    .action(async (jobs: string[], opts) => setExit(await runCommand(jobs, { ...opts, debug: program.opts().debug })));

  program
    .command('validate')
    .description('check a step file; prints FILE:LINE:COL: message for each problem')
    .option('-f, --file <file>', 'the step file', 'kiln.yaml')
    .addHelpText('after', '\nExamples:\n  kiln validate\n  kiln validate -f ci/kiln.yaml')
    .action(async (opts) => setExit(await validateCommand(opts)));

  program
    .command('graph')
    .description('print the job graph')
    .option('-f, --file <file>', 'the step file', 'kiln.yaml')
    .addOption(new Option('--format <format>', 'output format').choices(['dot', 'mermaid', 'json']).default('dot'))
    .addHelpText('after', '\nExamples:\n  kiln graph | dot -Tsvg > graph.svg\n  kiln graph --format mermaid')
    .action(async (opts) => setExit(await graphCommand(opts)));

  program
    .command('prune')
    .description("remove kiln's containers, unused run volumes and caches")
    .option('--all', 'also remove reused containers and every unused cache')
    .option('--dry-run', 'only list what would be removed')
    .addHelpText('after', '\nExamples:\n  kiln prune --dry-run\n  kiln prune --all')
    .action(async (opts) => setExit(await pruneCommand(opts)));

  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  let code: number = ExitCode.passed;
  const program = buildProgram((c) => {
    code = c;
  });
  const debug = argv.includes('--debug');
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return ExitCode.usage;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') {
        return ExitCode.passed;
      }
      return ExitCode.usage;
    }
    return reportError(error, debug);
  }
}

/** Prints an error for a person: the message, a stack only with --debug. Returns the exit code. */
export function reportError(error: unknown, debug: boolean): number {
  if (isKilnError(error)) {
    process.stderr.write(`kiln: ${error.message}\n`);
    if (debug && error.stack) process.stderr.write(`${error.stack}\n`);
    return error.exitCode;
  }
  process.stderr.write(`kiln: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
  if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  else process.stderr.write('(run again with --debug for details)\n');
  return ExitCode.infrastructure;
}

export { UsageError };
