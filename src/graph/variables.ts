/**
 * Variables: `${{ env.NAME }}`, `${{ matrix.NAME }}`, `${{ job.name }}` and `${{ run.id }}` in a job's
 * `image`, `workdir`, `env` values, steps' `run`, `workdir` and `env` values, and mounts' `source`, `target`
 * and `id` (and the same fields of `defaults`, where only `env.*` and `run.id` exist). The compiler calls
 * this first, so the job cache's key, computed from the compiled job, covers the interpolated values.
 * An unknown name is an error at the field, never an empty string; a secret is never interpolated.
 */
import type { Defaults, Definition, JobSpec, MountSpec, StepSpec } from '../definition/types.js';
import { pointer, type DiagnosticCollector } from './diagnostics.js';

export interface VariableOptions {
  /**
   * Values `${{ env.NAME }}` reads besides the names listed in `env-passthrough`: those given with
   * `kiln run --env NAME[=value]`. Default: none.
   */
  readonly envValues?: Readonly<Record<string, string>>;
  /** What `${{ run.id }}` is. Default: a new id on each compile. */
  readonly runId?: string;
  /** The host environment `env-passthrough` names are read from. Default: `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** `${{ name }}`, spaces allowed inside the braces. */
const EXPRESSION = /\$\{\{\s*(.*?)\s*\}\}/g;
const KNOWN = 'kiln knows env.NAME, matrix.NAME, job.name and run.id';

/** Scope of one interpolation: what each name resolves to. */
interface Scope {
  readonly env: ReadonlyMap<string, string>;
  readonly secretNames: ReadonlySet<string>;
  readonly runId: string;
  readonly job?: string;
  readonly matrix?: Readonly<Record<string, string>>;
}

/** The definition with every variable replaced; problems go to `diagnostics`, the field left as written. */
export function interpolateVariables(
  definition: Definition,
  options: VariableOptions,
  diagnostics: DiagnosticCollector,
): Definition {
  if (!usesVariables(definition)) return definition;
  const host = options.env ?? process.env;
  const env = new Map<string, string>();
  for (const name of definition.envPassthrough ?? []) {
    const value = host[name];
    if (value !== undefined) env.set(name, value);
  }
  for (const [name, value] of Object.entries(options.envValues ?? {})) env.set(name, value);
  // A secret's id, and the host variable a secret is read from, are never interpolated.
  const secretNames = new Set<string>();
  for (const [id, source] of Object.entries(definition.secrets ?? {})) {
    secretNames.add(id);
    if ('env' in source) secretNames.add(source.env);
  }
  const runId = options.runId ?? fallbackRunId();
  const base: Scope = { env, secretNames, runId };
  const jobs: Record<string, JobSpec> = {};
  for (const [name, spec] of Object.entries(definition.jobs ?? {})) {
    const matrix = matrixValues(spec);
    const scope: Scope = { ...base, job: name, ...(matrix ? { matrix } : {}) };
    jobs[name] = interpolateJob(spec, scope, pointer('jobs', name), diagnostics);
  }
  return {
    ...definition,
    ...(definition.defaults
      ? { defaults: interpolateShared(definition.defaults, base, pointer('defaults'), diagnostics) }
      : {}),
    jobs,
  };
}

/** Whether any `${{` appears at all: most step files have none, and are returned as they are. */
function usesVariables(definition: Definition): boolean {
  return JSON.stringify({ d: definition.defaults, j: definition.jobs }).includes('${{');
}

function fallbackRunId(): string {
  const now = new Date().toISOString().replace(/[-:]/g, '');
  return `${now.slice(0, 8)}-${now.slice(9, 15)}-${Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0')}`;
}

/** The values of an expanded matrix instance, when the job carries them (`matrix: { cc: gcc }`). */
function matrixValues(spec: JobSpec): Record<string, string> | undefined {
  const matrix = (spec as { readonly matrix?: unknown } | null)?.matrix;
  if (matrix === null || typeof matrix !== 'object' || Array.isArray(matrix)) return undefined;
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(matrix as Record<string, unknown>)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      values[key] = String(value);
    }
  }
  return values;
}

/** The fields `defaults` and a job share: `image`, `workdir`, `env` and `mounts`. */
function interpolateShared<T extends Defaults | JobSpec>(
  spec: T,
  scope: Scope,
  at: string,
  diagnostics: DiagnosticCollector,
): T {
  const text = (value: string, field: string): string =>
    interpolate(value, scope, at + pointer(field), diagnostics);
  return {
    ...spec,
    ...(typeof spec.image === 'string' ? { image: text(spec.image, 'image') } : {}),
    ...(typeof spec.workdir === 'string' ? { workdir: text(spec.workdir, 'workdir') } : {}),
    ...(spec.env ? { env: interpolateEnv(spec.env, scope, at, diagnostics) } : {}),
    ...(Array.isArray(spec.mounts) ? { mounts: interpolateMounts(spec.mounts, scope, at, diagnostics) } : {}),
  };
}

function interpolateJob(spec: JobSpec, scope: Scope, at: string, diagnostics: DiagnosticCollector): JobSpec {
  if (spec === null || typeof spec !== 'object') return spec;
  return {
    ...interpolateShared(spec, scope, at, diagnostics),
    ...(Array.isArray(spec.steps)
      ? {
          steps: spec.steps.map((step, index) =>
            interpolateStep(step, scope, at + pointer('steps', index), diagnostics),
          ),
        }
      : {}),
  };
}

function interpolateStep(
  step: StepSpec,
  scope: Scope,
  at: string,
  diagnostics: DiagnosticCollector,
): StepSpec {
  if (step === null || typeof step !== 'object') return step;
  const run = step.run as unknown;
  return {
    ...step,
    ...(typeof run === 'string' ? { run: interpolate(run, scope, at + pointer('run'), diagnostics) } : {}),
    ...(Array.isArray(run)
      ? {
          run: run.map((word: unknown, index) =>
            typeof word === 'string'
              ? interpolate(word, scope, at + pointer('run', index), diagnostics)
              : (word as string),
          ),
        }
      : {}),
    ...(typeof step.workdir === 'string'
      ? { workdir: interpolate(step.workdir, scope, at + pointer('workdir'), diagnostics) }
      : {}),
    ...(step.env ? { env: interpolateEnv(step.env, scope, at, diagnostics) } : {}),
    ...(Array.isArray(step.mounts) ? { mounts: interpolateMounts(step.mounts, scope, at, diagnostics) } : {}),
  };
}

function interpolateEnv(
  env: Readonly<Record<string, string>>,
  scope: Scope,
  at: string,
  diagnostics: DiagnosticCollector,
): Record<string, string> {
  if (env === null || typeof env !== 'object') return env;
  return Object.fromEntries(
    Object.entries(env).map(([name, value]) => [
      name,
      typeof value === 'string' ? interpolate(value, scope, at + pointer('env', name), diagnostics) : value,
    ]),
  );
}

/** The mount fields variables reach. */
const MOUNT_FIELDS = ['source', 'target', 'id'] as const;

function interpolateMounts(
  mounts: readonly MountSpec[],
  scope: Scope,
  at: string,
  diagnostics: DiagnosticCollector,
): MountSpec[] {
  return mounts.map((mount, index) => {
    if (mount === null || typeof mount !== 'object') return mount;
    const out: Record<string, unknown> = { ...mount };
    for (const field of MOUNT_FIELDS) {
      const value = out[field];
      if (typeof value === 'string') {
        out[field] = interpolate(value, scope, at + pointer('mounts', index, field), diagnostics);
      }
    }
    return out as unknown as MountSpec;
  });
}

/** One field's text with its `${{ ... }}` replaced; an unknown or refused name is reported at `at`. */
function interpolate(text: string, scope: Scope, at: string, diagnostics: DiagnosticCollector): string {
  if (!text.includes('${{')) return text;
  return text.replace(EXPRESSION, (whole, expression: string) => {
    const value = resolve(expression, scope);
    if (typeof value === 'string') return value;
    diagnostics.add(`${whole}: ${value.problem}`, at);
    return whole;
  });
}

function resolve(expression: string, scope: Scope): string | { problem: string } {
  const match = /^([A-Za-z_][\w-]*)\.([A-Za-z_][\w.-]*)$/.exec(expression);
  if (!match) return { problem: `not a variable: ${KNOWN}` };
  const [, space, name] = match as unknown as [string, string, string];
  const secret = (): { problem: string } => ({
    problem: `${name} is a secret, and a secret is never interpolated (it would be in the job's spec, its logs and its cache key): mount it as a secret instead (\`mounts: [{ type: secret, id: ... }]\`)`,
  });
  switch (space) {
    case 'secrets':
      return secret();
    case 'env': {
      if (scope.secretNames.has(name)) return secret();
      const value = scope.env.get(name);
      if (value !== undefined) return value;
      return {
        problem: `unknown variable env.${name}: list it in the top-level \`env-passthrough\` (and set it on the host), or pass \`--env ${name}=VALUE\``,
      };
    }
    case 'matrix': {
      const value = scope.matrix?.[name];
      if (value !== undefined) return value;
      if (scope.job === undefined) return { problem: 'matrix values exist only in a job, not in `defaults`' };
      const known = Object.keys(scope.matrix ?? {});
      return {
        problem:
          known.length > 0
            ? `unknown variable matrix.${name}: this job's matrix has ${known.join(', ')}`
            : `unknown variable matrix.${name}: job ${scope.job} has no matrix`,
      };
    }
    case 'job':
      if (name !== 'name') return { problem: `unknown variable job.${name}: a job has job.name` };
      if (scope.job === undefined) return { problem: 'job.name exists only in a job, not in `defaults`' };
      return scope.job;
    case 'run':
      if (name !== 'id') return { problem: `unknown variable run.${name}: a run has run.id` };
      return scope.runId;
    default:
      return { problem: `unknown variable ${expression}: ${KNOWN}` };
  }
}
