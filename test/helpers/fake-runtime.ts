/**
 * Small in-memory implementations of the runtime's interfaces, for unit tests of the logic above them
 * (mount planning, cache volumes, job planning) without an engine. They record every call, so that a
 * test can also prove that a phase made none.
 */
import type { ImageRuntime } from '../../src/runtime/images.js';
import type { VolumeInfo, VolumeRuntime, VolumeUsage } from '../../src/runtime/volumes.js';

export class MemoryVolumes implements VolumeRuntime {
  readonly #volumes = new Map<string, VolumeInfo>();
  /** Every call, as `verb name`. */
  readonly calls: string[] = [];
  /** How many containers mount each volume: a mounted volume cannot be removed. */
  readonly mounted = new Map<string, number>();
  /** Bytes on disk per volume, as the engine's disk usage would say. */
  readonly sizes = new Map<string, number>();

  /** Puts a volume there as if someone else made it. */
  add(name: string, labels: Record<string, string>, createdAt?: string): void {
    this.#volumes.set(name, { name, labels, ...(createdAt ? { createdAt } : {}) });
  }

  has(name: string): boolean {
    return this.#volumes.has(name);
  }

  get names(): string[] {
    return [...this.#volumes.keys()].sort();
  }

  async inspect(name: string): Promise<VolumeInfo | undefined> {
    this.calls.push(`inspect ${name}`);
    return this.#volumes.get(name);
  }

  async create(name: string, labels: Readonly<Record<string, string>>): Promise<'created' | 'existing'> {
    this.calls.push(`create ${name}`);
    if (this.#volumes.has(name)) return 'existing';
    this.#volumes.set(name, { name, labels: { ...labels } });
    return 'created';
  }

  async list(labels: readonly string[]): Promise<VolumeInfo[]> {
    this.calls.push(`list ${labels.join(',')}`);
    const wanted = labels.map((l) => l.split('=') as [string, string]);
    return [...this.#volumes.values()].filter((v) => wanted.every(([k, value]) => v.labels[k] === value));
  }

  async remove(name: string): Promise<'removed' | 'missing' | 'in-use'> {
    this.calls.push(`remove ${name}`);
    if (!this.#volumes.has(name)) return 'missing';
    if ((this.mounted.get(name) ?? 0) > 0) return 'in-use';
    this.#volumes.delete(name);
    return 'removed';
  }

  async usage(): Promise<ReadonlyMap<string, VolumeUsage>> {
    this.calls.push('usage');
    return new Map(
      [...this.#volumes.keys()].map((name) => {
        const size = this.sizes.get(name);
        return [
          name,
          { ...(size !== undefined ? { sizeBytes: size } : {}), containers: this.mounted.get(name) ?? 0 },
        ];
      }),
    );
  }
}

export class MemoryImages implements ImageRuntime {
  readonly #ids = new Map<string, string>();
  /** Images a pull would bring, by reference. */
  readonly pullable = new Map<string, string>();
  readonly calls: string[] = [];

  constructor(images: Record<string, string> = {}) {
    for (const [reference, id] of Object.entries(images)) this.#ids.set(reference, id);
  }

  async idOf(reference: string): Promise<string | undefined> {
    this.calls.push(`inspect ${reference}`);
    return this.#ids.get(reference);
  }

  async pull(reference: string): Promise<void> {
    this.calls.push(`pull ${reference}`);
    const id = this.pullable.get(reference);
    if (id === undefined) throw new Error(`pull access denied for ${reference}`);
    this.#ids.set(reference, id);
  }
}
