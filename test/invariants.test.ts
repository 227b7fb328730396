import { describe, expect, it } from 'vitest';
import { check } from '../src/check.js';
import { INVARIANTS } from '../src/invariants/index.js';
import { explore } from '../src/explorers/exhaustive.js';
import { counterexample, storeParents } from '../src/explorers/trace.js';
import type { Invariant } from '../src/invariants/types.js';
import { findDesign } from '../src/model/designs/index.js';
import { buildModel, resolveConfig } from '../src/model/system.js';
import { FREE_HEAD } from '../src/model/allocator.js';
import type { Model } from '../src/model/types.js';

/**
 * Every invariant is shown to catch a violation: a broken variant, the exact
 * invariant that fails, and the length of its shortest counterexample.
 */
const KILLS = [
  { design: 'd5-report-under-lock', config: {}, invariant: 'no-hint-under-zone-lock', depth: 3, last: 'report' },
  // The allocation and the report of the same block may come in either order; both are 4 steps.
  { design: 'd5-no-isolate', config: {}, invariant: 'no-reuse-while-hinting', depth: 4, last: ['alloc_pages', 'report'] },
  { design: 'd5-ack-before-discard', config: {}, invariant: 'no-reuse-while-hinting', depth: 6, last: 'alloc_pages' },
  { design: 'd1-hint-after-poison', config: { poison: 'on' as const }, invariant: 'poison-reads-back', depth: 3, last: 'prep_new_page' },
  { design: 'd5-page-reporting', config: { poison: 'on' as const, host: 'dontneed' as const, reportOrder: 2 }, invariant: 'poison-reads-back', depth: 10, last: 'prep_new_page' },
  { design: 'd5-reported-survives-alloc', config: {}, invariant: 'allocator-conservation', depth: 6, last: 'alloc_pages' },
  { design: 'd1-arch-free-page', config: {}, invariant: 'no-missed-hints', depth: 6, last: 'spin_unlock' },
  { design: 'd5-page-reporting', config: { poison: 'on' as const, reportOrder: 2 }, invariant: 'no-double-report', depth: 16, last: 'report' },
  { design: 'd5-page-reporting', config: { reportOrder: 2 }, invariant: 'no-fake-oom', depth: 4, last: 'alloc_pages_fails' },
  // The split leftover upstream accepts: the strict form catches it (and the pass it ends is described below).
  { design: 'd5-page-reporting', config: {}, invariant: 'no-backed-free-blocks', depth: 15, last: ['page_reporting_cycle', 'prep_new_page'] },
];

describe('invariant kill tests', () => {
  it('cover every invariant', () => {
    for (const inv of INVARIANTS) expect(KILLS.some((k) => k.invariant === inv.id)).toBe(true);
  });

  it.each(KILLS)('$design breaks $invariant in $depth steps', ({ design, config, invariant, depth, last }) => {
    const r = check(findDesign(design), { config, invariants: [invariant] });
    expect(r.results).toHaveLength(1);
    const res = r.results[0];
    expect(res.verdict).toBe('violated');
    expect(res.depth).toBe(depth);
    expect(res.trace!.steps).toHaveLength(depth);
    expect([last].flat()).toContain(res.trace!.steps[depth - 1].action);
  });
});

describe('allocator-conservation: each of the buddy allocator\'s laws is checked', () => {
  // test/fixtures/allocator-mutants.ts: one engine, its putback broken one way per design.
  it.each([
    ['putback-none', null],
    ['putback-no-merge', /^the free order-1 blocks at pages \d and \d are buddies, both listed and not merged$/],
    ['putback-no-count', /^free_area\[\d\]\.nr_free is \d but \d blocks? (is|are) on the list$/],
    ['putback-reported-tail', /^page \d is free-tail but carries PageReported$/],
    ['putback-tail-left-free', /^page \d lies in the order-\d isolated-head block at page \d but is free-tail$/],
  ])('%s', async (id, message) => {
    const { default: designs } = await import('./fixtures/allocator-mutants.js');
    const r = check(designs.find((d) => d.id === id)!, { invariants: ['allocator-conservation'] });
    if (message === null) {
      expect(r.complete).toBe(true);
      expect(r.results[0].verdict).toBe('holds');
    } else {
      expect(r.results[0].verdict).toBe('violated');
      expect(r.results[0].message).toMatch(message);
    }
  });

  it('finds the free buddies Aaron Lu\'s done_merging placement leaves apart, and not in RFC 4/4', () => {
    const after = check(findDesign('d2-after-done-merging'), { invariants: ['allocator-conservation'] });
    expect(after.results[0]).toMatchObject({ verdict: 'violated', depth: 20, message: 'the free order-1 blocks at pages 0 and 2 are buddies, both listed and not merged' });
    const rfc = check(findDesign('d2-merge-notifier'), { invariants: ['allocator-conservation'] });
    expect(rfc.results[0].verdict).toBe('holds');
  });
});

describe('no-missed-hints: what a free asked for is not lost', () => {
  it('holds for upstream D5 at every R, the strict form showing the split leftover it accepts', () => {
    const d5 = findDesign('d5-page-reporting');
    for (const reportOrder of [1, 2]) {
      const r = check(d5, { config: { reportOrder }, invariants: ['no-missed-hints', 'no-backed-free-blocks'] });
      expect(r.complete || r.stoppedBy === 'all-violated').toBe(true);
      expect(r.results[0]).toMatchObject({ invariant: 'no-missed-hints', verdict: 'holds' });
      // Frees did ask for hints: the holds is not vacuous.
      expect(r.results[0].unreached).toBeUndefined();
      expect(r.results[1].verdict).toBe(reportOrder === 1 ? 'violated' : 'holds');
    }
    const strict = check(d5, { invariants: ['no-backed-free-blocks'] }).results[0];
    expect(strict).toMatchObject({ depth: 15, accepted: expect.stringContaining('expand() never notifies') });
    expect(strict.trace!.steps.some((x) => x.action === 'alloc_pages')).toBe(true);
  });

  it('fails a design that drops a request made while its worker runs, below the largest order and at it', async () => {
    const { default: design } = await import('./fixtures/drops-request.js');
    for (const config of [{}, { pages: 8, reportOrder: 2 }]) {
      const r = check(design, { config, invariants: ['no-missed-hints'] });
      expect(r.results[0].verdict).toBe('violated');
      expect(r.results[0].message).toMatch(/^quiescent, yet page \d of the free order-2 block at page \d, owed a hint since a free put it there, is still backed by the host$/);
      // The free that asked came while the reporter waited for the host.
      const steps = r.results[0].trace!.steps;
      const asked = steps.findIndex((x) => x.summary.some((line) => line.includes('owed false -> true')));
      expect(asked).toBeGreaterThan(0);
      expect(steps.slice(0, asked).some((x) => x.action === 'page_reporting_cycle')).toBe(true);
    }
  });

  it('discharges a policy of not hinting: D1 under poisoning holds it, and the strict form shows the memory kept', () => {
    const r = check(findDesign('d1-arch-free-page'), { config: { poison: 'on' }, invariants: ['no-missed-hints', 'no-backed-free-blocks'] });
    expect(r.results.map((x) => x.verdict)).toEqual(['holds', 'violated']);
    expect(r.results[1].depth).toBe(0);
  });
});

describe('no-double-report and no-fake-oom', () => {
  it('hold where nothing is reported twice and nothing is held back: D1 with poisoning off', () => {
    const r = check(findDesign('d1-arch-free-page'), { invariants: ['no-double-report', 'no-fake-oom'] });
    expect(r.complete).toBe(true);
    expect(r.results.map((x) => x.verdict)).toEqual(['holds', 'holds']);
  });

  it('catch the D5 re-report of a reported block split and merged back (designs.md row 24)', () => {
    const r = check(findDesign('d5-page-reporting'), { config: { poison: 'on', reportOrder: 2 }, invariants: ['no-double-report'] });
    const steps = r.results[0].trace!.steps;
    // The first report discards the block; a vCPU splits it and frees its part; the merged block is reported whole again.
    expect(steps.filter((x) => x.action === 'report')).toHaveLength(2);
    expect(steps.some((x) => x.action === 'alloc_pages')).toBe(true);
    expect(r.results[0].message).toMatch(/reported page \d, which the host does not back/);
  });

  it('count memory withheld on the free lists: an engine that marks a block unallocatable in place fails no-fake-oom', async () => {
    const { default: [design] } = await import('./fixtures/withholds-in-place.js');
    const r = check(design, { invariants: ['no-fake-oom'] });
    expect(r.results[0]).toMatchObject({ verdict: 'violated', depth: 4 });
    expect(r.results[0].unreached).toBeUndefined();
    const steps = r.results[0].trace!.steps.map((x) => x.action);
    expect(steps).toContain('mark_busy');
    expect(steps[steps.length - 1]).toBe('alloc_pages_fails');
  });

  it('do not count what the design says another actor withholds (withheldByEngine), as D2 does for its offliner', async () => {
    const { default: [, design] } = await import('./fixtures/withholds-in-place.js');
    const r = check(design, { invariants: ['no-fake-oom'] });
    expect(r.complete).toBe(true);
    expect(r.results[0]).toMatchObject({ verdict: 'holds' });
  });
});

describe('d5-page-reporting', () => {
  it('holds invariants 1-5 at its default bounds, accepting 6-8, and holds 8 too at report order 2', () => {
    const d = findDesign('d5-page-reporting');
    const byDefault = check(d, { traces: false });
    expect(byDefault.complete).toBe(true);
    expect(Object.fromEntries(byDefault.results.map((r) => [r.invariant, r.verdict]))).toEqual({
      'no-hint-under-zone-lock': 'holds',
      'no-reuse-while-hinting': 'holds',
      'allocator-conservation': 'holds',
      'no-missed-hints': 'holds',
      'no-double-report': 'violated',
      'no-fake-oom': 'violated',
      'no-backed-free-blocks': 'violated',
    });
    // The double reports, the fake-OOM window and the split leftover are what D5 accepts.
    expect(byDefault.results.filter((r) => r.accepted !== undefined).map((r) => r.invariant)).toEqual(['no-double-report', 'no-fake-oom', 'no-backed-free-blocks']);
    const top = check(d, { config: { reportOrder: 2 }, traces: false });
    expect(top.results.every((r) => r.verdict === 'holds' || r.accepted !== undefined)).toBe(true);
  });

  it('leaves a block split off behind the walk backed (the strict form): the pass ends with an unreported order-R block nothing asked for', () => {
    const r = check(findDesign('d5-page-reporting'), { invariants: ['no-backed-free-blocks'] });
    const steps = r.results[0].trace!.steps;
    expect(r.results[0].depth).toBe(15);
    // The walk passes order 1 before the split, then finds nothing at order 2 and ends the pass.
    const walk = steps.filter((s) => s.action === 'page_reporting_cycle').map((s) => s.args.order);
    expect(walk).toEqual([1, 2]);
    // Between the walk's two cycles a vCPU splits the unreported order-2 block, leaving an order-1 remainder behind the walk.
    const atOne = steps.findIndex((s) => s.action === 'page_reporting_cycle' && s.args.order === 1);
    const atTwo = steps.findIndex((s) => s.action === 'page_reporting_cycle' && s.args.order === 2);
    const split = steps.findIndex((s, i) => i > atOne && i < atTwo && s.action === 'alloc_pages' && s.args.order === 0);
    expect(split).toBeGreaterThan(atOne);
    // The walk finds nothing at order 2 and the pass ends IDLE: nothing will look at the remainder.
    expect(steps[atTwo].summary).toContain('reporter.state: active -> idle');
  });

  it('keeps the poison with a host that poisons on fault or skips poisoned reports', () => {
    for (const host of ['poison-on-fault', 'skip-if-poisoned'] as const) {
      const r = check(findDesign('d5-page-reporting'), { config: { poison: 'on', host }, invariants: ['poison-reads-back'] });
      expect(r.complete).toBe(true);
      expect(r.results[0].verdict).toBe('holds');
    }
  });
});

/** Fails in a state where the walk is at a list with its budget used up and an unreported block still on it. */
function spentProbe(m: Model): Invariant {
  const L = m.layout;
  const budget = L.at('reporter', 'budget');
  const phase = L.at('reporter', 'phase');
  const order = L.at('reporter', 'order');
  return {
    id: 'budget-spent', short: 'probe', title: 'probe', why: 'probe', applies: () => true,
    bind: () => ({
      state: (s) => {
        if (s[phase] !== 1 || s[budget] !== 0) return null; // walking, budget used up
        const o = s[order];
        for (let p = 0; p < m.cfg.pages; p += 1 << o) {
          if (s[m.f.owner + p] === FREE_HEAD && s[m.f.order + p] === o && !s[m.f.reported + p]) return 'budget used up';
        }
        return null;
      },
    }),
  };
}

describe('d5-page-reporting budget', () => {
  it('runs out: a list with unreported blocks left is abandoned with the state back at REQUESTED', () => {
    const d = findDesign('d5-page-reporting');
    const m = buildModel(d, resolveConfig(d, { cpus: 2, capacity: 1 }));
    // A probe "invariant" that fails exactly where the budget ends a list: its counterexample is a witness.
    const r = explore(m, { invariants: [spentProbe(m)] });
    const v = r.violations.get('budget-spent');
    expect(v).toBeDefined();
    const t = counterexample(m, storeParents(m, r.store), v!, v!.words);
    // A one-block report used the budget of the order-1 list (empty when the walk reached it); a split left another block there.
    expect(t.steps.filter((s) => s.action === 'report')).toHaveLength(1);
    expect(t.steps[t.steps.length - 1].action).toBe('page_reporting_drain');
    expect(t.steps[t.steps.length - 1].summary).toContain('reporter.budget: 1 -> 0');
    // The next cycle leaves the list and asks for another pass.
    const next = m.actions.find((a) => a.name === 'page_reporting_cycle' && a.args.order === 1 && a.args.isolate === 'none')!;
    const s = m.layout.fromView(t.final);
    expect(next.apply(s)).toBe(true);
    expect((m.layout.view(s).reporter as Record<string, unknown>).state).toBe('requested');
  });
});
