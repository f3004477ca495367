/** Running a helper command of a bench case (a script, curl, stat) for its output. */
import { spawn } from 'node:child_process';

/** Runs a command; resolves with its stdout, rejects with its command line and stderr. */
export function commandOutput(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`${[command, ...args].join(' ')} exited ${code}: ${err.trim()}`)),
    );
  });
}
