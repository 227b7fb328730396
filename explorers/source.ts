/**
 * Where a worker thread finds the design it explores. The engines know no
 * design and no loader: the caller names an ES module (by URL) whose
 * `designOf(ref)` returns the design, and the structured-clonable ref to
 * hand it (a built-in id, or a design file the module loads itself). The
 * module runs in every worker, so it must be one Node can run as it is.
 */
import type { Design } from '../model/types.js';

/** A built-in design's id, or a design in a file. */
export interface DesignRef {
  readonly id: string;
  /** The file to load (an absolute path, for threads whose working directory may differ). */
  readonly file?: string;
  /** The file's name as the user gave it, for messages. */
  readonly shownAs?: string;
}

export interface DesignSource {
  /** URL of a module exporting `designOf(ref: DesignRef): Promise<Design>`. */
  readonly module: string;
  readonly ref: DesignRef;
}

/** The design a source names, loaded the way a worker loads it. */
export async function designOfSource(src: DesignSource): Promise<Design> {
  const mod = (await import(src.module)) as { designOf?: (ref: DesignRef) => Promise<Design> };
  if (typeof mod.designOf !== 'function') throw new TypeError(`${src.module} exports no designOf()`);
  return mod.designOf(src.ref);
}

/** The project root: this file lies one folder below it, in the sources and in dist/ alike. */
const ROOT = new URL('../', import.meta.url);
/** Whether this runs from the TypeScript sources (the tests) rather than the build. */
const FROM_SOURCES = import.meta.url.endsWith('.ts');

/**
 * A module a worker thread can run, named as `new URL('./x.js', import.meta.url)`
 * names it: itself in the build, and its compiled twin under dist/ when this
 * runs from the TypeScript sources, since a worker starts without a
 * TypeScript loader.
 */
export function runnable(url: URL): URL {
  if (!FROM_SOURCES || !url.href.startsWith(ROOT.href)) return url;
  return new URL(`dist/${url.href.slice(ROOT.href.length)}`, ROOT);
}
