/**
 * The module the engines' worker threads load a design with (see
 * explorers/source.ts): a built-in id from the registry, or a design file
 * loaded again in the worker, without the type check the main thread ran.
 */
import { DesignError } from '../../model/errors.js';
import { findDesign } from '../../model/designs/index.js';
import { designIn, type Design } from '../../model/types.js';
import { runnable, type DesignRef, type DesignSource } from '../../explorers/source.js';
import { loadDesignFile, removeLoadLeftovers } from './load.js';

/** The designs of each file this thread loaded: a worker runs one file's designs, and loads it once. */
const files = new Map<string, Promise<readonly Design[]>>();

/** The design a worker thread is told of: a built-in id, or a design in a file it loads itself. */
export async function designOf(ref: DesignRef): Promise<Design> {
  if (ref.file === undefined) return findDesign(ref.id);
  let load = files.get(ref.file);
  if (load === undefined) {
    load = loadDesignFile(ref.file, { typecheck: false, ...(ref.shownAs !== undefined ? { shownAs: ref.shownAs } : {}) });
    files.set(ref.file, load);
  }
  const all = await load;
  return designIn(all, ref.id, (accepted) => new DesignError(`design ${ref.id} is no longer in ${ref.shownAs ?? ref.file}: accepted ${accepted}`, { file: ref.shownAs ?? ref.file, design: ref.id }));
}

/** A design as the engines' workers find it: this module, and the ref. */
export function designSource(ref: DesignRef): DesignSource {
  return { module: runnable(new URL('./design-ref.js', import.meta.url)).href, ref };
}

/** What the thread that ends the workers removes: a worker ended while it loaded a design file cannot remove its module. */
export function afterWorkers(ref: DesignRef): () => void {
  return () => removeLoadLeftovers(ref.file);
}
