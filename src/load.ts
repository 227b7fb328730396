/**
 * Loading a user's design file (`--design-file`): TypeScript or JavaScript,
 * exporting one design (default export), an array of them, or designs as
 * named exports. A TypeScript file is transpiled with the TypeScript
 * compiler the project already depends on; an import of 'hintcheck' is
 * pointed at this installation, so the file works wherever it lives. The
 * transpiled module is written beside the original (relative imports keep
 * working) under a hidden name and removed once imported.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { findDesign } from './model/designs/index.js';
import type { Design } from './model/types.js';

/** A design that cannot be used: not loadable, malformed, or misbehaving. Exit code 2. */
export class DesignError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DesignError';
  }
}

const SELF = new URL('./index.js', import.meta.url).href;

function isDesign(x: unknown): x is Design {
  if (typeof x !== 'object' || x === null) return false;
  const d = x as Partial<Design>;
  return typeof d.id === 'string' && typeof d.instantiate === 'function' && typeof d.groups === 'function' && Array.isArray(d.actors);
}

/** Point `import ... from 'hintcheck'` at this installation's entry point. */
function rewriteSelfImports(code: string): string {
  return code.replace(/(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])hintcheck\2/g, (_all, pre: string, q: string) => `${pre}${q}${SELF}${q}`);
}

export async function loadDesignFile(path: string): Promise<Design[]> {
  const file = resolve(path);
  if (!existsSync(file)) throw new DesignError(`design file ${path}: no such file`);
  const ext = extname(file);
  if (!['.ts', '.mts', '.js', '.mjs'].includes(ext)) {
    throw new DesignError(`design file ${path}: unsupported extension '${ext}': accepted .ts, .mts, .js, .mjs`);
  }
  const source = readFileSync(file, 'utf8');
  let code = source;
  if (ext === '.ts' || ext === '.mts') {
    // The compiler is loaded only for a TypeScript design: it is the biggest module we have.
    const { default: ts } = await import('typescript');
    const out = ts.transpileModule(source, {
      fileName: file,
      reportDiagnostics: true,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    });
    const diag = out.diagnostics?.find((d) => d.category === ts.DiagnosticCategory.Error);
    if (diag !== undefined) {
      const where = diag.file !== undefined && diag.start !== undefined ? diag.file.getLineAndCharacterOfPosition(diag.start) : undefined;
      const at = where !== undefined ? `:${where.line + 1}:${where.character + 1}` : '';
      throw new DesignError(`design file ${path}${at}: ${ts.flattenDiagnosticMessageText(diag.messageText, ' ')}`);
    }
    code = out.outputText;
  }
  code = rewriteSelfImports(code);
  const tmp = join(dirname(file), `.${basename(file, ext)}.hintcheck-${process.pid}-${Date.now()}.mjs`);
  let mod: Record<string, unknown>;
  try {
    writeFileSync(tmp, code);
    mod = (await import(pathToFileURL(tmp).href)) as Record<string, unknown>;
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new DesignError(`design file ${path} does not load: ${msg}`);
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
    throw new DesignError(`design file ${path} exports no design: export one made with defineDesign() from 'hintcheck' (default export, an array, or named exports)`);
  }
  return found.map((d) => ({ ...d, source: path }));
}

/** The design a worker thread is told of: a built-in id, or a design in a file it loads itself. */
export async function designOfRef(ref: { readonly id: string; readonly file?: string }): Promise<Design> {
  if (ref.file === undefined) return findDesign(ref.id);
  const all = await loadDesignFile(ref.file);
  const d = all.find((x) => x.id === ref.id);
  if (d === undefined) throw new Error(`design ${ref.id} is not in ${ref.file}`);
  return d;
}
