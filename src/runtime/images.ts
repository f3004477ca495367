/**
 * Images, as kiln uses them: a job's image is resolved to its ID on the engine (pulled when missing)
 * before anything of the job is acquired.
 */
import { ImageNotFoundError } from '../errors.js';

export interface ImageRuntime {
  /** The image's ID (`sha256:...`), or undefined when the engine does not have it. */
  idOf(reference: string): Promise<string | undefined>;
  /** Pulls the image; resolves once the pull has ended, and rejects when any part of it failed. */
  pull(reference: string): Promise<void>;
}

/** Finds an image's ID; tries a pull when it is missing, and says plainly when neither works. */
export async function resolveImage(
  images: ImageRuntime,
  image: string,
  job: string | undefined,
): Promise<string> {
  const id = await images.idOf(image);
  if (id !== undefined) return id;
  try {
    await images.pull(image);
    const pulled = await images.idOf(image);
    if (pulled === undefined) throw new Error(`the engine has no image ${image} after pulling it`);
    return pulled;
  } catch (error) {
    throw new ImageNotFoundError(image, job, error);
  }
}
