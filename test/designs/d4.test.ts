/**
 * D4, MST's batched virtio ring with a hinted flag and resync: every design
 * at each of its matrix rows, the shortest counterexample of every known race
 * (designs.md §4 rows 7, 17, 18), and the step rules (guard first, nothing
 * written by a disabled step, deterministic) on every reachable state of a
 * small zone.
 */
import { describe, expect, it } from 'vitest';
import { action, column, model, race, reachable, same, shape, state } from '../helpers.js';
import { check } from '../../check/check.js';

import { invariantsFor } from '../../invariants/index.js';

import {
  D4_DESIGNS, d4FlagSurvivesAlloc, d4FlagSurvivesMerge, d4SkipWhenBusy, d4VirtioRing,
} from '../../model/designs/d4/catalogue.js';
import type { RowView } from '../../model/layout.js';
import { resolveConfig } from '../../model/system.js';
import type { State } from '../../model/types.js';

// ---------------------------------------------------------------- helpers

// ---------------------------------------------------------------- matrix rows

describe('D4 matrix rows', () => {
  const rows = D4_DESIGNS.flatMap((d) => d.expect.map((e) => ({ d, e, label: `${d.id} ${JSON.stringify(e.config ?? {})}` })));

  it.each(rows)('$label gives its expected verdicts', ({ d, e }) => {
    const r = check(d, { config: e.config ?? {}, traces: false });
    expect(r.complete).toBe(true);
    const want = Object.fromEntries(invariantsFor(d, r.config).map((i) => [i.id, e.violates.includes(i.id) ? 'violated' : 'holds']));
    expect(Object.fromEntries(r.results.map((x) => [x.invariant, x.verdict]))).toEqual(want);
    // Only the violations the family accepts by design are marked accepted.
    for (const x of r.results) expect(x.accepted !== undefined).toBe(x.verdict === 'violated' && d.accepts?.[x.invariant] !== undefined);
  });

  it('every row lists only invariants that apply there, and every design accepts the same two', () => {
    for (const { d, e } of rows) {
      const ids = invariantsFor(d, resolveConfig(d, e.config)).map((i) => i.id);
      for (const v of e.violates) expect(ids).toContain(v);
      expect(Object.keys(d.accepts ?? {})).toEqual(['no-double-report', 'no-fake-oom']);
    }
  });
});

// ---------------------------------------------------------------- known races

describe('designs.md §4 row 17: ring full, hint skipped, no resync', () => {
  it('at boot with poisoning, the probe pass fits one order-2 block in the ring and skips the other for good (6 steps)', () => {
    const { steps, message } = race(d4SkipWhenBusy, { poison: 'on', host: 'poison-on-fault' }, 'no-backed-free-blocks');
    expect(shape(steps)).toEqual([
      'hinter: hint_work',
      'hinter: pull(order=2, block=0)',
      'hinter: pull_done',
      'hinter: post',
      'host: consume(block=0)',
      'hinter: complete',
    ]);
    expect(message).toContain('free order-2 block at page 4 is still backed');
    // The completion asks for nothing more: that is the skip.
    expect(steps[5].summary.join()).not.toContain('requested');
  });

  it('at the default bounds, a backed block is skipped because the one-slot ring took the other (12 steps)', () => {
    const { steps, message } = race(d4SkipWhenBusy, {}, 'no-backed-free-blocks');
    expect(shape(steps)).toEqual([
      'vcpu0: alloc_pages(order=0, block=0)',
      'vcpu0: spin_unlock',
      'vcpu0: prep_new_page', // page 0 backed
      'vcpu0: free_pages_prepare',
      'vcpu0: free_one_page', // [0-3] whole again; the probe's request still pending
      'hinter: hint_work',
      'vcpu0: spin_unlock',
      'hinter: pull(order=2, block=4)', // the ring's only slot
      'hinter: pull_done', // ring full: [0-3] skipped
      'hinter: post',
      'host: consume(block=4)',
      'hinter: complete',
    ]);
    expect(message).toContain('free order-2 block at page 0 is still backed');
  });

  it('is closed by the resync: d4-virtio-ring holds no-missed-hints at every row (see its matrix rows above)', () => {
    expect(d4VirtioRing.expect.every((e) => !e.violates.includes('no-missed-hints'))).toBe(true);
    expect(d4SkipWhenBusy.expect.every((e) => e.violates.includes('no-missed-hints'))).toBe(true);
  });
});

describe('designs.md §4 row 18: the hinted flag must not survive a merge or an allocation', () => {
  it('a merged head that keeps its lower half\'s flag hides the backed upper half (20 steps)', () => {
    const { steps, message } = race(d4FlagSurvivesMerge, {}, 'no-backed-free-blocks');
    expect(steps).toHaveLength(20);
    const key = shape(steps).filter((s) => /pull\(|consume|complete|free_one_page|pull_done/.test(s));
    expect(key).toEqual([
      'vcpu1: free_one_page', // the lower half [0,1] lands on the order-1 list
      'hinter: pull(order=1, block=0)',
      'hinter: pull_done',
      'host: consume(block=0)',
      'hinter: complete', // [0,1] flagged hinted
      'vcpu0: free_one_page', // [2,3] merges with it: the order-2 head keeps the flag
      'hinter: pull_done', // the pass finds nothing unflagged
    ]);
    const merge = steps.find((s) => s.actor === 'vcpu0' && s.action === 'free_one_page')!;
    expect(merge.summary).toContain('page 0: free-head(1, reported) -> free-head(2, reported)');
    expect(steps[19].action).toBe('pull_done');
    expect(message).toContain('free order-2 block at page 0 is still backed by the host (page 2)');
  });

  it('the correct flag rule clears it: d4-virtio-ring holds no-missed-hints at the mutant\'s bounds', () => {
    const r = check(d4VirtioRing, { config: { pages: 4 }, invariants: ['no-missed-hints'] });
    expect(r.results[0].verdict).toBe('holds');
  });

  it('a flag that survives allocation leaks PageReported to an allocated page (7 steps)', () => {
    const { steps, message } = race(d4FlagSurvivesAlloc, {}, 'allocator-conservation');
    expect(shape(steps)).toEqual([
      'hinter: hint_work',
      'hinter: pull(order=2, block=0)',
      'hinter: pull_done',
      'hinter: post',
      'host: consume(block=0)',
      'hinter: complete',
      'vcpu0: alloc_pages(order=0, block=0)',
    ]);
    expect(message).toBe('page 0 is allocated but carries PageReported');
  });
});

describe('designs.md §4 row 7: fake OOM while a block is in flight', () => {
  it('a pulled order-2 block makes an order-2 allocation fail (5 steps)', () => {
    const { steps, message } = race(d4VirtioRing, {}, 'no-fake-oom');
    expect(shape(steps)).toEqual([
      'vcpu0: alloc_pages(order=0, block=0)',
      'vcpu0: spin_unlock',
      'hinter: hint_work',
      'hinter: pull(order=2, block=4)',
      'vcpu1: alloc_pages_fails(order=2)',
    ]);
    expect(message).toContain('failed while the hint engine held enough free memory');
  });
});

describe('D4 poisoning (designs.md D4 Poisoning)', () => {
  it('a MADV_DONTNEED host zeroes a poisoned block; the next allocation check reads zero (9 steps)', () => {
    const { steps, message } = race(d4VirtioRing, { poison: 'on', host: 'dontneed' }, 'poison-reads-back');
    expect(shape(steps)).toEqual([
      'hinter: hint_work',
      'hinter: pull(order=2, block=0)',
      'hinter: pull_done',
      'hinter: post',
      'host: consume(block=0)',
      'hinter: complete',
      'vcpu0: alloc_pages(order=0, block=0)',
      'vcpu0: spin_unlock',
      'vcpu0: prep_new_page',
    ]);
    expect(message).toBe('vcpu0 read zero from page 0 at allocation; expected poison');
  });
});

// ---------------------------------------------------------------- steps

describe('D4 steps', () => {
  it.each(D4_DESIGNS.map((d) => ({ d, id: d.id })))(
    '$id: on every reachable state at 4 pages, a disabled step writes nothing and an enabled one is deterministic',
    ({ d }) => {
      const m = model(d, { pages: 4 });
      const states = reachable(m);
      expect(states.length).toBeGreaterThan(1000);
      const mine = m.actions.filter((a) => m.actors[a.actor] === 'hinter' || m.actors[a.actor] === 'host');
      for (const s of states) {
        for (const a of mine) {
          const one = s.slice();
          if (!a.apply(one)) {
            if (!same(one, s)) expect(Array.from(one), `${a.name} ${JSON.stringify(a.args)} disabled but wrote`).toEqual(Array.from(s));
            continue;
          }
          const two = s.slice();
          expect(a.apply(two)).toBe(true);
          if (!same(one, two)) expect(Array.from(two)).toEqual(Array.from(one));
        }
      }
    },
  );

  const m = model(d4VirtioRing); // 2 vCPUs, 8 pages, max order 2, R 1, a one-slot ring

  it('pull takes only an unflagged block, and only while the ring has a free slot', () => {
    const s = state(m, { hinter: { phase: 'pulling', requested: false }, pages: [{ reported: true }] });
    expect(action(m, 'hinter', 'pull', { order: 2, block: 0 }).apply(s.slice())).toBe(false);
    const next = s.slice();
    expect(action(m, 'hinter', 'pull', { order: 2, block: 4 }).apply(next)).toBe(true);
    expect(column(m, next, 'batch', 'slot')).toEqual(['none', 'none', 'none', 'none', 'pulled', 'none', 'none', 'none']);
    expect(column(m, next, 'pages', 'owner').slice(4)).toEqual(['isolated-head', 'isolated-tail', 'isolated-tail', 'isolated-tail']);
    // A one-slot ring: after one pull the other block may not be pulled, and the pass may end although it is unflagged.
    const both = state(m, { hinter: { phase: 'pulling', requested: false } });
    expect(action(m, 'hinter', 'pull_done').apply(both.slice())).toBe(false);
    const full = both.slice();
    expect(action(m, 'hinter', 'pull', { order: 2, block: 0 }).apply(full)).toBe(true);
    expect(action(m, 'hinter', 'pull', { order: 2, block: 4 }).apply(full.slice())).toBe(false);
    const done = full.slice();
    expect(action(m, 'hinter', 'pull_done').apply(done)).toBe(true);
    expect(m.layout.view(done).hinter).toMatchObject({ phase: 'posting' });
  });

  it('complete flags a block only if it is still a free head of its order, and asks for a resync', () => {
    // Blocks 0 and 2 (order 1) came back used; 4 is free and unflagged; nothing else in flight.
    const s = state(m, {
      pages: [
        { owner: 'isolated-head', order: 1 }, { owner: 'isolated-tail' },
        { owner: 'isolated-head', order: 1 }, { owner: 'isolated-tail' },
      ],
      freeArea: { nrFree: [0, 0, 1] },
      batch: [{ slot: 'used' }, {}, { slot: 'used' }],
      hinter: { requested: false },
    });
    const next = s.slice();
    expect(action(m, 'hinter', 'complete').apply(next)).toBe(true);
    // 0 went back first and was flagged; 2 then merged with it into an order-2 block, which is not.
    expect(column(m, next, 'pages', 'owner').slice(0, 4)).toEqual(['free-head', 'free-tail', 'free-tail', 'free-tail']);
    expect(column(m, next, 'pages', 'order')[0]).toBe(2);
    expect(column(m, next, 'pages', 'reported')).toEqual(Array(8).fill(false));
    expect(column(m, next, 'batch', 'slot')).toEqual(Array(8).fill('none'));
    expect(m.layout.view(next).hinter).toMatchObject({ requested: true });
    // The skipping variant returns the blocks the same way but asks for nothing.
    const skip = model(d4SkipWhenBusy);
    const t = state(skip, {
      pages: [{ owner: 'isolated-head', order: 1 }, { owner: 'isolated-tail' }, { owner: 'free-head', order: 1 }],
      freeArea: { nrFree: [0, 1, 1] },
      batch: [{ slot: 'used' }],
      hinter: { requested: false },
    });
    const after = t.slice();
    expect(action(skip, 'hinter', 'complete').apply(after)).toBe(true);
    expect(column(skip, after, 'pages', 'reported')[0]).toBe(false); // merged with the free buddy at 2
    expect(skip.layout.view(after).hinter).toMatchObject({ requested: false });
  });

  it('complete is disabled while a vCPU holds the zone lock or nothing is used yet', () => {
    const used = { batch: [{ slot: 'used' }], pages: [{ owner: 'isolated-head', order: 2 }, { owner: 'isolated-tail' }, { owner: 'isolated-tail' }, { owner: 'isolated-tail' }], freeArea: { nrFree: [0, 0, 1] } };
    expect(action(m, 'hinter', 'complete').apply(state(m, { ...used, zone: { lock: 'vcpu0' } }))).toBe(false);
    expect(action(m, 'hinter', 'complete').apply(state(m, { ...used, batch: [{ slot: 'posted' }] }))).toBe(false);
    expect(action(m, 'hinter', 'complete').apply(state(m, used))).toBe(true);
  });

  it('a free that lands a block of order >= R asks for a pass, merged up to R or not; one that stays below R does not', () => {
    const freeFrom = (vcpus: Partial<RowView>[], pages: Partial<RowView>[], nrFree: number[], cpu: string): State => {
      const s = state(m, { pages, vcpus, freeArea: { nrFree }, hinter: { requested: false } });
      expect(action(m, cpu, 'free_one_page').apply(s)).toBe(true);
      return s;
    };
    const requested = (s: State): unknown => (m.layout.view(s).hinter as Record<string, unknown>).requested;
    // vcpu1 holds page 0, page 1 is free: vcpu0 frees the order-1 block at 2, which lands as it is.
    const landed = freeFrom(
      [{ phase: 'prepared', head: 2, order: 1 }, { phase: 'in-use', head: 0, order: 0 }],
      [{ owner: 'allocated' }, { owner: 'free-head', order: 0 }, { owner: 'allocated' }, { owner: 'allocated' }],
      [1, 0, 1], 'vcpu0');
    expect(requested(landed)).toBe(true);
    // vcpu1 frees page 0 and it merges with page 1 up to R.
    const merged = freeFrom(
      [{ phase: 'in-use', head: 2, order: 1 }, { phase: 'prepared', head: 0, order: 0 }],
      [{ owner: 'allocated' }, { owner: 'free-head', order: 0 }, { owner: 'allocated' }, { owner: 'allocated' }],
      [1, 0, 1], 'vcpu1');
    expect(column(m, merged, 'pages', 'order')[0]).toBe(1);
    expect(requested(merged)).toBe(true);
    // vcpu0 holds page 1: page 0 stays an order-0 block, below R.
    const below = freeFrom(
      [{ phase: 'in-use', head: 1, order: 0 }, { phase: 'prepared', head: 0, order: 0 }],
      [{ owner: 'allocated' }, { owner: 'allocated' }, { owner: 'free-head', order: 1 }, { owner: 'free-tail' }],
      [0, 1, 1], 'vcpu1');
    expect(column(m, below, 'pages', 'order')[0]).toBe(0);
    expect(requested(below)).toBe(false);
  });
});
