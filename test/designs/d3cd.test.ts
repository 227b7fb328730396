/**
 * D3c/D3d, Nitesh Narayan Lal's bitmap designs (v10/v11 and v12): every
 * design at each of its matrix rows, the shortest counterexample of every
 * race the checker reproduces (designs.md §4 rows 7, 10, 11, 13, the row 12
 * explanation, and the misses of the designs' own), and the step rules
 * (guard first, nothing written by a disabled step, deterministic) on every
 * reachable state of a small zone.
 */
import { describe, expect, it } from 'vitest';
import { inOrder, model, race, reachable, same } from '../helpers.js';
import { check } from '../../check/check.js';
import { explore } from '../../explorers/exhaustive/driver.js';
import { counterexample, storeParents, type TraceStep } from '../../explorers/trace.js';
import { invariantsFor, type Invariant } from '../../invariants/index.js';
import { FREE_HEAD } from '../../model/allocator.js';
import type { Config } from '../../model/config.js';
import {
  D3CD_DESIGNS, d3cBitmap, d3cBitmapNode1, d3cDisableRace, d3cStaleHintArray, d3dBitmapHotplug, d3dBitmapRefcount, d3dDisable,
} from '../../model/designs/d3/bitmap-catalogue.js';
import { BACKED } from '../../model/host.js';
import { resolveConfig } from '../../model/system.js';
import { IDLE, IN_USE } from '../../model/vcpu.js';
import type { Design } from '../../model/types.js';

// ---------------------------------------------------------------- helpers

/** `actor: step`, the way docs/races/d3cd.md numbers a counterexample. */
function shape(steps: readonly TraceStep[]): string[] {
  return steps.map((s) => `${s.actor}: ${s.action}`);
}

/** The bit changes of a step, as `bits[b] from -> to`. */
function bitChanges(step: TraceStep): string[] {
  return step.changes.filter((c) => c.group === 'bitmap' && c.field === 'bits').map((c) => `bits[${c.index}] ${c.from} -> ${c.to}`);
}

// ---------------------------------------------------------------- the matrix rows

const ROWS = D3CD_DESIGNS.flatMap((d) => d.expect.map((e, row) => ({ id: d.id, design: d, row, config: e.config ?? {}, violates: e.violates })));

describe('d3cd matrix rows', () => {
  it.each(ROWS)('$id row $row $config gives the expected verdicts', ({ design, config, violates }) => {
    const r = check(design, { config, traces: false });
    expect(r.complete).toBe(true);
    const want = Object.fromEntries(invariantsFor(design, r.config).map((i) => [i.id, violates.includes(i.id) ? 'violated' : 'holds']));
    expect(Object.fromEntries(r.results.map((x) => [x.invariant, x.verdict]))).toEqual(want);
    // Only what the family accepts is reported as accepted.
    for (const x of r.results) expect(x.accepted !== undefined).toBe(x.verdict === 'violated' && ['no-double-report', 'no-fake-oom'].includes(x.invariant));
  });

  it('lists only invariants that apply, each of them at least once violated somewhere', () => {
    for (const row of ROWS) for (const id of row.violates) expect(invariantsFor(row.design, resolveConfig(row.design, row.config)).map((i) => i.id)).toContain(id);
    for (const id of ['free-blocks-marked', 'unhinted-below-threshold', 'no-use-after-free']) expect(ROWS.some((r) => r.violates.includes(id))).toBe(true);
  });
});

// ---------------------------------------------------------------- the races

describe('row 10: v10 leaves node 1 out of the bitmap', () => {
  it('misses a block freed in the uncovered half in 6 steps', () => {
    const { steps, message } = race(d3cBitmapNode1, {}, 'no-backed-free-blocks');
    expect(shape(steps)).toEqual([
      'vcpu1: alloc_pages', 'vcpu1: spin_unlock', 'vcpu1: prep_new_page', 'vcpu1: free_pages_prepare', 'vcpu1: free_one_page', 'vcpu1: spin_unlock',
    ]);
    expect(steps[0].args).toEqual({ order: 0, block: 4 });
    // The free merges back to order 2 above the bitmap: no bit, no work.
    expect(steps[4].changes.some((c) => c.group === 'bitmap' || c.group === 'worker')).toBe(false);
    expect(message).toContain('block at page 4');
  });
});

describe('row 11: v12 does not track hot-added memory', () => {
  it('misses a block freed in the hot-added half in 6 steps', () => {
    const { steps, message } = race(d3dBitmapHotplug, {}, 'no-backed-free-blocks');
    expect(shape(steps).map((s) => s.split(': ')[1])).toEqual(['alloc_pages', 'spin_unlock', 'prep_new_page', 'free_pages_prepare', 'free_one_page', 'spin_unlock']);
    expect(steps[4].changes.some((c) => c.group === 'bitmap' || c.group === 'worker')).toBe(false);
    expect(message).toContain('block at page 4');
  });
});

describe('row 13: page_hinting_disable() frees the bitmap under a vCPU in the enqueue', () => {
  it('v11: the vCPU is past the config check when the bitmap goes, in 7 steps', () => {
    const { steps, message } = race(d3cDisableRace, {}, 'no-use-after-free');
    expect(shape(steps)).toEqual([
      'vcpu0: alloc_pages', 'vcpu0: spin_unlock', 'vcpu0: prep_new_page', 'vcpu0: free_pages_prepare', 'vcpu0: free_one_page',
      'disabler: cancel_work_sync', 'disabler: page_hinting_disable',
    ]);
    // free_one_page stops in the enqueue with the lock held and the merged block in limbo.
    expect(steps[4].summary.join('; ')).toMatch(/phase prepared -> enqueue/);
    expect(steps[4].summary.join('; ')).toMatch(/zone lock: free -> vcpu0/);
    expect(message).toMatch(/vcpu0 .*freed the bitmap/);
  });

  it('v12: synchronize_rcu() waits for the vCPU, and nothing uses the freed bitmap', () => {
    const r = check(d3dDisable, { invariants: ['no-use-after-free'] });
    expect(r.complete).toBe(true);
    expect(r.results[0].verdict).toBe('holds');
  });
});

describe('row 12: v11 reports the previous batch again from its never-cleared array', () => {
  it('discards a page a vCPU holds: a full batch of 2, then a leftover of 1, in 40 steps', () => {
    const { steps, message } = race(d3cStaleHintArray, {}, 'no-reuse-while-hinting');
    expect(steps).toHaveLength(40);
    const s = shape(steps);
    expect(s.filter((x) => x === 'worker: hint_pages')).toHaveLength(2);
    expect(
      inOrder(s, [
        'worker: scan_zone_free_area', 'worker: scan_zone_free_area', 'worker: hint_pages', 'host: virtio_balloon_handle_page_hinting',
        'worker: release_buddy_pages', 'worker: release_buddy_pages', 'worker: hinting_done', 'worker: init_hinting_wq',
        'worker: scan_zone_free_area', 'vcpu0: alloc_pages', 'worker: scan_zone_free_area', 'worker: hint_pages',
      ]),
    ).toBe(true);
    // The first report fills both entries; the second isolates one block and leaves entry 1 as it was.
    const [first, second] = steps.filter((x) => x.action === 'hint_pages');
    expect(first.changes.filter((c) => c.group === 'hintArray' && c.field === 'head').map((c) => [c.index, c.to])).toEqual([[0, 1], [1, 3]]);
    expect(second.changes.filter((c) => c.group === 'hintArray')).toEqual([]);
    expect(steps[36].args).toEqual({ order: 0, block: 2 });
    expect(message).toBe('page 2 is allocated to vcpu0 while a hint covering it is in flight');
  });

  it('d3c-bitmap, reporting exactly its batch, never hints a page in use', () => {
    const r = check(d3cBitmap, { config: { maxOrder: 1, capacity: 2 }, invariants: ['no-reuse-while-hinting'] });
    expect(r.complete).toBe(true);
    expect(r.results[0].verdict).toBe('holds');
  });
});

describe('row 7: fake OOM while the walk holds the memory', () => {
  it('an allocation fails while the only block is isolated, in 10 steps', () => {
    const { steps } = race(d3cBitmap, {}, 'no-fake-oom');
    expect(steps).toHaveLength(10);
    expect(inOrder(shape(steps), ['vcpu1: free_one_page', 'worker: init_hinting_wq', 'worker: scan_zone_free_area', 'vcpu0: alloc_pages_fails'])).toBe(true);
    expect(steps[8].summary.join('; ')).toContain('free-head(2) -> isolated-head(2)');
  });
});

describe('row 5 is designed away: returned blocks set no bit', () => {
  it('the double report is a merged block hinted whole, before anything was returned', () => {
    const { steps, message } = race(d3cBitmap, {}, 'no-double-report');
    expect(steps).toHaveLength(10);
    expect(steps.some((s) => s.action === 'release_buddy_pages')).toBe(false);
    expect(steps[0].args).toEqual({ order: 0, block: 0 });
    expect(steps[9].action).toBe('hint_pages');
    expect(message).toContain('reported page 1');
  });

  it('release_buddy_pages() and return_isolated_page() never set a bit', () => {
    for (const d of [d3cBitmap, d3dBitmapRefcount]) {
      const m = model(d, { pages: 4, cpus: 1 });
      const release = m.actions.filter((a) => a.name === 'release_buddy_pages' || a.name === 'return_isolated_page');
      expect(release).toHaveLength(1);
      const bits = m.layout.at('bitmap', 'bits');
      for (const s of reachable(m)) {
        const next = s.slice();
        if (!release[0].apply(next)) continue;
        for (let b = 0; b < 2; b++) expect(next[bits + b]).toBeLessThanOrEqual(s[bits + b]);
      }
    }
  });
});

// ---------------------------------------------------------------- the designs' own misses

describe('misses the checker finds', () => {
  it('the threshold form counts what frees asked for: the split remainder (14 steps) is not counted, the lost wakeup (17 steps) is', () => {
    const split = race(d3cBitmap, {}, 'free-blocks-marked');
    expect(split.steps).toHaveLength(14);
    const lost = race(d3cBitmap, {}, 'unhinted-below-threshold');
    expect(lost.steps).toHaveLength(17);
    expect(lost.message).toMatch(/^quiescent, yet 1 free block of order >= 1 that frees asked a hint for is still backed \(page \d\), with max_pages 1$/);
    // The free that asked came after the pass set page_hinting_active, and the pass ended without it.
    const asked = lost.steps.map((x) => x.summary.some((l) => l.includes('owed false -> true')));
    const active = shape(lost.steps).indexOf('worker: init_hinting_wq');
    expect(asked.lastIndexOf(true)).toBeGreaterThan(active);
    expect(shape(lost.steps)[16]).toBe('worker: hinting_done');
  });

  it('a split leaves an unmarked remainder: expand() sets no bit (d3c, 14 steps)', () => {
    const { steps, message } = race(d3cBitmap, {}, 'free-blocks-marked');
    expect(shape(steps).slice(5)).toEqual([
      'vcpu0: spin_unlock', 'vcpu0: alloc_pages', 'worker: process_one_work', 'vcpu0: spin_unlock', 'worker: init_hinting_wq',
      'vcpu0: prep_new_page', 'worker: scan_zone_free_area', 'worker: scan_zone_free_area', 'worker: hinting_done',
    ]);
    expect(steps[0].args).toEqual({ order: 2, block: 0 });
    // The split: an order-0 allocation from the marked order-2 block puts an order-1 remainder back without a bit.
    expect(steps[6].args).toEqual({ order: 0, block: 0 });
    expect(bitChanges(steps[4])).toEqual(['bits[0] false -> true']);
    expect(bitChanges(steps[11])).toEqual(['bits[0] true -> false']);
    expect(message).toContain('order-1 block at page 2');
  });

  it('a returned block merges with a freed buddy whose bit the walk then clears as a tail (d3c, 20 steps)', () => {
    const m = model(d3cBitmap);
    const bits = m.layout.at('bitmap', 'bits');
    // Quiescent, a free order-2 block half discarded (the returned half) and half backed, and no bit for either half.
    const mergedHalf: Invariant = {
      id: 'merged-half-unmarked', number: 0, short: 'merged', title: 'a half-hinted merged block has no bit', why: 'test only', applies: () => true,
      bind: () => ({
        state: (s) => {
          if (s[m.f.lock] !== 0 || !m.instance.idle(s) || s[m.f.owner] !== FREE_HEAD || s[m.f.order] !== 2 || s[bits] || s[bits + 1]) return null;
          for (let c = 0; c < m.cfg.cpus; c++) if (s[m.f.vPhase + c] !== IDLE && s[m.f.vPhase + c] !== IN_USE) return null;
          const backed = [0, 1, 2, 3].filter((p) => s[m.f.backing + p] === BACKED).length;
          return backed > 0 && backed < 4 ? 'merged' : null;
        },
      }),
    };
    const r = explore(m, { invariants: [mergedHalf] });
    const v = r.violations.get('merged-half-unmarked')!;
    expect(v.depth).toBe(20);
    const steps = counterexample(m, storeParents(m, r.store), v, v.words).steps;
    expect(
      inOrder(shape(steps), [
        'worker: scan_zone_free_area', 'vcpu1: free_one_page', 'worker: hint_pages', 'host: virtio_balloon_handle_page_hinting',
        'worker: release_buddy_pages', 'worker: scan_zone_free_area', 'worker: hinting_done',
      ]),
    ).toBe(true);
    // The return merges [0-1] with the freed [2-3] (hint=false: no bit); the walk then finds page 2 a tail and clears bit 1.
    const release = steps.find((x) => x.action === 'release_buddy_pages')!;
    expect(release.summary.join('; ')).toContain('page 0: isolated-head(1) -> free-head(2)');
    expect(bitChanges(steps[18])).toEqual(['bits[1] true -> false']);
  });

  it('v11 loses the wakeup of a free behind the cursor while page_hinting_active (16 steps)', () => {
    const { steps } = race(d3cBitmap, { pages: 8, reportOrder: 2 }, 'no-backed-free-blocks');
    expect(steps).toHaveLength(16);
    const s = shape(steps);
    expect(inOrder(s, ['worker: init_hinting_wq', 'worker: scan_zone_free_area', 'vcpu0: free_one_page', 'worker: hinting_done'])).toBe(true);
    const free = steps[13];
    expect(free.action).toBe('free_one_page');
    expect(bitChanges(free)).toEqual(['bits[1] false -> true']);
    expect(free.changes.some((c) => c.field === 'pending')).toBe(false);
    // The same state holds its bit: v11 keeps every backed free block marked at this order.
    const r = check(d3cBitmap, { config: { pages: 8, reportOrder: 2 }, invariants: ['free-blocks-marked'] });
    expect(r.results[0].verdict).toBe('holds');
  });

  it('v12 clears the bit after the unlock: a free in the window loses its bit for good (16 steps)', () => {
    const { steps, message } = race(d3dBitmapRefcount, { pages: 8, reportOrder: 2 }, 'free-blocks-marked');
    expect(steps).toHaveLength(16);
    expect(shape(steps).slice(9)).toEqual([
      'vcpu1: free_pages_prepare', 'worker: page_reporting_wq', 'worker: scan_zone_bitmap', 'vcpu1: free_one_page', 'worker: clear_bit',
      'worker: reporting_done', 'vcpu1: spin_unlock',
    ]);
    // The free finds the bit still set and counts nothing; the late clear_bit() then drops it.
    expect(bitChanges(steps[12])).toEqual([]);
    expect(bitChanges(steps[13])).toEqual(['bits[1] true -> false']);
    expect(message).toContain('block at page 4 is backed and its bit 1 is clear');
  });

  it('threshold 2: one block stays below the threshold (6 steps); the lost wakeup leaves two (29 steps)', () => {
    const strict = race(d3cBitmap, { pages: 8, reportOrder: 2, capacity: 2 }, 'no-backed-free-blocks');
    expect(shape(strict.steps)).toEqual([
      'vcpu0: alloc_pages', 'vcpu0: spin_unlock', 'vcpu0: prep_new_page', 'vcpu0: free_pages_prepare', 'vcpu0: free_one_page', 'vcpu0: spin_unlock',
    ]);
    expect(strict.steps[4].changes.some((c) => c.field === 'pending')).toBe(false);
    const loose = race(d3cBitmap, { pages: 8, reportOrder: 2, capacity: 2 }, 'unhinted-below-threshold');
    expect(loose.steps).toHaveLength(29);
    // Both blocks are freed again behind the cursor: free_pages is back at max_pages, and the pass ends queueing nothing.
    expect(shape(loose.steps).slice(-3)).toEqual(['vcpu1: free_one_page', 'worker: hinting_done', 'vcpu1: spin_unlock']);
    expect(bitChanges(loose.steps[26])).toEqual(['bits[0] false -> true']);
    expect(loose.steps[26].changes.some((c) => c.field === 'pending')).toBe(false);
    expect(loose.message).toContain('2 free blocks of order >= 2 that frees asked a hint for are still backed');
  });

  it('with poisoning, the discarded poison reads back as zero (15 steps)', () => {
    const { steps, message } = race(d3cBitmap, { poison: 'on', host: 'dontneed' }, 'poison-reads-back');
    expect(steps).toHaveLength(15);
    expect(inOrder(shape(steps), ['worker: hint_pages', 'host: virtio_balloon_handle_page_hinting', 'worker: release_buddy_pages'])).toBe(true);
    expect(steps[14].action).toBe('prep_new_page');
    expect(message).toMatch(/read zero .* expected poison/);
  });
});

// ---------------------------------------------------------------- the step rules

describe('step rules', () => {
  const small: Array<[Design, Partial<Config>]> = [
    [d3cBitmap, { cpus: 1 }],
    [d3dBitmapRefcount, { cpus: 1 }],
    [d3cDisableRace, { cpus: 1 }],
    [d3dDisable, { cpus: 1 }],
    [d3cStaleHintArray, { cpus: 1 }],
  ];

  it.each(small.map(([d, c]) => ({ id: d.id, d, c })))('$id: guard first, deterministic, on every reachable state', ({ d, c }) => {
    const m = model(d, c);
    const states = reachable(m);
    expect(states.length).toBeGreaterThan(100);
    for (const s of states) {
      for (const a of m.actions) {
        const x = s.slice();
        const y = s.slice();
        const rx = a.apply(x);
        const ry = a.apply(y);
        if (rx !== ry || !same(x, y)) expect.fail(`${m.actors[a.actor]} ${a.name} is not deterministic`);
        if (!rx && !same(x, s)) expect.fail(`${m.actors[a.actor]} ${a.name} is disabled but wrote`);
      }
    }
  });

  it('v12 schedules once per pass: the gate is refcnt, held from the enqueue to the end of the pass', () => {
    const m = model(d3dBitmapRefcount, { cpus: 1 });
    const refcnt = m.layout.at('worker', 'refcnt');
    const pending = m.layout.at('worker', 'pending');
    const phase = m.layout.at('worker', 'phase');
    for (const s of reachable(m)) {
      // Queued or running implies refcnt.
      if (s[pending] || s[phase] !== 0) expect(s[refcnt]).toBe(1);
    }
  });
});
