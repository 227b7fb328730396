import { describe, expect, it } from 'vitest';
import { check } from '../src/check.js';
import { INVARIANTS } from '../src/invariants/index.js';
import { findDesign } from '../src/model/designs/index.js';

/**
 * Every invariant is shown to catch a violation: a broken variant, the exact
 * invariant that fails, and the length of its shortest counterexample.
 */
const KILLS = [
  { design: 'd5-report-under-lock', config: {}, invariant: 'no-hint-under-zone-lock', depth: 3, last: 'report' },
  { design: 'd5-no-isolate', config: {}, invariant: 'no-reuse-while-hinting', depth: 4, last: 'alloc_pages' },
  { design: 'd5-ack-before-discard', config: {}, invariant: 'no-reuse-while-hinting', depth: 6, last: 'alloc_pages' },
  { design: 'd1-hint-after-poison', config: { poison: 'on' as const }, invariant: 'poison-reads-back', depth: 3, last: 'prep_new_page' },
  { design: 'd5-page-reporting', config: { poison: 'on' as const, host: 'dontneed' as const, reportOrder: 2 }, invariant: 'poison-reads-back', depth: 10, last: 'prep_new_page' },
  { design: 'd5-reported-survives-alloc', config: {}, invariant: 'allocator-conservation', depth: 6, last: 'alloc_pages' },
  { design: 'd1-arch-free-page', config: {}, invariant: 'no-missed-hints', depth: 6, last: 'spin_unlock' },
  { design: 'd5-page-reporting', config: { poison: 'on' as const, reportOrder: 2 }, invariant: 'no-double-report', depth: 16, last: 'report' },
  { design: 'd5-page-reporting', config: { reportOrder: 2 }, invariant: 'no-fake-oom', depth: 4, last: 'alloc_pages_fails' },
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
    expect(res.trace!.steps[depth - 1].action).toBe(last);
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
});

describe('d5-page-reporting', () => {
  it('holds invariants 1-4 at its default bounds and 1-5 at report order 2', () => {
    const d = findDesign('d5-page-reporting');
    const byDefault = check(d, { traces: false });
    expect(byDefault.complete).toBe(true);
    expect(Object.fromEntries(byDefault.results.map((r) => [r.invariant, r.verdict]))).toEqual({
      'no-hint-under-zone-lock': 'holds',
      'no-reuse-while-hinting': 'holds',
      'allocator-conservation': 'holds',
      'no-missed-hints': 'violated',
      'no-double-report': 'violated',
      'no-fake-oom': 'violated',
    });
    // The double reports and the fake-OOM window are what D5 accepts.
    expect(byDefault.results.filter((r) => r.accepted !== undefined).map((r) => r.invariant)).toEqual(['no-double-report', 'no-fake-oom']);
    const top = check(d, { config: { reportOrder: 2 }, traces: false });
    expect(top.results.every((r) => r.verdict === 'holds' || r.accepted !== undefined)).toBe(true);
  });

  it('misses a block split off behind the walk: the pass ends with an unreported order-R block still backed', () => {
    const r = check(findDesign('d5-page-reporting'), { invariants: ['no-missed-hints'] });
    const steps = r.results[0].trace!.steps;
    expect(r.results[0].depth).toBe(15);
    // The walk passes order 1 before the split, then finds nothing at order 2 and ends the pass.
    const walk = steps.filter((s) => s.action === 'page_reporting_cycle').map((s) => s.args.order);
    expect(walk).toEqual([1, 2]);
    const split = steps.findIndex((s) => s.actor === 'vcpu1' && s.action === 'alloc_pages');
    expect(split).toBeGreaterThan(steps.findIndex((s) => s.action === 'page_reporting_cycle'));
    expect(steps[steps.length - 1].summary).toContain('reporter.state: active -> idle');
  });

  it('keeps the poison with a host that poisons on fault or skips poisoned reports', () => {
    for (const host of ['poison-on-fault', 'skip-if-poisoned'] as const) {
      const r = check(findDesign('d5-page-reporting'), { config: { poison: 'on', host }, invariants: ['poison-reads-back'] });
      expect(r.complete).toBe(true);
      expect(r.results[0].verdict).toBe('holds');
    }
  });
});
