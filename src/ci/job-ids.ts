/**
 * The id of each kiln job in a CI system's document. Kiln's job names (`build`, `docs.v2`, a matrix
 * instance `build (cc=gcc, opt=O2)`) are not all valid ids there: GitHub Actions' job ids and Buildkite's
 * step keys take letters, digits, `_` and `-` only, starting with a letter or `_`; GitLab takes nearly any
 * name but reserves its own keywords at the top level of `.gitlab-ci.yml`.
 */
import { createHash } from 'node:crypto';

/** The CI systems `kiln ci` writes for, as it names them. */
export const CI_SYSTEMS = ['github', 'gitlab', 'buildkite'] as const;

/** A CI system `kiln ci` writes for. */
export type CiSystem = (typeof CI_SYSTEMS)[number];

/** Top-level keywords of `.gitlab-ci.yml`: a job cannot have these names. */
const GITLAB_KEYWORDS = new Set([
  'default',
  'include',
  'stages',
  'variables',
  'workflow',
  'image',
  'services',
  'cache',
  'before_script',
  'after_script',
  'types',
  'pages',
  'spec',
]);

/** The longest id written: GitHub's limit for a job id is 100 characters, GitLab's 255. */
const MAX_ID_LENGTH = 100;

/** `name` as the system would take it, before making ids unique. */
function candidate(system: CiSystem, name: string): string {
  if (system === 'gitlab') {
    // Any name but a keyword, a hidden job (`.x`) or one with control characters; kiln's fit, mostly.
    return GITLAB_KEYWORDS.has(name) ? `kiln-${name}` : name;
  }
  const id = name
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, MAX_ID_LENGTH);
  return /^[A-Za-z_]/.test(id) ? id : `_${id}`;
}

function shortHash(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 8);
}

/**
 * One id per name, in the order given: the name made valid for `system`, unique among them (a name
 * whose id another one already took gets `_` and 8 hex digits of its SHA-256 appended).
 */
export function ciIds(system: CiSystem, names: readonly string[]): ReadonlyMap<string, string> {
  const ids = new Map<string, string>();
  const taken = new Set<string>();
  // A name that is valid as it is keeps it, even when an earlier name would have been changed into it.
  for (const name of names) if (candidate(system, name) === name) taken.add(name);
  for (const name of names) {
    let id = candidate(system, name);
    if (id !== name && taken.has(id)) {
      id = `${id.slice(0, MAX_ID_LENGTH - 9)}_${shortHash(name)}`;
    }
    taken.add(id);
    ids.set(name, id);
  }
  return ids;
}
