/**
 * The secrets of one run. Each declared secret (`secrets:` of the step file) is read at most once per
 * run, when it is first needed: to mount it in a step, or to mask output. Every value found masks the
 * output of every job of the run, whether the job mounts the secret or not: a job can meet another
 * job's secret in a shared cache, an output or a bind of the project folder, and must not print it.
 * A secret that cannot be read is simply not masked; it fails only the steps that mount it.
 */
import type { BuildGraph } from '../graph/types.js';
import { compileMask, type CompiledMask } from './secret-masker.js';
import { resolveSecretSource, type SecretResolution } from './secret-sources.js';

export class RunSecrets {
  readonly #graph: BuildGraph;
  readonly #env: NodeJS.ProcessEnv;
  readonly #values = new Map<string, Promise<SecretResolution>>();
  #mask: Promise<CompiledMask> | undefined;

  constructor(graph: BuildGraph, env: NodeJS.ProcessEnv) {
    this.#graph = graph;
    this.#env = env;
  }

  /** The ids declared under `secrets:`. */
  get ids(): readonly string[] {
    return Object.keys(this.#graph.secrets);
  }

  /**
   * The value of secret `id`, read once per run. Rejects where the source exists but cannot be read;
   * undefined when `id` is not declared.
   */
  resolve(id: string): Promise<SecretResolution> | undefined {
    const source = this.#graph.secrets[id];
    if (source === undefined) return undefined;
    let pending = this.#values.get(id);
    if (pending === undefined) {
      pending = resolveSecretSource(source, { projectDir: this.#graph.projectDir, env: this.#env });
      this.#values.set(id, pending);
    }
    return pending;
  }

  /** The masking of every declared secret that has a value, compiled once per run. */
  mask(): Promise<CompiledMask> {
    this.#mask ??= (async () => {
      const found = await Promise.all(
        this.ids.map((id) =>
          this.resolve(id)!.then(
            (resolution) => (resolution.found ? resolution.value : undefined),
            () => undefined,
          ),
        ),
      );
      return compileMask(found.filter((value): value is Buffer => value !== undefined && value.length > 0));
    })();
    return this.#mask;
  }
}
