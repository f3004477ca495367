/**
 * The keeper of a run on an engine many hosts share (Engine.remote; see runtime/keepers.ts): started
 * before the run makes anything on the engine, so that all it makes carries the keeper's name, and
 * released after everything else of the run. While it runs, the run's locks on engine objects are lock
 * containers on the engine (runtime/engine-locks.ts) instead of lock files.
 */
import { randomBytes } from 'node:crypto';
import type { BuildGraph } from '../graph/types.js';
import { Label, ownerLabels, setRunKeeper } from '../labels.js';
import { setKeptRun } from '../runtime/engine-locks.js';
import type { Engine } from '../runtime/engine.js';
import { resolveImage } from '../runtime/images.js';
import { KILN_VERSION } from '../runtime/version.js';

export interface RunKeeping {
  /** The keeper's name, when the run has one. */
  readonly name?: string;
  /** Why the run has no keeper although its engine is shared (a warning to tell). */
  readonly warning?: string;
  /** Ends the keeper (the run is over); nothing without one. */
  release(): Promise<void>;
}

const none: RunKeeping = { release: async () => {} };

/**
 * Starts the keeper of run `runId` when the engine is remote, from the image of the first job (in the
 * graph's order) that the engine has already, else from the first job's image, pulled (the run needs it
 * anyway). The keeper's image needs `/bin/sh`, as steps do. When no keeper can be started, the run goes
 * on without one: what it makes then counts as alive to kilns on other hosts for ever (never swept by
 * them), as before keepers, and the warning says so.
 */
export async function keepRun(engine: Engine, graph: BuildGraph, runId: string): Promise<RunKeeping> {
  if (!engine.remote || !engine.keepers) return none;
  const images = [...new Set(graph.order.map((name) => graph.jobs.get(name)!.image))];
  if (images.length === 0) return none;
  const name = `kiln-keeper-${runId}-${randomBytes(3).toString('hex')}`;
  try {
    let image: string | undefined;
    for (const reference of images) {
      image = await engine.images.idOf(reference);
      if (image !== undefined) break;
    }
    image ??= await resolveImage(engine.images, images[0]!, graph.order[0]);
    const keeper = await engine.keepers.start({
      name,
      image,
      labels: { ...ownerLabels(runId), [Label.scope]: 'keeper', [Label.version]: KILN_VERSION },
    });
    setRunKeeper(runId, keeper.name);
    setKeptRun(runId, { keeper, keepers: engine.keepers });
    return {
      name: keeper.name,
      release: async () => {
        setKeptRun(runId, undefined);
        setRunKeeper(runId, undefined);
        await keeper.release();
      },
    };
  } catch (error) {
    return {
      warning:
        `could not start this run's keeper on the engine at ${engine.endpoint} (${(error as Error).message}): ` +
        'kiln on other hosts cannot tell whether this run is alive, so it will never sweep what this run ' +
        'leaves if it is killed; kiln prune on this host still can.',
      release: async () => {},
    };
  }
}
