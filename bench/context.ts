/**
 * What every benchmark case is given by the harness (bench/main.ts).
 */
import type Docker from 'dockerode';
import type { Engine } from '../src/runtime/engine.js';
import type { CaseResult } from './report.js';

export interface BenchContext {
  /** `--quick`: smaller sizes, fewer repetitions. */
  readonly quick: boolean;
  /** Measured repetitions per variant (after one warm-up round). */
  readonly repetitions: number;
  readonly engine: Engine;
  readonly docker: Docker;
  /** An empty temp folder of this case's own (projects, step files). */
  readonly workDir: string;
  /** The environment kiln runs with: the bench's own, with KILN_STATE_DIR in a temp folder. */
  readonly env: NodeJS.ProcessEnv;
  /** A progress line on stderr. */
  log(message: string): void;
}

export type BenchCase = (context: BenchContext) => Promise<CaseResult>;
