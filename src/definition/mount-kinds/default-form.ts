/**
 * The `--mount` form of a `KILN_DEFAULT_MOUNTS` entry (`type=cache,id=npm,target=/root/.npm`), as a
 * kind reads it: its keys (aliases already resolved) and their values, and the error that names what is
 * wrong with the entry.
 */

/** What is wrong with one entry; default-mounts.ts prefixes it with the entry's position and text. */
export class EntryError extends Error {}

export class DefaultFormFields {
  constructor(private readonly fields: ReadonlyMap<string, string | undefined>) {}

  has(key: string): boolean {
    return this.fields.has(key);
  }

  /** The value as written; undefined when absent or given without a value. */
  get(key: string): string | undefined {
    return this.fields.get(key);
  }

  /** A boolean key: absent is false; given without a value (`ro`) is true; else true/1 or false/0. */
  boolean(key: string): boolean {
    if (!this.fields.has(key)) return false;
    const value = this.fields.get(key);
    if (value === undefined || value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    throw new EntryError(`${key}=${value} is not a boolean (write true or false)`);
  }
}
