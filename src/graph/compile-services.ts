/**
 * A job's services (`services:` on the job, merged by name over `defaults.services`), compiled: names
 * and aliases checked as host names that are unique on the job's network, commands as argv, durations
 * in ms, the health check's defaults filled in. Every problem is a diagnostic at the offending value.
 */
import { parseMode, parseSize } from '../definition/sizes.js';
import type { RunCommand, ServiceSpec } from '../definition/types.js';
import { pointer, type DiagnosticCollector } from './diagnostics.js';
import { imageReferenceProblem } from './image-reference.js';
import { parseWait } from './wait-limit.js';
import type { CompiledService, CompiledServiceHealth } from './types.js';

/** A host name on the job's network: what a service's name and aliases must be. */
export const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The health check's defaults (Docker's healthcheck semantics, quicker: a job waits on it). */
export const HEALTH_DEFAULTS = {
  /** Between the start of one check and the next. */
  intervalMs: 1_000,
  /** A check that takes longer has failed. */
  timeoutMs: 5_000,
  /** Failed checks in a row, after the start period, before the service has failed. */
  retries: 30,
  /** Failed checks before this time after the start do not count. */
  startPeriodMs: 0,
} as const;

export interface ServiceJob {
  readonly name: string;
  /** `job 'name'`, as messages begin. */
  readonly label: string;
  /** JSON pointer of the job. */
  readonly at: string;
  readonly network?: string;
  readonly reuse: boolean;
}

/**
 * The host name the job's own container answers to on its services' network: the job's name, when it is
 * a host name (a matrix instance's is not, and gets none).
 */
export function jobHostname(job: string): string | undefined {
  return SERVICE_NAME.test(job) ? job : undefined;
}

/** The job's services, the defaults' first (in their order), each replaced by the job's of that name. */
export function compileServices(
  job: ServiceJob,
  own: Readonly<Record<string, ServiceSpec>> | undefined,
  defaults: Readonly<Record<string, ServiceSpec>> | undefined,
  diagnostics: DiagnosticCollector,
): CompiledService[] {
  const entries = new Map<string, { spec: ServiceSpec; at: string }>();
  if (isMap(defaults))
    for (const [name, spec] of Object.entries(defaults))
      entries.set(name, { spec, at: pointer('defaults', 'services', name) });
  if (own !== undefined && !isMap(own)) {
    diagnostics.add(`${job.label}: services must be a map of name: { image, ... }`, `${job.at}/services`);
  } else if (own !== undefined) {
    for (const [name, spec] of Object.entries(own))
      entries.set(name, { spec, at: `${job.at}/services/${pointer(name).slice(1)}` });
  }
  if (entries.size === 0) return [];
  if (job.network !== undefined) {
    diagnostics.add(
      `${job.label}: a job with services runs on a network of its own, so it cannot also set network ` +
        `(${job.network}); drop one of them`,
      `${job.at}/services`,
      [job.name],
    );
  }
  if (job.reuse) {
    diagnostics.add(
      `${job.label}: a reused container outlives the run, its services' network does not: ` +
        `reuse cannot be combined with services`,
      `${job.at}/services`,
      [job.name],
    );
  }
  const hosts = new Map<string, string>();
  const hostname = jobHostname(job.name);
  if (hostname !== undefined) hosts.set(hostname, 'the job itself');
  const services: CompiledService[] = [];
  for (const [name, { spec, at }] of entries) {
    const service = compileService(job, name, spec, at, hosts, diagnostics);
    if (service !== undefined) services.push(service);
  }
  return services;
}

function compileService(
  job: ServiceJob,
  name: string,
  spec: ServiceSpec,
  at: string,
  hosts: Map<string, string>,
  diagnostics: DiagnosticCollector,
): CompiledService | undefined {
  const label = `${job.label}, service '${name}'`;
  if (!isMap(spec)) {
    diagnostics.add(`${label}: a service must be an object with an image`, at);
    return undefined;
  }
  const aliases = claimHostNames(job, name, spec, at, hosts, diagnostics);
  let ok = true;
  const fail = (message: string, valueAt: string) => {
    diagnostics.add(`${label}: ${message}`, valueAt);
    ok = false;
  };
  if (typeof spec.image !== 'string' || spec.image.trim() === '') {
    fail('needs an image', spec.image === undefined ? at : `${at}/image`);
  } else {
    const problem = imageReferenceProblem(spec.image);
    if (problem !== undefined) fail(`image ${JSON.stringify(spec.image)} ${problem}`, `${at}/image`);
  }
  const env = serviceEnv(spec.env, `${at}/env`, fail);
  const command =
    spec.command === undefined ? undefined : argvOf(spec.command, 'command', `${at}/command`, fail);
  const entrypoint = entrypointOf(spec.entrypoint, `${at}/entrypoint`, fail);
  if (spec.user !== undefined && (typeof spec.user !== 'string' || spec.user === ''))
    fail('user must be a name, uid or uid:gid', `${at}/user`);
  const ports = servicePorts(spec.ports, `${at}/ports`, fail);
  const { tmpfs, caches } = serviceMounts(spec.mounts, `${at}/mounts`, fail);
  const health = spec.health === undefined ? undefined : compileHealth(spec.health, `${at}/health`, fail);
  if (!ok) return undefined;
  return {
    name,
    image: spec.image,
    env,
    ...(command !== undefined ? { command } : {}),
    ...(entrypoint !== undefined ? { entrypoint } : {}),
    ...(spec.user !== undefined ? { user: spec.user } : {}),
    tmpfs,
    caches,
    aliases,
    ports,
    ...(health !== undefined ? { health } : {}),
  };
}

type Fail = (message: string, at: string) => void;

/**
 * Claims the service's name and aliases on the job's network (`hosts`: each name taken, by whom), with a
 * diagnostic for each that is not a host name or is taken; the aliases.
 */
function claimHostNames(
  job: ServiceJob,
  name: string,
  spec: ServiceSpec,
  at: string,
  hosts: Map<string, string>,
  diagnostics: DiagnosticCollector,
): string[] {
  const label = `${job.label}, service '${name}'`;
  const host = (value: string, what: string, valueAt: string) => {
    if (!SERVICE_NAME.test(value)) {
      diagnostics.add(
        `${label}: ${what} ${JSON.stringify(value)} is not a host name: lowercase letters, digits and '-', ` +
          `at most 63, starting and ending with a letter or digit`,
        valueAt,
      );
      return;
    }
    const holder = hosts.get(value);
    if (holder === 'the job itself') {
      diagnostics.add(
        `${label}: ${what} ${JSON.stringify(value)} is the job's own host name on its network; ` +
          `rename the service or the alias`,
        valueAt,
        [job.name],
      );
    } else if (holder !== undefined) {
      diagnostics.add(
        `${label}: ${what} ${JSON.stringify(value)} is taken by ${holder}: each name on the job's network ` +
          `must be unique`,
        valueAt,
        [job.name],
      );
    } else hosts.set(value, `service '${name}'`);
  };
  host(name, 'name', at);
  const aliases: string[] = [];
  if (spec.aliases !== undefined && !Array.isArray(spec.aliases)) {
    diagnostics.add(`${label}: aliases must be a list of host names`, `${at}/aliases`);
  } else {
    (spec.aliases ?? []).forEach((alias, i) => {
      if (typeof alias !== 'string') {
        diagnostics.add(`${label}: aliases must be a list of host names`, `${at}/aliases/${i}`);
        return;
      }
      host(alias, 'alias', `${at}/aliases/${i}`);
      aliases.push(alias);
    });
  }
  return aliases;
}

/** The service's env: names without '=' and string values. */
function serviceEnv(spec: ServiceSpec['env'], at: string, fail: Fail): Record<string, string> {
  const env: Record<string, string> = {};
  if (spec !== undefined && !isMap(spec)) fail('env must be a map of NAME: value', at);
  for (const [key, value] of Object.entries(isMap(spec) ? spec : {})) {
    if (key === '' || key.includes('=') || /\0/.test(key) || typeof value !== 'string' || /\0/.test(value))
      fail(`env ${JSON.stringify(key)} must be a name without '=' and a string value`, at);
    else env[key] = value;
  }
  return env;
}

/** The service's TCP ports, each once. */
function servicePorts(spec: ServiceSpec['ports'], at: string, fail: Fail): number[] {
  const ports: number[] = [];
  if (spec !== undefined && !Array.isArray(spec)) fail('ports must be a list of TCP ports', at);
  (Array.isArray(spec) ? spec : []).forEach((port, i) => {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
      fail(`port ${JSON.stringify(port)} must be a whole number from 1 to 65535`, `${at}/${i}`);
    else if (!ports.includes(port)) ports.push(port);
  });
  return ports;
}

/** A command: a string runs through `/bin/sh -c`, a list is the argv. */
function argvOf(run: RunCommand, what: string, at: string, fail: Fail): readonly string[] | undefined {
  if (typeof run === 'string' && run.trim() !== '' && !run.includes('\0')) return ['/bin/sh', '-c', run];
  if (Array.isArray(run) && run.length > 0 && run.every((a) => typeof a === 'string' && !a.includes('\0')))
    return [...(run as readonly string[])];
  fail(`${what} must be a non-empty command string or a non-empty list of strings`, at);
  return undefined;
}

function entrypointOf(value: unknown, at: string, fail: Fail): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && value !== '' && !value.includes('\0')) return [value];
  if (Array.isArray(value) && value.every((a) => typeof a === 'string' && !a.includes('\0')))
    return [...(value as string[])];
  fail('entrypoint must be a program or a list of strings', at);
  return undefined;
}

/** Cache ids, as the schema takes them. */
const CACHE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** A service's mounts: tmpfs, and cache volumes shared with the project's jobs. */
function serviceMounts(mounts: unknown, at: string, fail: Fail): Pick<CompiledService, 'tmpfs' | 'caches'> {
  const tmpfs: Array<CompiledService['tmpfs'][number]> = [];
  const caches: Array<CompiledService['caches'][number]> = [];
  if (mounts === undefined) return { tmpfs, caches };
  if (!Array.isArray(mounts)) {
    fail('mounts must be a list of tmpfs and cache mounts', at);
    return { tmpfs, caches };
  }
  const targets = new Set<string>();
  mounts.forEach((mount: unknown, i) => {
    const m = mount as Record<string, unknown> | null;
    if (m === null || typeof m !== 'object' || (m['type'] !== 'tmpfs' && m['type'] !== 'cache')) {
      fail('a service takes tmpfs and cache mounts only ({ type: tmpfs, target: /path })', `${at}/${i}`);
      return;
    }
    const target = m['target'];
    if (typeof target !== 'string' || !target.startsWith('/') || target === '/') {
      fail('a service mount needs an absolute target other than /', `${at}/${i}/target`);
      return;
    }
    if (targets.has(target)) {
      fail(`two mounts on ${target}`, `${at}/${i}/target`);
      return;
    }
    targets.add(target);
    if (m['type'] === 'cache') {
      const id = m['id'];
      if (typeof id !== 'string' || !CACHE_ID.test(id) || id.length > 128) {
        fail('a cache mount needs an id: letters, digits, _, . and -, at most 128', `${at}/${i}/id`);
        return;
      }
      if ((m['sharing'] ?? 'shared') !== 'shared') {
        fail(
          `cache ${id}: a service's cache must be shared (sharing: shared): a locked or private cache ` +
            `is held by one job at a time, and its own job would wait for it`,
          `${at}/${i}/sharing`,
        );
        return;
      }
      caches.push({ type: 'cache', id, target, sharing: 'shared', readonly: m['readonly'] === true });
      return;
    }
    try {
      const sizeBytes = m['size'] === undefined ? undefined : parseSize(m['size'] as string | number);
      const mode = m['mode'] === undefined ? 0o1777 : parseMode(m['mode'] as string | number);
      tmpfs.push({ type: 'tmpfs', target, ...(sizeBytes !== undefined ? { sizeBytes } : {}), mode });
    } catch (error) {
      fail(`mount ${target}: ${(error as Error).message}`, `${at}/${i}`);
    }
  });
  return { tmpfs, caches };
}

function compileHealth(health: unknown, at: string, fail: Fail): CompiledServiceHealth | undefined {
  if (!isMap(health)) {
    fail('health must be an object such as { run: "pg_isready" }', at);
    return undefined;
  }
  const h = health as Record<string, unknown>;
  const argv = argvOf(h['run'] as RunCommand, 'health run', `${at}/run`, fail);
  const duration = (key: string, fallback: number, zero: boolean): number | undefined => {
    const value = h[key];
    if (value === undefined) return fallback;
    const field = key === 'startPeriod' ? 'start-period' : key;
    try {
      const ms = parseWait(value as string | number);
      if (ms === 0 && !zero) throw new Error('must be longer than 0');
      return ms;
    } catch (error) {
      fail(`health ${field}: ${(error as Error).message}`, `${at}/${field}`);
      return undefined;
    }
  };
  const intervalMs = duration('interval', HEALTH_DEFAULTS.intervalMs, false);
  const timeoutMs = duration('timeout', HEALTH_DEFAULTS.timeoutMs, false);
  const startPeriodMs = duration('startPeriod', HEALTH_DEFAULTS.startPeriodMs, true);
  const retries = h['retries'] ?? HEALTH_DEFAULTS.retries;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 1 || retries > 10_000)
    fail(
      `health retries must be a whole number from 1 to 10000, not ${JSON.stringify(retries)}`,
      `${at}/retries`,
    );
  if (
    argv === undefined ||
    intervalMs === undefined ||
    timeoutMs === undefined ||
    startPeriodMs === undefined
  )
    return undefined;
  return { argv, intervalMs, timeoutMs, retries: retries as number, startPeriodMs };
}

function isMap(value: unknown): value is Record<string, never> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
