/**
 * A budget for what a parsed YAML document may expand to, checked on the document's nodes before
 * anything walks the data: aliases are counted and the size they expand to is summed with each anchored
 * value measured once, so that a "billion laughs" file (aliases of lists of aliases, each level
 * multiplying the last) is refused in time linear in its length, where expanding it would take hours.
 * Nesting depth is bounded too, for the walks that follow (they recurse).
 */
import type { Alias, Document, Node } from 'yaml';
import { yamlPackage } from './yaml-package.js';

/** The most aliases (`*name`, merge keys included) a step file may use. */
export const MAX_ALIASES = 1000;
/** The most values that aliases may add to a step file, once expanded. */
export const MAX_ALIAS_EXPANSION = 100_000;
/** The deepest a step file's lists and maps may nest. */
export const MAX_NESTING = 100;

/** Why a document is refused, and the offset of the node that crossed the budget. */
export interface BudgetProblem {
  readonly message: string;
  readonly offset: number;
}

/** What measuring a document found: a refusal, and the node each alias refers to. */
export interface AliasMeasure {
  readonly problem?: BudgetProblem;
  /** Each resolved alias and its anchored node (the last anchor of that name before it). */
  readonly targets: ReadonlyMap<Alias, Node>;
}

class Refusal {
  constructor(readonly problem: BudgetProblem) {}
}

const ABOUT =
  'kiln refuses such files, against documents that expand without end ("billion laughs"); ' +
  'use fewer aliases, or write the values out';

/** Measures a document's aliases and nesting; see the module's comment. */
export function measureAliases(document: Document): AliasMeasure {
  const { isAlias, isMap, isSeq, isPair } = yamlPackage();
  const anchors = new Map<string, Node>();
  const sizes = new Map<Node, number>();
  const open = new Set<Node>();
  const targets = new Map<Alias, Node>();
  let aliases = 0;
  let added = 0;
  const offsetOf = (node: unknown): number => (node as Node | null)?.range?.[0] ?? 0;

  const size = (node: unknown, depth: number): number => {
    if (node === null || typeof node !== 'object') return 1;
    if (isAlias(node)) {
      aliases++;
      if (aliases > MAX_ALIASES) {
        throw new Refusal({
          message: `this file uses more than ${MAX_ALIASES} aliases (*${node.source} is one too many); ${ABOUT}`,
          offset: offsetOf(node),
        });
      }
      const target = anchors.get(node.source);
      if (target === undefined) return 1; // reported by the loader as an alias without an anchor
      if (open.has(target)) {
        throw new Refusal({
          message: `alias '*${node.source}' is inside the value anchored '&${node.source}' it refers to: a step file cannot hold itself`,
          offset: offsetOf(node),
        });
      }
      targets.set(node, target);
      const count = sizes.get(target) ?? 1;
      added += count;
      if (added > MAX_ALIAS_EXPANSION) {
        throw new Refusal({
          message:
            `alias '*${node.source}' makes this file expand to more than ${MAX_ALIAS_EXPANSION} values ` +
            `(aliases of values that hold aliases multiply); ${ABOUT}`,
          offset: offsetOf(node),
        });
      }
      return count;
    }
    const anchor = (node as Node).anchor;
    if (!isMap(node) && !isSeq(node)) {
      if (anchor) {
        anchors.set(anchor, node as Node);
        sizes.set(node as Node, 1);
      }
      return 1;
    }
    if (depth > MAX_NESTING) {
      throw new Refusal({
        message: `lists and maps nest more than ${MAX_NESTING} levels deep here; a step file needs far fewer`,
        offset: offsetOf(node),
      });
    }
    if (anchor) {
      anchors.set(anchor, node);
      open.add(node);
    }
    let count = 1;
    for (const item of node.items as unknown[]) {
      if (isPair(item)) count += size(item.key, depth + 1) + size(item.value, depth + 1);
      else count += size(item, depth + 1);
    }
    if (anchor) {
      open.delete(node);
      sizes.set(node, count);
    }
    return count;
  };

  try {
    size(document.contents, 1);
  } catch (error) {
    if (error instanceof Refusal) return { problem: error.problem, targets };
    throw error;
  }
  return { targets };
}
