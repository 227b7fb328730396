import { describe, expect, it } from 'vitest';
import { check } from '../../check/check.js';
import { explore } from '../../explorers/exhaustive/driver.js';
import { describePath, pathTo, storeParents } from '../../explorers/trace.js';
import { findDesign } from '../../model/designs/index.js';
import { buildModel, resolveConfig } from '../../model/system.js';

function space(design: string, config: object) {
  const d = findDesign(design);
  const m = buildModel(d, resolveConfig(d, config));
  return { m, r: explore(m, { invariants: [] }) };
}

describe('exhaustive explorer', () => {
  // Pinned sizes of two small state spaces: a model change that moves them must be deliberate.
  // At 4 pages the process_zone gate needs CAPACITY 1 and no min watermark to pass (low + CAPACITY << R = 2 < 4).
  const TINY = { pages: 4, capacity: 1, watermarkMin: 0 };

  it('pins d5-page-reporting at 1 vCPU, 4 pages: 511 states, 1,009 transitions', () => {
    const { r } = space('d5-page-reporting', { ...TINY, cpus: 1 });
    expect([r.states, r.transitions, r.depth, r.complete]).toEqual([511, 1009, 23, true]);
  });

  it('pins d5-page-reporting at 2 vCPUs, 4 pages: 14,093 states, 42,472 transitions', () => {
    const { r } = space('d5-page-reporting', { ...TINY, cpus: 2 });
    expect([r.states, r.transitions, r.depth, r.complete]).toEqual([14093, 42472, 39, true]);
  });

  it('pins d1-arch-free-page at its defaults: 16,784 states, 35,480 transitions', () => {
    const { r } = space('d1-arch-free-page', {});
    expect([r.states, r.transitions, r.complete]).toEqual([16784, 35480, true]);
  });

  it('stores every state exactly once, at the depth BFS first reached it', () => {
    const { m, r } = space('d5-page-reporting', { ...TINY, cpus: 2 });
    const w = new Uint32Array(r.store.words);
    const seen = new Set<string>();
    const perDepth = new Map<number, number>();
    r.store.forEach((a, b, depth) => {
      r.store.decode(a, b, w);
      seen.add(Array.from(w).join(','));
      perDepth.set(depth, (perDepth.get(depth) ?? 0) + 1);
      expect(r.store.depthOf(a, b)).toBe(depth);
    });
    expect(seen.size).toBe(r.states);
    expect(m.layout.words).toBe(r.store.words);
    expect(Math.max(...perDepth.keys())).toBe(r.depth);
    // The initial state alone at depth 0; its successors at depth 1.
    expect(perDepth.get(0)).toBe(1);
  });

  it('rebuilds a shortest path to any state that replays to that state', () => {
    const { m, r } = space('d5-page-reporting', { ...TINY, cpus: 2 });
    const want = new Uint32Array(r.store.words);
    const got = new Uint32Array(r.store.words);
    const picks: { a: number; b: number; depth: number }[] = [];
    let k = 0;
    r.store.forEach((a, b, depth) => {
      if (k++ % 2500 === 0 || depth === r.depth) picks.push({ a, b, depth });
    });
    expect(picks.length).toBeGreaterThan(4);
    for (const ref of picks.slice(0, 8)) {
      r.store.decode(ref.a, ref.b, want);
      const path = pathTo(storeParents(m, r.store), want, ref.depth);
      expect(path.actions).toHaveLength(ref.depth);
      const t = describePath(m, path.actions);
      m.layout.pack(m.layout.fromView(t.final), got, 0);
      expect(Array.from(got)).toEqual(Array.from(want));
    }
  });

  it('says unknown, never holds, when a budget cuts the search short', () => {
    const r = check(findDesign('d5-page-reporting'), { maxStates: 2000, invariants: ['no-reuse-while-hinting', 'allocator-conservation'] });
    expect(r.complete).toBe(false);
    expect(r.stoppedBy).toBe('max-states');
    expect(r.results.every((x) => x.verdict === 'unknown')).toBe(true);
  });

  it('reports a violation found before the budget ran out as violated', () => {
    const r = check(findDesign('d5-report-under-lock'), { maxStates: 1000 });
    expect(r.complete).toBe(false);
    const byId = Object.fromEntries(r.results.map((x) => [x.invariant, x.verdict]));
    expect(byId['no-hint-under-zone-lock']).toBe('violated');
    expect(byId['no-reuse-while-hinting']).toBe('unknown');
  });

  it('stops early once every checked invariant is violated', () => {
    const r = check(findDesign('d5-report-under-lock'), { invariants: ['no-hint-under-zone-lock'] });
    expect(r.stoppedBy).toBe('all-violated');
    expect(r.states).toBeLessThan(1000);
  });

  it('finds the same verdicts whatever invariants are selected alongside', () => {
    const d = findDesign('d5-no-isolate');
    const all = check(d, { traces: false });
    for (const res of all.results) {
      const one = check(d, { invariants: [res.invariant], traces: false });
      expect(one.results[0].verdict).toBe(res.verdict);
      expect(one.results[0].depth).toBe(res.depth);
    }
  });
});
