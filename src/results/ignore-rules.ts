/**
 * Which paths of a bind source are left out of its content digest: the mount's `exclude:` patterns
 * (gitignore syntax, relative to the bind source) and the project's `.kilnignore` (gitignore syntax,
 * relative to the project folder, for build folders and `.git`). A folder that is excluded is not
 * walked, so a pattern cannot bring back a path under it (as in git).
 *
 * Excluded paths are still there in the container: the rules decide what the job's key covers, not
 * what the job sees.
 */
import ignore, { type Ignore } from 'ignore';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { sha256Digest } from './canonical.js';

/** The file of exclude patterns at the project's root. */
export const KILNIGNORE = '.kilnignore';

export interface ExcludeRulesOptions {
  /** The bind source (absolute, through symlinks): what `exclude` patterns are relative to. */
  readonly root: string;
  /** The project folder (absolute, through symlinks): what `.kilnignore` is relative to. */
  readonly projectDir?: string;
  /** The mount's `exclude:` patterns. */
  readonly exclude?: readonly string[];
  /** Read `<projectDir>/.kilnignore`. Default true. */
  readonly kilnignore?: boolean;
}

export interface ExcludeRules {
  /** No rule at all: nothing is excluded (the walk need not ask). */
  readonly empty: boolean;
  /**
   * A digest of the rules in force (patterns and `.kilnignore`'s text), for telling apart what was
   * walked under other rules.
   */
  readonly digest: string;
  /** Is this path (relative to the root, '/'-separated) excluded? */
  excludes(path: string, isDir: boolean): boolean;
}

/** A rule set that excludes nothing. */
export const NO_EXCLUDES: ExcludeRules = {
  empty: true,
  digest: sha256Digest('kiln-excludes-v1\n'),
  excludes: () => false,
};

/** Lines of a gitignore-syntax text that are patterns (not blank, not comments). */
function patternLines(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => line.trim() !== '' && !line.startsWith('#'));
}

/**
 * The rules for a bind source. A `.kilnignore` that does not exist is no rule; one that cannot be read
 * is an error (a silent skip would change what the key covers).
 */
export async function loadExcludeRules(options: ExcludeRulesOptions): Promise<ExcludeRules> {
  const exclude = (options.exclude ?? []).filter((p) => p.trim() !== '');
  let kilnignoreText = '';
  let prefix: string | undefined;
  if (options.projectDir !== undefined && options.kilnignore !== false) {
    const rel = relative(options.projectDir, options.root);
    if (rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel))) {
      prefix = rel === '' ? '' : `${rel.split(sep).join('/')}/`;
      try {
        kilnignoreText = await readFile(join(options.projectDir, KILNIGNORE), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }
  const projectPatterns = patternLines(kilnignoreText);
  return excludeRules(exclude, projectPatterns, prefix ?? '');
}

/**
 * Rules from patterns: `exclude` relative to the root, `projectPatterns` relative to the project folder,
 * `prefix` being the root's path relative to the project folder ('' or ending in '/').
 */
export function excludeRules(
  exclude: readonly string[],
  projectPatterns: readonly string[],
  prefix: string,
): ExcludeRules {
  if (exclude.length === 0 && projectPatterns.length === 0) return NO_EXCLUDES;
  const own = exclude.length > 0 ? patternSet(exclude) : undefined;
  const project = projectPatterns.length > 0 ? patternSet(projectPatterns) : undefined;
  const digest = sha256Digest(
    `kiln-excludes-v1\n${JSON.stringify({ exclude, project: projectPatterns, prefix })}`,
  );
  return {
    empty: false,
    digest,
    excludes(path: string, isDir: boolean): boolean {
      if (path === '') return false;
      if (own?.excludes(path, isDir)) return true;
      return project !== undefined && project.excludes(prefix + path, isDir);
    },
  };
}

/**
 * One list of gitignore patterns, asked about paths whose parent folders are not excluded (the walk
 * does not enter an excluded folder). A pattern without a '/' but at its end matches a name at any depth,
 * so when there is no negation (whose order matters), those patterns are asked about the last name only,
 * once per name: a big tree has far fewer names than paths, and the `ignore` package keeps every path it
 * is asked about.
 */
function patternSet(patterns: readonly string[]): { excludes(path: string, isDir: boolean): boolean } {
  const negated = patterns.some((p) => p.startsWith('!'));
  const anchored = (p: string) => p.replace(/\/+$/, '').includes('/');
  if (negated || patterns.every(anchored)) {
    const all: Ignore = ignore().add([...patterns]);
    return { excludes: (path, isDir) => all.ignores(isDir ? `${path}/` : path) };
  }
  const byName: Ignore = ignore().add(patterns.filter((p) => !anchored(p)));
  const rest = patterns.filter(anchored);
  const byPath: Ignore | undefined = rest.length > 0 ? ignore().add(rest) : undefined;
  const names = new Map<string, boolean>();
  return {
    excludes(path: string, isDir: boolean): boolean {
      const slash = path.lastIndexOf('/');
      const name = isDir
        ? `${slash < 0 ? path : path.slice(slash + 1)}/`
        : slash < 0
          ? path
          : path.slice(slash + 1);
      let excluded = names.get(name);
      if (excluded === undefined) {
        excluded = byName.ignores(name);
        names.set(name, excluded);
      }
      if (excluded) return true;
      return byPath !== undefined && byPath.ignores(isDir ? `${path}/` : path);
    },
  };
}
