/**
 * Loading a user's design file (`--design-file`): TypeScript or JavaScript,
 * exporting one design (default export), an array of them, or designs as
 * named exports. A TypeScript file is transpiled with the TypeScript
 * compiler the project already depends on; an import of 'hintcheck' is
 * pointed at this installation, so the file works wherever it lives. The
 * transpiled module is written beside the original (relative imports keep
 * working) under a hidden name and removed once imported.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DesignError, firstLine } from '../../model/errors.js';
import { typecheckDesignFile } from './typecheck.js';
import { validateDesign } from './validate.js';
import type { Design } from '../../model/types.js';

export { DesignError } from '../../model/errors.js';

const SELF = new URL('../../index.js', import.meta.url).href;

/**
 * The module a design file runs as lies next to it, so that its relative
 * imports resolve, and is removed once imported. A worker terminated while
 * it imports cannot remove it; the thread that ends the workers does
 * (every thread of a process has its pid).
 */
function leftoverPrefix(file: string): string {
  return `.${basename(file, extname(file))}.hintcheck-${process.pid}-`;
}

/** Remove what this process's loads of `file` left behind. */
export function removeLoadLeftovers(file: string | undefined): void {
  if (file === undefined) return;
  const prefix = leftoverPrefix(file);
  try {
    for (const f of readdirSync(dirname(file))) if (f.startsWith(prefix) && f.endsWith('.mjs')) rmSync(join(dirname(file), f), { force: true });
  } catch {
    // The folder is gone or unreadable: nothing of ours to remove there.
  }
}

/** Whether a module export is a design made with defineDesign(). */
export function isDesign(x: unknown): x is Design {
  if (typeof x !== 'object' || x === null) return false;
  const d = x as Partial<Design>;
  return typeof d.id === 'string' && typeof d.instantiate === 'function' && typeof d.groups === 'function' && Array.isArray(d.actors);
}

/** Point `import ... from 'hintcheck'` at this installation's entry point. */
function rewriteSelfImports(code: string): string {
  return code.replace(/(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])hintcheck\2/g, (_all, pre: string, q: string) => `${pre}${q}${SELF}${q}`);
}

export interface LoadOptions {
  /** Type-check the file first (default true; worker threads load a file the main thread checked). */
  readonly typecheck?: boolean;
  /** The file's name as the user gave it, for messages and replay commands (default: `path`). */
  readonly shownAs?: string;
}

/** sha256 of a design file's source, as tokens and trace files record it. */
export function sourceHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

export async function loadDesignFile(path: string, opts: LoadOptions = {}): Promise<Design[]> {
  const shown = opts.shownAs ?? path;
  const file = resolve(path);
  const where = { file: shown };
  if (!existsSync(file)) throw new DesignError(`design file ${shown}: no such file`, where);
  const ext = extname(file);
  if (!['.ts', '.mts', '.js', '.mjs'].includes(ext)) {
    throw new DesignError(`design file ${shown}: unsupported extension '${ext}': accepted .ts, .mts, .js, .mjs`, where);
  }
  const source = readFileSync(file, 'utf8');
  let code = source;
  if (ext === '.ts' || ext === '.mts') {
    // The compiler is loaded only for a design file: it is the biggest module we have.
    const { default: ts } = await import('typescript');
    const out = ts.transpileModule(source, {
      fileName: file,
      reportDiagnostics: true,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    });
    const diag = out.diagnostics?.find((d) => d.category === ts.DiagnosticCategory.Error);
    if (diag !== undefined) {
      const at = diag.file !== undefined && diag.start !== undefined ? diag.file.getLineAndCharacterOfPosition(diag.start) : undefined;
      const pos = at !== undefined ? `:${at.line + 1}:${at.character + 1}` : '';
      throw new DesignError(`design file ${shown}${pos}: ${ts.flattenDiagnosticMessageText(diag.messageText, ' ')}`, where);
    }
    code = out.outputText;
  }
  if (opts.typecheck ?? true) await typecheckDesignFile(file, shown);
  code = rewriteSelfImports(code);
  const tmp = join(dirname(file), `${leftoverPrefix(file)}${Date.now()}-${Math.random().toString(36).slice(2, 8)}.mjs`);
  let mod: Record<string, unknown>;
  try {
    writeFileSync(tmp, code);
    mod = (await import(pathToFileURL(tmp).href)) as Record<string, unknown>;
  } catch (e) {
    // defineDesign() found something wrong while the file ran: say so with the file.
    if (e instanceof DesignError) throw new DesignError(e.where.file === undefined ? `${e.message} (in ${shown})` : e.message, { ...e.where, file: shown });
    throw new DesignError(`design file ${shown} does not load: ${firstLine(e)}`, where);
  } finally {
    rmSync(tmp, { force: true });
  }
  const found: Design[] = [];
  const add = (x: unknown): void => {
    if (Array.isArray(x)) x.forEach(add);
    else if (isDesign(x) && !found.includes(x)) found.push(x);
  };
  add(mod.default);
  if (found.length === 0) for (const v of Object.values(mod)) add(v);
  if (found.length === 0) {
    throw new DesignError(`design file ${shown} exports no design: export one made with defineDesign() from 'hintcheck' (default export, an array, or named exports)`, where);
  }
  const ids = new Set<string>();
  for (const d of found) {
    if (ids.has(d.id)) throw new DesignError(`design file ${shown} exports two designs with the id '${d.id}'`, { ...where, design: d.id });
    ids.add(d.id);
  }
  const hash = sourceHash(source);
  const designs = found.map((d) => ({ ...d, source: shown, sourceHash: hash }));
  for (const d of designs) validateDesign(d);
  return designs;
}
