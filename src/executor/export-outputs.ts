/**
 * Exports of a job's outputs into the project (`outputs: [{ path, export }]`): from the job's own
 * container once its steps passed, or, for a hit, through a container that is never started and mounts
 * the result's volumes. Each export lands atomically (runtime/output-volumes.ts).
 */
import type { CompiledOutput } from '../graph/types.js';
import type { Engine } from '../runtime/engine.js';
import { createReaderContainer, exportContainerPath } from '../runtime/output-volumes.js';
import type { JobContext, JobOutputRef } from '../scheduler/types.js';
import type { JobPlan } from './plan-job.js';

/** Whether the job exports any output into the project (a hit of it then needs a container). */
export function exportsAny(job: { readonly outputs: readonly CompiledOutput[] }): boolean {
  return job.outputs.some((o) => o.export !== undefined);
}

/** Exports every output of the job that declares an export, read from `containerId`. */
export async function exportOutputs(
  engine: Engine,
  containerId: string,
  job: { readonly name: string; readonly outputs: readonly CompiledOutput[] },
  context: Pick<JobContext, 'graph' | 'signal' | 'emit'>,
): Promise<void> {
  for (const output of job.outputs) {
    if (output.export === undefined) continue;
    const done = await exportContainerPath(engine, containerId, output.path, {
      destination: output.export,
      projectDir: context.graph.projectDir,
      allowOutsideProject: output.allowOutsideProject,
      job: job.name,
      output: output.path,
      signal: context.signal,
    });
    for (const warning of done.warnings) {
      context.emit({
        type: 'warning',
        job: job.name,
        message: `export of output ${output.path}: ${warning}`,
      });
    }
  }
}

/** Exports a hit's outputs through a container that is never started and mounts their volumes. */
export async function exportHitOutputs(
  engine: Engine,
  plan: JobPlan,
  outputs: ReadonlyMap<string, JobOutputRef>,
  context: Pick<JobContext, 'graph' | 'signal' | 'emit' | 'runId'>,
): Promise<void> {
  const exported = plan.job.outputs.filter((o) => o.export !== undefined);
  if (exported.length === 0) return;
  const reader = await createReaderContainer(engine, {
    image: plan.imageId,
    runId: context.runId,
    project: context.graph.project,
    job: plan.job.name,
    mounts: exported.map((o) => ({ volume: outputs.get(o.path)!.volume, target: o.path })),
  });
  try {
    await exportOutputs(engine, reader.id, { name: plan.job.name, outputs: exported }, context);
  } finally {
    await reader.remove();
  }
}
