/**
 * The tree's layers, kept by a scan of every import (value and type, static
 * and dynamic) and of every module a file names by URL (a worker it spawns,
 * a module it hands a worker): each edge must point down, and no file may
 * reach itself again.
 *
 *   model/            the state machines; model/designs/ may use the rest of model/, not the reverse
 *   invariants/       the shared invariants: model/ only (not the designs)
 *   explorers/        the engines: model/ and invariants/, never a design, a loader, a report or the CLI
 *   check/            options, runs, matrix, coverage, loading design files
 *   report/           text, JSON and the docs pages
 *   cli/              parsing and printing; nothing imports it
 *   index.ts          the public API; nothing imports it
 *   bench/            the benchmarks; nothing imports them
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

type Layer = 'model' | 'designs' | 'invariants' | 'explorers' | 'check' | 'report' | 'cli' | 'api' | 'bench';

/** What each layer may import (itself included where listed). */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  model: ['model'],
  designs: ['model', 'designs'],
  invariants: ['model', 'invariants'],
  explorers: ['model', 'invariants', 'explorers'],
  check: ['model', 'designs', 'invariants', 'explorers', 'check'],
  report: ['model', 'designs', 'invariants', 'explorers', 'check', 'report'],
  cli: ['model', 'designs', 'invariants', 'explorers', 'check', 'report', 'cli'],
  api: ['model', 'designs', 'invariants', 'explorers', 'check', 'report'],
  bench: ['model', 'designs', 'invariants', 'explorers', 'check', 'report', 'bench'],
};

/**
 * Where a module may be named by URL without being imported: the loader
 * points a design file's `import 'hintcheck'` at the entry point, and
 * type-checks the file against its declarations.
 */
const URL_ONLY: readonly { readonly from: string; readonly to: string }[] = [
  { from: 'check/load/', to: 'index.ts' },
];

/** A URL edge that is no dependency: one the loader may name (above), or a module naming itself for the workers it hands it to. */
export function namedOnly(e: Edge): boolean {
  return e.kind === 'url' && (e.from === e.to || URL_ONLY.some((x) => e.from.startsWith(x.from) && e.to === x.to));
}

export function layerOf(file: string): Layer | undefined {
  if (file === 'index.ts') return 'api';
  if (file.startsWith('model/designs/')) return 'designs';
  const top = file.split('/')[0];
  return (['model', 'invariants', 'explorers', 'check', 'report', 'cli', 'bench'] as const).find((l) => l === top);
}

export interface Edge {
  readonly from: string;
  readonly to: string;
  readonly kind: 'import' | 'url';
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
const URL_REF = /new URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url/g;

/** The relative edges of one file's text, resolved to repository paths of .ts sources (a dist/ twin is not a source). */
export function edgesOf(file: string, text: string, exists: (f: string) => boolean): Edge[] {
  const out: Edge[] = [];
  const resolve = (spec: string): string | undefined => {
    if (!spec.startsWith('.')) return undefined;
    const abs = normalize(join(dirname(file), spec));
    if (abs.startsWith('dist/') || abs.startsWith('..')) return undefined;
    const ts = abs.replace(/\.js$/, '.ts');
    return exists(ts) ? ts : exists(abs) ? abs : ts;
  };
  for (const m of text.matchAll(IMPORT)) {
    const to = resolve(m[1] ?? m[2] ?? m[3]);
    if (to !== undefined) out.push({ from: file, to, kind: 'import' });
  }
  for (const m of text.matchAll(URL_REF)) {
    const to = resolve(m[1]);
    if (to !== undefined && to.endsWith('.ts')) out.push({ from: file, to, kind: 'url' });
  }
  return out;
}

/** Every edge that breaks the layers, as one line each. */
export function layerViolations(edges: readonly Edge[]): string[] {
  const bad: string[] = [];
  for (const e of edges) {
    const a = layerOf(e.from);
    const b = layerOf(e.to);
    if (a === undefined) continue;
    if (b === undefined) {
      bad.push(`${e.from} -> ${e.to}: outside the layered tree`);
      continue;
    }
    if (namedOnly(e)) continue;
    if (!MAY_IMPORT[a].includes(b)) bad.push(`${e.from} -> ${e.to}: ${a} may not ${e.kind === 'url' ? 'name' : 'import'} ${b}`);
  }
  return bad;
}

/** The cycles of the graph (strongly connected components of more than one file, or a file importing itself), found without recursion. */
export function cyclesOf(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (!next.has(e.from)) next.set(e.from, []);
    if (!next.has(e.to)) next.set(e.to, []);
    next.get(e.from)!.push(e.to);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const found: string[][] = [];
  let counter = 0;
  for (const root of next.keys()) {
    if (index.has(root)) continue;
    const work: { v: string; i: number }[] = [{ v: root, i: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const succ = next.get(top.v)!;
      if (top.i < succ.length) {
        const w = succ[top.i++];
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ v: w, i: 0 });
        } else if (onStack.has(w)) low.set(top.v, Math.min(low.get(top.v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].v;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.v)!));
      }
      if (low.get(top.v) === index.get(top.v)) {
        const comp: string[] = [];
        for (;;) {
          const w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
          if (w === top.v) break;
        }
        if (comp.length > 1 || succ.includes(top.v)) found.push(comp.sort());
      }
    }
  }
  return found;
}

function sources(): string[] {
  const out: string[] = ['index.ts'];
  const walk = (d: string): void => {
    for (const e of readdirSync(join(ROOT, d))) {
      const p = `${d}/${e}`;
      if (statSync(join(ROOT, p)).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) out.push(p);
    }
  };
  for (const d of ['model', 'invariants', 'explorers', 'check', 'report', 'cli', 'bench']) walk(d);
  return out;
}

function treeEdges(): Edge[] {
  const exists = (f: string): boolean => {
    try {
      return statSync(join(ROOT, f)).isFile();
    } catch {
      return false;
    }
  };
  return sources().flatMap((f) => edgesOf(f, readFileSync(join(ROOT, f), 'utf8'), exists));
}

describe('the layers of the tree', () => {
  const edges = treeEdges();

  it('finds the imports it checks', () => {
    // A scan that found nothing would pass every rule.
    expect(edges.length).toBeGreaterThan(200);
    expect(edges).toContainEqual({ from: 'model/system.ts', to: 'model/allocator.ts', kind: 'import' });
    expect(edges.some((e) => e.kind === 'url' && e.to.endsWith('/worker.ts'))).toBe(true);
    expect(edges.some((e) => e.from.startsWith('cli/') && e.to.startsWith('check/'))).toBe(true);
  });

  it('has no import that points up or sideways', () => {
    expect(layerViolations(edges)).toEqual([]);
  });

  it('has no cycle, workers and the modules that spawn them included', () => {
    expect(cyclesOf(edges.filter((e) => !namedOnly(e)))).toEqual([]);
  });

  it('keeps the exhaustive engine free of designs, loaders and reports', () => {
    const next = new Map<string, string[]>();
    for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
    const seen = new Set<string>();
    const todo = ['explorers/exhaustive/driver.ts', 'explorers/parallel/worker.ts', 'explorers/random/worker.ts'];
    while (todo.length > 0) {
      const f = todo.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      todo.push(...(next.get(f) ?? []));
    }
    expect([...seen].filter((f) => !['model', 'invariants', 'explorers'].includes(layerOf(f)!) || f.startsWith('model/designs/'))).toEqual([]);
  });
});

describe('the layering check itself', () => {
  const files = new Set(['model/a.ts', 'model/designs/d/x.ts', 'invariants/i.ts', 'explorers/e.ts', 'explorers/w.ts', 'check/c.ts', 'cli/main.ts', 'index.ts']);
  const exists = (f: string): boolean => files.has(f);

  it('reads type imports, re-exports, dynamic imports and worker URLs', () => {
    const text = [
      "import type { A } from './a.js';",
      "export { B } from '../invariants/i.js';",
      "const m = await import('./designs/d/x.js');",
      "new Worker(new URL('../explorers/w.js', import.meta.url));",
      "import { z } from 'zod';",
    ].join('\n');
    expect(edgesOf('model/b.ts', text, exists)).toEqual([
      { from: 'model/b.ts', to: 'model/a.ts', kind: 'import' },
      { from: 'model/b.ts', to: 'invariants/i.ts', kind: 'import' },
      { from: 'model/b.ts', to: 'model/designs/d/x.ts', kind: 'import' },
      { from: 'model/b.ts', to: 'explorers/w.ts', kind: 'url' },
    ]);
  });

  it('names an upward import, a design the engine imports and an import of the CLI', () => {
    const bad = layerViolations([
      { from: 'model/a.ts', to: 'invariants/i.ts', kind: 'import' },
      { from: 'model/a.ts', to: 'model/designs/d/x.ts', kind: 'import' },
      { from: 'invariants/i.ts', to: 'model/designs/d/x.ts', kind: 'import' },
      { from: 'explorers/e.ts', to: 'check/c.ts', kind: 'import' },
      { from: 'check/c.ts', to: 'cli/main.ts', kind: 'import' },
      { from: 'check/c.ts', to: 'index.ts', kind: 'url' },
      { from: 'check/load/l.ts', to: 'index.ts', kind: 'url' },
      { from: 'check/c.ts', to: 'explorers/e.ts', kind: 'import' },
    ]);
    expect(bad).toEqual([
      'model/a.ts -> invariants/i.ts: model may not import invariants',
      'model/a.ts -> model/designs/d/x.ts: model may not import designs',
      'invariants/i.ts -> model/designs/d/x.ts: invariants may not import designs',
      'explorers/e.ts -> check/c.ts: explorers may not import check',
      'check/c.ts -> cli/main.ts: check may not import cli',
      'check/c.ts -> index.ts: check may not name api',
    ]);
  });

  it('finds a cycle through a worker and its spawner, and a type-only cycle', () => {
    const cycles = cyclesOf([
      { from: 'explorers/e.ts', to: 'explorers/w.ts', kind: 'url' },
      { from: 'explorers/w.ts', to: 'explorers/e.ts', kind: 'import' },
      { from: 'model/a.ts', to: 'model/b.ts', kind: 'import' },
      { from: 'model/b.ts', to: 'model/c.ts', kind: 'import' },
      { from: 'model/c.ts', to: 'model/a.ts', kind: 'import' },
      { from: 'model/c.ts', to: 'model/d.ts', kind: 'import' },
    ]);
    expect(cycles.sort()).toEqual([['explorers/e.ts', 'explorers/w.ts'], ['model/a.ts', 'model/b.ts', 'model/c.ts']]);
    expect(cyclesOf([{ from: 'model/a.ts', to: 'model/a.ts', kind: 'import' }])).toEqual([['model/a.ts']]);
    expect(cyclesOf([{ from: 'model/a.ts', to: 'model/b.ts', kind: 'import' }])).toEqual([]);
    expect(namedOnly({ from: 'check/load/design-ref.ts', to: 'check/load/design-ref.ts', kind: 'url' })).toBe(true);
    expect(namedOnly({ from: 'check/load/load.ts', to: 'index.ts', kind: 'url' })).toBe(true);
    expect(namedOnly({ from: 'explorers/e.ts', to: 'explorers/w.ts', kind: 'url' })).toBe(false);
  });
});
