import { describe, expect, it } from 'vitest';
import { check } from '../../check/check.js';
import { INVARIANTS } from '../../invariants/index.js';
import { explore } from '../../explorers/exhaustive/driver.js';
import { counterexample, storeParents } from '../../explorers/trace.js';
import type { Invariant } from '../../model/types.js';
import { findDesign } from '../../model/designs/index.js';
import { buildModel, resolveConfig } from '../../model/system.js';
import { FREE_HEAD } from '../../model/allocator.js';
import type { Model } from '../../model/types.js';

/**
 * Every invariant is shown to catch a violation: a broken variant, the exact
 * invariant that fails, and the length of its shortest counterexample.
 */
const KILLS = [
  { design: 'd5-report-under-lock', config: {}, invariant: 'no-hint-under-zone-lock', depth: 4, last: 'report' },
  // The allocation and the report of the same block may come in either order; both are 5 steps.
  { design: 'd5-no-isolate', config: {}, invariant: 'no-reuse-while-hinting', depth: 5, last: ['alloc_pages', 'report'] },
  { design: 'd5-ack-before-discard', config: {}, invariant: 'no-reuse-while-hinting', depth: 8, last: 'alloc_pages' },
  { design: 'd1-hint-after-poison', config: { poison: 'on' as const }, invariant: 'poison-reads-back', depth: 3, last: 'prep_new_page' },
  { design: 'd5-page-reporting', config: { poison: 'on' as const, host: 'dontneed' as const, reportOrder: 2, capacity: 1 }, invariant: 'poison-reads-back', depth: 10, last: 'prep_new_page' },
  { design: 'd5-reported-survives-alloc', config: {}, invariant: 'allocator-conservation', depth: 8, last: 'alloc_pages' },
  { design: 'd1-arch-free-page', config: {}, invariant: 'no-missed-hints', depth: 6, last: 'spin_unlock' },
  // A request lost while a pass runs: caught below the largest order and at it.
  { design: 'd5-request-skips-active', config: {}, invariant: 'no-missed-hints', depth: 13, last: 'page_reporting_drain' },
  { design: 'd5-request-skips-active', config: { reportOrder: 2, capacity: 1 }, invariant: 'no-missed-hints', depth: 12, last: 'page_reporting_drain' },
  { design: 'd5-page-reporting', config: { poison: 'on' as const, reportOrder: 2, capacity: 1 }, invariant: 'no-double-report', depth: 20, last: 'report' },
  { design: 'd5-page-reporting', config: { reportOrder: 2, capacity: 1 }, invariant: 'no-fake-oom', depth: 6, last: 'alloc_pages_fails' },
  // What upstream accepts: the strict form catches the memory a watermark gate turned away (the pass is described below).
  { design: 'd5-page-reporting', config: {}, invariant: 'no-backed-free-blocks', depth: 11, last: ['process_zone_refused', 'prep_new_page'] },
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
    ['putback-merge-across-migratetype', /^the free order-2 block at page 0 spans pageblocks 0 and 1 of different migratetypes$/],
    ['putback-unlocked', /^engine changed the free lists while vcpu0 held zone->lock$/],
    ['putback-limbo-leak', /^page \d is in merge limbo but no parked vCPU holds it$/],
    ['putback-reported-first', /^page \d entered __free_one_page\(\) still flagged Reported$/],
  ])('%s', async (id, message) => {
    const { default: designs } = await import('../fixtures/allocator-mutants.js');
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
  it('holds for upstream D5 at every R, the strict form showing what the watermarks turned away', () => {
    const d5 = findDesign('d5-page-reporting');
    // R = 0 with one vCPU (two pass 4 million states), R = 1 (the defaults), R = 2 with CAPACITY 1 so that the gate fits the zone.
    for (const config of [{ reportOrder: 0, cpus: 1 }, {}, { reportOrder: 2, capacity: 1 }]) {
      const r = check(d5, { config, invariants: ['no-missed-hints', 'no-backed-free-blocks'] });
      expect(r.complete || r.stoppedBy === 'all-violated').toBe(true);
      expect(r.results[0]).toMatchObject({ invariant: 'no-missed-hints', verdict: 'holds' });
      // Frees did ask for hints: the holds is not vacuous.
      expect(r.results[0].unreached).toBeUndefined();
      expect(r.results[1].verdict).toBe('violated');
    }
    const strict = check(d5, { invariants: ['no-backed-free-blocks'] }).results[0];
    expect(strict).toMatchObject({ depth: 11, accepted: expect.stringContaining('low_wmark + (CAPACITY << R)') });
    expect(strict.trace!.steps.some((x) => x.action === 'process_zone_refused')).toBe(true);
  });

  it('fails D5 whose request is lost while a pass is active, below the largest order and at it', () => {
    const d = findDesign('d5-request-skips-active');
    for (const config of [{}, { reportOrder: 2, capacity: 1 }]) {
      const r = check(d, { config, invariants: ['no-missed-hints'] });
      expect(r.results[0].verdict).toBe('violated');
      const steps = r.results[0].trace!.steps;
      // The free that asked landed while the pass was active, and left the state as it was.
      const asked = steps.findIndex((x) => x.action === 'free_one_page' && x.summary.some((line) => line.includes('owed false -> true')));
      const started = steps.findIndex((x) => x.action === 'page_reporting_process');
      expect(started).toBeGreaterThanOrEqual(0);
      expect(asked).toBeGreaterThan(started);
      expect(steps[asked].summary.some((line) => line.includes('reporter.state'))).toBe(false);
    }
  });

  it('fails a design that drops a request made while its worker runs, below the largest order and at it', async () => {
    const { default: design } = await import('../fixtures/drops-request.js');
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
    const r = check(findDesign('d5-page-reporting'), { config: { poison: 'on', reportOrder: 2, capacity: 1 }, invariants: ['no-double-report'] });
    const steps = r.results[0].trace!.steps;
    // The first report discards the block; a vCPU splits it and frees its part; the merged block is reported whole again.
    const alloc = steps.findIndex((x) => x.action === 'alloc_pages');
    expect(steps.slice(0, alloc).some((x) => x.action === 'virtio_balloon_handle_report')).toBe(true);
    expect(steps.slice(alloc).some((x) => x.action === 'free_one_page')).toBe(true);
    expect(steps[steps.length - 1].action).toBe('report');
    expect(r.results[0].message).toMatch(/reported page \d, which the host does not back/);
  });

  it('count memory withheld on the free lists: an engine that marks a block unallocatable in place fails no-fake-oom', async () => {
    const { default: [design] } = await import('../fixtures/withholds-in-place.js');
    const r = check(design, { invariants: ['no-fake-oom'] });
    expect(r.results[0]).toMatchObject({ verdict: 'violated', depth: 4 });
    expect(r.results[0].unreached).toBeUndefined();
    const steps = r.results[0].trace!.steps.map((x) => x.action);
    expect(steps).toContain('mark_busy');
    expect(steps[steps.length - 1]).toBe('alloc_pages_fails');
  });

  it('do not count what the design says another actor withholds (withheldByEngine), as D2 does for its offliner', async () => {
    const { default: [, design] } = await import('../fixtures/withholds-in-place.js');
    const r = check(design, { invariants: ['no-fake-oom'] });
    expect(r.complete).toBe(true);
    expect(r.results[0]).toMatchObject({ verdict: 'holds' });
  });
});

describe('d5-page-reporting', () => {
  it('holds invariants 1-5 at its default bounds, accepting 6-8, and at report order 2 as well', () => {
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
    // The double reports, the fake-OOM window and what the watermarks turned away are what D5 accepts.
    expect(byDefault.results.filter((r) => r.accepted !== undefined).map((r) => r.invariant)).toEqual(['no-double-report', 'no-fake-oom', 'no-backed-free-blocks']);
    const top = check(d, { config: { reportOrder: 2, capacity: 1 }, traces: false });
    expect(top.results.every((r) => r.verdict === 'holds' || r.accepted !== undefined)).toBe(true);
  });

  it('leaves what the low watermark turned away backed (the strict form), and no-missed-hints does not count it: the kernel cancelled the request', () => {
    const r = check(findDesign('d5-page-reporting'), { invariants: ['no-backed-free-blocks'] });
    const steps = r.results[0].trace!.steps;
    expect(r.results[0].depth).toBe(11);
    // A notifying free owes the block a hint; an allocation keeps the zone at or below low + CAPACITY << R, and the gate cancels.
    const owed = steps.findIndex((x) => x.summary.some((line) => line.includes('owed false -> true')));
    const refused = steps.findIndex((x) => x.action === 'process_zone_refused');
    expect(owed).toBeGreaterThanOrEqual(0);
    expect(refused).toBeGreaterThan(owed);
    expect(steps[refused].summary).toContain('reporter.state: active -> idle');
    expect(steps[refused].summary.some((line) => /owed true -> false/.test(line))).toBe(true);
    expect(steps.slice(0, refused).some((x) => x.action === 'alloc_pages' && x.args.order === 2)).toBe(true);
  });

  it('fires both watermark gates and the budget in the matrix configurations', () => {
    const d = findDesign('d5-page-reporting');
    const fired = (config: object): Map<string, number> =>
      new Map(check(d, { config, traces: false }).coverage.actions.map((a) => [a.action, a.count]));
    const defaults = fired({});
    for (const a of ['page_reporting_process_zone', 'process_zone_refused', 'page_reporting_cycle', 'isolate_refused']) expect(defaults.get(a), a).toBeGreaterThan(0);
    expect(fired({ cpus: 1, capacity: 1, reportOrder: 0 }).get('budget_spent')).toBeGreaterThan(0);
  });

  it('keeps the poison with a host that poisons on fault or skips poisoned reports', () => {
    for (const host of ['poison-on-fault', 'skip-if-poisoned'] as const) {
      const r = check(findDesign('d5-page-reporting'), { config: { poison: 'on', host }, invariants: ['poison-reads-back'] });
      expect(r.complete).toBe(true);
      expect(r.results[0].verdict).toBe('holds');
    }
  });
});

/** Fails where the loop resumed after a drain (the reporter holds the lock) with its budget spent and an unreported block on its list. */
function spentProbe(m: Model): Invariant {
  const L = m.layout;
  const budget = L.at('reporter', 'budget');
  const phase = L.at('reporter', 'phase');
  const order = L.at('reporter', 'order');
  const view = L.view(m.initial());
  (view.reporter as Record<string, unknown>).phase = 'walking';
  const walking = L.fromView(view)[phase];
  const reporter = m.actors.indexOf('reporter') + 1;
  return {
    id: 'budget-spent', short: 'probe', title: 'probe', why: 'probe', applies: () => true,
    bind: () => ({
      state: (s) => {
        if (s[phase] !== walking || s[budget] !== 0 || s[m.f.lock] !== reporter) return null;
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
  it('runs out: after two reports of one list the resumed loop leaves it with the state back at REQUESTED', () => {
    const d = findDesign('d5-page-reporting');
    const m = buildModel(d, resolveConfig(d, { cpus: 1, capacity: 1, reportOrder: 0 }));
    // A probe "invariant" that fails exactly where the budget ends a list: its counterexample is a witness.
    const r = explore(m, { invariants: [spentProbe(m)] });
    const v = r.violations.get('budget-spent');
    expect(v).toBeDefined();
    const t = counterexample(m, storeParents(m, r.store), v!, v!.words);
    // DIV_ROUND_UP(nr_free, CAPACITY * 16) is 1: two reports of the same list, and the second drain spends it.
    expect(t.steps.filter((s) => s.action === 'report').length).toBeGreaterThanOrEqual(2);
    expect(t.steps[t.steps.length - 1].action).toBe('page_reporting_drain');
    expect(t.steps[t.steps.length - 1].summary).toContain('reporter.budget: 1 -> 0');
    // The resumed loop leaves the list and asks for another pass.
    const order = (t.final.reporter as Record<string, unknown>).order as number;
    const next = m.actions.find((a) => a.name === 'budget_spent' && a.args.order === order)!;
    const s = m.layout.fromView(t.final);
    expect(next.apply(s)).toBe(true);
    expect((m.layout.view(s).reporter as Record<string, unknown>).state).toBe('requested');
  });
});
