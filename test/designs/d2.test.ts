/**
 * The D2 family (seed RFC 4/4, the merge notifier): every design's expected
 * verdicts at each of its `expect` rows, and the shape of the shortest
 * counterexample of every race designs.md §4 lists for it (rows 3 and 4 and
 * the designed-away "D2 without dropping the lock"), with the doc's own
 * interleavings replayed where the shortest one takes a shortcut.
 */
import { describe, expect, it } from 'vitest';
import { check } from '../../check/check.js';
import type { TraceStep } from '../../explorers/trace.js';
import { invariantsFor } from '../../invariants/index.js';
import type { Config } from '../../model/config.js';
import { D2_ACCEPTS, D2_DESIGNS, d2AfterDoneMerging, d2HintUnderLock, d2IsolationRace, d2MergeNotifier } from '../../model/designs/d2/catalogue.js';
import { isolationRaceDesign } from '../../model/designs/d2/merge-notifier.js';
import { archMergePageHoldingLock } from '../../model/designs/d2/mutants.js';
import { d1ArchFreePage } from '../../model/designs/d1/arch-free-page.js';
import { buildModel, resolveConfig } from '../../model/system.js';
import type { Design, State } from '../../model/types.js';

// ---------------------------------------------------------------- helpers

/** `actor:step` for every step of a trace, the way the races doc numbers them. */
function shape(steps: readonly TraceStep[]): string[] {
  return steps.map((s) => `${s.actor}:${s.action}`);
}

/** The shortest counterexample of one invariant. */
function shortest(design: Design, invariant: string, config: Partial<Config> = {}) {
  const r = check(design, { config, invariants: [invariant] });
  const res = r.results[0];
  expect(res.verdict, `${design.id} ${invariant}`).toBe('violated');
  return { depth: res.depth!, steps: res.trace!.steps, message: res.message!, accepted: res.accepted };
}

type Script = readonly (readonly [actor: string, step: string, args?: Record<string, string | number>])[];

/**
 * Replay a schedule step by step, as the explorer takes steps (transient
 * events cleared before each), checking `invariant` on every step. Returns
 * the 1-based step at which it first fails, or 0.
 */
function replay(design: Design, config: Partial<Config>, script: Script, invariant: string): number {
  const m = buildModel(design, resolveConfig(design, config));
  const inv = invariantsFor(design, m.cfg).find((i) => i.id === invariant)!;
  const checks = inv.bind(m);
  let s: State = m.initial();
  for (let i = 0; i < script.length; i++) {
    const [actor, name, args = {}] = script[i];
    const found = m.actions.filter(
      (a) => m.actors[a.actor] === actor && a.name === name && Object.entries(args).every(([k, v]) => String(a.args[k]) === String(v)),
    );
    // Steps that share a name (the three spin_unlocks of a vCPU) differ in their phase: exactly one is enabled.
    const before = s.slice();
    before.fill(0, m.layout.transients);
    const taken = found.flatMap((a) => {
      const next = before.slice();
      return a.apply(next) ? [{ a, next }] : [];
    });
    expect(taken, `step ${i + 1}: ${actor} ${name} ${JSON.stringify(args)} is enabled`).toHaveLength(1);
    const { a, next } = taken[0];
    if ((checks.edge?.(before, next, a) ?? checks.state?.(next) ?? null) !== null) return i + 1;
    s = next;
  }
  return 0;
}

// ---------------------------------------------------------------- the matrix rows

describe('D2 designs at their expect rows', () => {
  const rows = D2_DESIGNS.flatMap((d) => d.expect.map((row) => ({ design: d, row, name: `${d.id} ${JSON.stringify(row.config ?? {})}` })));

  it.each(rows)('$name gives exactly the verdicts the row lists', ({ design, row }) => {
    const r = check(design, { config: row.config ?? {}, traces: false });
    expect(r.complete).toBe(true);
    const want = Object.fromEntries(invariantsFor(design, r.config).map((i) => [i.id, row.violates.includes(i.id) ? 'violated' : 'holds']));
    expect(Object.fromEntries(r.results.map((x) => [x.invariant, x.verdict]))).toEqual(want);
    // A violation is either accepted by the family or the finding the row is about.
    for (const x of r.results) {
      if (x.verdict === 'violated') expect(x.accepted !== undefined).toBe(x.invariant in D2_ACCEPTS);
    }
  });

  it('every design checks one-hint-per-block beside the shared invariants', () => {
    for (const d of D2_DESIGNS) expect(invariantsFor(d, resolveConfig(d)).map((i) => i.id)).toContain('one-hint-per-block');
  });
});

// ---------------------------------------------------------------- what D2 fixes and what it accepts

describe('d2-merge-notifier', () => {
  it('hints a block that reaches R only by merging: the D1 miss of designs.md §4 row 1 is gone', () => {
    const d1 = check(d1ArchFreePage, { config: { reportOrder: 1 }, invariants: ['no-missed-hints'], traces: false });
    expect(d1.results[0].verdict).toBe('violated');
    const d2 = check(d2MergeNotifier, { invariants: ['no-missed-hints'], traces: false });
    expect(d2.complete).toBe(true);
    expect(d2.results[0].verdict).toBe('holds');
  });

  it('hints the merged block whole: a never-touched buddy page is given back again (accepted)', () => {
    const r = shortest(d2MergeNotifier, 'no-double-report');
    expect(r.depth).toBe(7);
    expect(shape(r.steps)).toEqual([
      'vcpu0:alloc_pages', 'vcpu0:spin_unlock', 'vcpu0:prep_new_page', 'vcpu0:free_pages_prepare', 'vcpu0:free_one_page', 'vcpu0:spin_unlock', 'vcpu0:kvm_hypercall2',
    ]);
    expect(r.steps[4].summary).toContain('vcpu0: phase prepared -> merge-locked, order 0 -> 1');
    expect(r.message).toMatch(/reported page 1/);
    expect(r.accepted).toBeDefined();
  });

  it('holds the merged block in limbo for the whole hypercall: an allocation fails meanwhile (accepted, row 7)', () => {
    const r = shortest(d2MergeNotifier, 'no-fake-oom');
    expect(r.depth).toBe(9);
    const [parker, other, failer] = [r.steps[0].actor, r.steps[6].actor, r.steps[8].actor];
    expect(new Set([parker, other, failer]).size).toBe(3);
    expect(shape(r.steps)).toEqual([
      `${parker}:alloc_pages`, `${parker}:spin_unlock`, `${parker}:prep_new_page`, `${parker}:free_pages_prepare`, `${parker}:free_one_page`, `${parker}:spin_unlock`,
      `${other}:alloc_pages`, `${other}:spin_unlock`, `${failer}:alloc_pages_fails`,
    ]);
    expect(r.accepted).toBeDefined();
  });
});

// ---------------------------------------------------------------- designs.md §4 row 4

describe('designs.md §4 row 4: the hook after done_merging hints a block again', () => {
  it('finds it in 7 steps: a free merges past R and the whole order-2 block is hinted, its untouched half included', () => {
    const r = shortest(d2AfterDoneMerging, 'one-hint-per-block');
    expect(r.depth).toBe(7);
    expect(shape(r.steps)).toEqual([
      'vcpu0:alloc_pages', 'vcpu0:spin_unlock', 'vcpu0:prep_new_page', 'vcpu0:free_pages_prepare', 'vcpu0:free_one_page', 'vcpu0:spin_unlock', 'vcpu0:kvm_hypercall2',
    ]);
    expect(r.steps[0].args).toEqual({ order: 0, block: 0 });
    // The merge runs to order 2 before the hook parks the vCPU at done_merging.
    expect(r.steps[4].summary).toContain('vcpu0: phase prepared -> merge-locked, order 0 -> 2');
    expect(r.steps[6].summary).toContain('pages 0-3: inflight none -> hinted');
    expect(r.message).toMatch(/order-1 block at page 2 again/);
  });

  it('replays the doc\'s interleaving: an order-1 hint, then the merge into order 2 hints that half again', () => {
    const doc: Script = [
      ['vcpu0', 'alloc_pages', { order: 1, block: 0 }],
      ['vcpu0', 'spin_unlock'],
      ['vcpu0', 'prep_new_page'],
      ['vcpu1', 'alloc_pages', { order: 0, block: 2 }],
      ['vcpu1', 'spin_unlock'],
      ['vcpu1', 'prep_new_page'],
      ['vcpu1', 'free_pages_prepare'],
      ['vcpu1', 'free_one_page'], // page 2 merges with its free buddy 3: order 1, hooked at done_merging
      ['vcpu1', 'spin_unlock'],
      ['vcpu1', 'kvm_hypercall2'], // the first hint of pages 2-3
      ['host', 'kvm_hc_unused_page_hint', { vcpu: 'vcpu1' }],
      ['vcpu1', 'spin_lock'],
      ['vcpu1', 'spin_unlock'],
      ['vcpu0', 'free_pages_prepare'],
      ['vcpu0', 'free_one_page'], // the order-1 neighbour merges with 2-3: order 2
      ['vcpu0', 'spin_unlock'],
      ['vcpu0', 'kvm_hypercall2'], // pages 2-3 hinted again
    ];
    expect(replay(d2AfterDoneMerging, { cpus: 2, pages: 4 }, doc, 'one-hint-per-block')).toBe(17);
  });

  it('does not happen with the hook on the exact crossing to R (RFC 4/4), nor with R at the largest order', () => {
    for (const [d, config] of [[d2MergeNotifier, {}], [d2AfterDoneMerging, { reportOrder: 2 }]] as const) {
      const r = check(d, { config, invariants: ['one-hint-per-block'], traces: false });
      expect(r.complete).toBe(true);
      expect(r.results[0].verdict, d.id).toBe('holds');
    }
  });
});

// ---------------------------------------------------------------- designs.md §4 row 3

describe('designs.md §4 row 3: the merge resumes with the migratetype cached before the lock drop', () => {
  it('finds two owners for a page of an isolated pageblock in 15 steps', () => {
    const r = shortest(d2IsolationRace, 'allocator-conservation');
    expect(r.depth).toBe(15);
    const s = shape(r.steps);
    const freer = r.steps[4].actor;
    expect(s[4]).toBe(`${freer}:free_one_page`);
    expect(r.steps[4].summary).toContain(`${freer}: merging.mt none -> movable`);
    // The lock drop, the isolation inside it, the relock that lists the block by the stale migratetype.
    const unlock = s.indexOf(`${freer}:spin_unlock`, 5);
    const isolate = s.indexOf('offliner:start_isolate_page_range');
    const relock = s.indexOf(`${freer}:spin_lock`);
    const tested = s.indexOf('offliner:test_pages_isolated');
    const alloc = s.findIndex((x, i) => i > tested && x.endsWith(':alloc_pages'));
    expect(unlock).toBe(5);
    expect(unlock < isolate && isolate < relock && relock < tested && tested < alloc).toBe(true);
    expect(s.indexOf(`${freer}:kvm_hypercall2`)).toBeGreaterThan(unlock);
    expect(s.indexOf(`${freer}:kvm_hypercall2`)).toBeLessThan(relock);
    expect(r.steps[isolate].args).toEqual({ pageblock: 0 });
    expect(r.steps[isolate].summary).toEqual(['offliner.phase: idle -> isolated', 'pageblock.mt[0]: movable -> isolate']);
    expect(r.steps[relock].summary.join(' ')).toContain('freelist.mt none -> movable');
    expect(r.steps[alloc].args.block).toBe(0);
    expect(s[14]).toBe('offliner:offline_isolated_pages');
    expect(r.message).toMatch(/page 0 is in vcpu\d's block but is limbo/);
  });

  it('needs the lock drop: the same offliner beside D2 holding the lock keeps every page in one place', () => {
    const control = isolationRaceDesign('d2-isolation-control', 'control', 'D2 holding the lock, beside the offliner', { merge: archMergePageHoldingLock }, []);
    for (const config of [{}, { cpus: 2, pages: 8, maxOrder: 2, reportOrder: 2 }]) {
      const r = check(control, { config, invariants: ['allocator-conservation', 'no-hint-under-zone-lock'], traces: false });
      expect(r.complete).toBe(true);
      expect(r.results.map((x) => x.verdict)).toEqual(['holds', 'violated']);
    }
  });

  it('keeps allocations off the isolate list and leaves a limbo block where it is when isolating', () => {
    const m = buildModel(d2IsolationRace, resolveConfig(d2IsolationRace));
    const step = (s: State, actor: string, name: string, args: Record<string, number> = {}): State | null => {
      for (const a of m.actions) {
        if (m.actors[a.actor] !== actor || a.name !== name || !Object.entries(args).every(([k, v]) => a.args[k] === v)) continue;
        const next = s.slice();
        if (a.apply(next)) return next;
      }
      return null;
    };
    const view = (s: State) => m.layout.view(s, true) as Record<string, Record<string, unknown>[] | Record<string, unknown>>;
    // Isolating pageblock 0 of the booted zone moves its free block to the isolate list: no allocation can take it.
    const isolated = step(m.initial(), 'offliner', 'start_isolate_page_range', { pageblock: 0 })!;
    expect((view(isolated).freelist as { mt: string }[]).map((r) => r.mt)).toEqual(['isolate', 'isolate', 'movable', 'movable']);
    expect(step(isolated, 'vcpu0', 'alloc_pages', { order: 1, block: 0 })).toBeNull();
    expect(step(isolated, 'vcpu0', 'alloc_pages', { order: 1, block: 2 })).not.toBeNull();
    // A block parked in arch_merge_page() is on no list, so the isolation leaves it alone.
    let s = m.initial();
    for (const [actor, name, args] of [
      ['vcpu0', 'alloc_pages', { order: 0, block: 0 }], ['vcpu0', 'spin_unlock', {}], ['vcpu0', 'prep_new_page', {}],
      ['vcpu0', 'free_pages_prepare', {}], ['vcpu0', 'free_one_page', {}], ['vcpu0', 'spin_unlock', {}],
    ] as const) s = step(s, actor, name, args)!;
    const during = step(s, 'offliner', 'start_isolate_page_range', { pageblock: 0 })!;
    expect((view(during).freelist as { mt: string }[]).map((r) => r.mt)).toEqual(['none', 'none', 'movable', 'movable']);
    expect((view(during).pageblock as { mt: string[] }).mt).toEqual(['isolate', 'movable']);
  });
});

// ---------------------------------------------------------------- designed away: D2 without dropping the lock

describe('designs.md §4 "Designed-away races": D2 without dropping the lock', () => {
  it('makes the hypercall with zone->lock held in 6 steps', () => {
    const r = shortest(d2HintUnderLock, 'no-hint-under-zone-lock');
    expect(r.depth).toBe(6);
    expect(shape(r.steps)).toEqual([
      'vcpu0:alloc_pages', 'vcpu0:spin_unlock', 'vcpu0:prep_new_page', 'vcpu0:free_pages_prepare', 'vcpu0:free_one_page', 'vcpu0:kvm_hypercall2',
    ]);
    expect(r.steps[4].summary).toContain('zone lock: free -> vcpu0');
    expect(r.message).toBe('vcpu0 issued a hint while holding the zone lock');
  });
});
