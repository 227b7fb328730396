/**
 * Type-checking a user's design file before it runs. The design API is
 * typed so that a misspelt field, enum value, phase or actor does not
 * compile; a file that is only transpiled would run anyway, with
 * `undefined` where the offset should be (a typed array stores it as 0),
 * and the search would explore a model other than the one written.
 *
 * The file is checked as a program of its own (with what it imports),
 * `'hintcheck'` resolving to this installation's types, under `strict`.
 * JavaScript files are checked too (`checkJs`): defineDesign()'s types
 * reach a step's kit without any JSDoc. A file that opts out with
 * `// @ts-nocheck` still meets the kit's runtime guard (api.ts).
 *
 * A check costs about a second (most of it the compiler reading the
 * declarations of Node and hintcheck), so a file whose sources, hintcheck's
 * types and compiler version have passed before is not checked again: the
 * hash of all of them is kept in a cache directory ($HINTCHECK_CACHE, else
 * $XDG_CACHE_HOME/hintcheck or ~/.cache/hintcheck).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DesignError } from '../../model/errors.js';

/** This installation's entry point's types: the built declarations, or the sources when run from them. */
function selfTypes(): { readonly entry: string; readonly dir: string } {
  // This file lies two folders below the entry point (check/load/), in the sources and in dist/ alike.
  const here = dirname(fileURLToPath(new URL('../../index.js', import.meta.url)));
  const dts = join(here, 'index.d.ts');
  if (existsSync(dts)) return { entry: dts, dir: here };
  return { entry: join(here, 'index.ts'), dir: here };
}

function cacheDir(): string {
  if (process.env.HINTCHECK_CACHE !== undefined && process.env.HINTCHECK_CACHE !== '') return process.env.HINTCHECK_CACHE;
  const base = process.env.XDG_CACHE_HOME !== undefined && process.env.XDG_CACHE_HOME !== '' ? process.env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'hintcheck');
}

/** The declaration files (or sources) the 'hintcheck' import resolves through, in a stable order. */
function typeFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'bench') walk(p);
      } else if (e.name.endsWith('.d.ts') || (e.name.endsWith('.ts') && !existsSync(p.replace(/\.ts$/, '.js')))) {
        out.push(p);
      }
    }
  };
  walk(dir);
  return out;
}

/** node_modules/@types directories above `from`, nearest first. */
function typeRootsAbove(from: string): string[] {
  const out: string[] = [];
  for (let d = from; ; d = dirname(d)) {
    const t = join(d, 'node_modules', '@types');
    if (existsSync(t)) out.push(t);
    if (dirname(d) === d) break;
  }
  return out;
}

/** Relative imports of a source file, resolved to the files a program would read. */
function localImports(ts: typeof import('typescript'), file: string, text: string): string[] {
  const info = ts.preProcessFile(text, true, true);
  const out: string[] = [];
  for (const imp of info.importedFiles) {
    if (!imp.fileName.startsWith('.')) continue;
    const base = resolve(dirname(file), imp.fileName);
    const stem = base.replace(/\.(m?js|m?ts)$/, '');
    for (const cand of [base, `${stem}.ts`, `${stem}.mts`, `${stem}.js`, `${stem}.mjs`, join(base, 'index.ts'), join(base, 'index.js')]) {
      if (existsSync(cand) && statSync(cand).isFile()) {
        out.push(cand);
        break;
      }
    }
  }
  return out;
}

/** The cache key of a check: the design's sources, hintcheck's types, the compiler. */
function checkKey(ts: typeof import('typescript'), file: string, typesDir: string): string {
  const h = createHash('sha256');
  h.update(`typescript ${ts.version}\n`);
  const seen = new Set<string>();
  const todo = [file];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const text = readFileSync(f, 'utf8');
    h.update(`${f}\n${text}\n`);
    todo.push(...localImports(ts, f, text));
  }
  for (const f of typeFiles(typesDir)) h.update(`${relative(typesDir, f)}\n${readFileSync(f)}\n`);
  return h.digest('hex');
}

/**
 * Type-check a design file; a type error is a DesignError
 * `file:line:col: message` (the first error, and how many more there are).
 * `shown` is the file's name as the user gave it.
 */
export async function typecheckDesignFile(file: string, shown: string): Promise<void> {
  const { default: ts } = await import('typescript');
  const self = selfTypes();
  let key: string | undefined;
  let stamp: string | undefined;
  try {
    key = checkKey(ts, file, self.dir);
    stamp = join(cacheDir(), 'typecheck', key);
    if (existsSync(stamp)) return;
  } catch {
    // No cache (an unreadable import is reported by the check itself).
    stamp = undefined;
  }
  const options: import('typescript').CompilerOptions = {
    strict: true,
    noEmit: true,
    allowJs: true,
    checkJs: true,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    skipLibCheck: true,
    esModuleInterop: true,
    baseUrl: dirname(file),
    paths: { hintcheck: [self.entry] },
    typeRoots: [...typeRootsAbove(dirname(file)), ...typeRootsAbove(dirname(self.dir))],
  };
  const program = ts.createProgram([file], options);
  const diags = ts.getPreEmitDiagnostics(program).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (diags.length > 0) {
    const d = diags[0];
    let where = shown;
    if (d.file !== undefined && d.start !== undefined) {
      const pos = d.file.getLineAndCharacterOfPosition(d.start);
      const name = resolve(d.file.fileName) === file ? shown : relative(process.cwd(), d.file.fileName);
      where = `${name}:${pos.line + 1}:${pos.character + 1}`;
    }
    const more = diags.length > 1 ? ` (and ${diags.length - 1} more type error${diags.length === 2 ? '' : 's'})` : '';
    throw new DesignError(`${where}: error TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}${more}`, { file: shown });
  }
  if (stamp !== undefined && key !== undefined) {
    try {
      mkdirSync(dirname(stamp), { recursive: true });
      writeFileSync(stamp, `${shown}\n`);
    } catch {
      // A cache that cannot be written only costs the next check its second.
    }
  }
}
