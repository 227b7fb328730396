/**
 * D3a/D3b, Nitesh Narayan Lal's capture-array designs (v8 and v9): every
 * design at each of its matrix rows, the shortest counterexample of every
 * known race (designs.md §4 rows 5, 6, 7, 16), a few steps one at a time, and
 * the step rules (guard first, nothing written by a disabled step,
 * deterministic) on every reachable state of a small zone.
 */
import { describe, expect, it } from 'vitest';
import { action, column, inOrder, model, race as shortest, reachable, shape, state, step, take } from '../helpers.js';
import { check } from '../../check/check.js';
import { explore } from '../../explorers/exhaustive/driver.js';
import { counterexample, storeParents } from '../../explorers/trace.js';
import { conservation } from '../../model/allocator-laws.js';
import type { Invariant } from '../../model/types.js';

import { invariantsFor } from '../../invariants/index.js';
import type { Config } from '../../model/config.js';
import { D3B_DESIGNS, d3bAsyncReturn, d3bLockedReturn } from '../../model/designs/d3/async-return.js';
import { D3A_DESIGNS, d3aCaptureArray } from '../../model/designs/d3/capture-array.js';
import type { StateView } from '../../model/layout.js';
import { resolveConfig } from '../../model/system.js';
import type { Design, Model, State } from '../../model/types.js';

// ---------------------------------------------------------------- helpers

/** The shortest counterexample of one invariant, which must be violated, as `actor: step(args)` lines. */
function race(design: Design, config: Partial<Config>, invariant: string): { steps: string[]; message: string } {
  const r = shortest(design, config, invariant);
  return { steps: shape(r.steps), message: r.message };
}

function view(m: Model, s: State): StateView {
  return m.layout.view(s);
}

// ---------------------------------------------------------------- matrix rows

describe('D3a/D3b matrix rows', () => {
  const rows = [...D3A_DESIGNS, ...D3B_DESIGNS].flatMap((d) => d.expect.map((e) => ({ d, e, label: `${d.id} ${JSON.stringify(e.config ?? {})}` })));

  it.each(rows)('$label gives its expected verdicts', ({ d, e }) => {
    const r = check(d, { config: e.config ?? {}, traces: false });
    expect(r.complete).toBe(true);
    const want = Object.fromEntries(invariantsFor(d, r.config).map((i) => [i.id, e.violates.includes(i.id) ? 'violated' : 'holds']));
    expect(Object.fromEntries(r.results.map((x) => [x.invariant, x.verdict]))).toEqual(want);
    // Only the threshold's misses are accepted; the races of §4 are failures.
    for (const x of r.results) expect(x.accepted !== undefined).toBe(x.verdict === 'violated' && x.invariant === 'no-missed-hints');
  });

  it('lists only invariants that apply at each row', () => {
    for (const { d, e } of rows) {
      const ids = invariantsFor(d, resolveConfig(d, e.config)).map((i) => i.id);
      for (const v of e.violates) expect(ids).toContain(v);
    }
  });
});

// ---------------------------------------------------------------- known races

describe('designs.md §4 row 7: an allocation fails while the engine holds the free memory', () => {
  it('d3a: the kthread isolates the whole zone for one captured entry, and vcpu1 fails', () => {
    const { steps, message } = race(d3aCaptureArray, {}, 'no-fake-oom');
    expect(steps).toHaveLength(12);
    // vcpu0's second free fills the 2-entry array and wakes the kthread, which isolates both free blocks.
    expect(steps[9]).toBe('vcpu0: free_pages_prepare');
    expect(steps[10]).toBe('hinting: hinting_fn(cpu=0, pfn=0, order=2)');
    expect(steps[11]).toBe('vcpu1: alloc_pages_fails(order=0)');
    expect(message).toMatch(/vcpu1's allocation of order 0 failed/);
  });

  it.each([d3bAsyncReturn, d3bLockedReturn])('$id: guest_free_page_hinting() isolates both top-order blocks, and vcpu1 fails', (d) => {
    const { steps } = race(d, {}, 'no-fake-oom');
    expect(steps).toHaveLength(14);
    expect(steps.filter((s) => s === 'vcpu0: free_one_page')).toHaveLength(2);
    expect(steps.slice(-2)).toEqual(['vcpu0: guest_free_page_hinting', 'vcpu1: alloc_pages_fails(order=0)']);
  });
});

describe('designs.md §4 row 5: pages given back after the host handled them are hinted again', () => {
  it('d3a: a block cpu0 reported and gave back with free_one_page() is isolated and hinted again for cpu1\'s capture', () => {
    const { steps, message } = race(d3aCaptureArray, { poison: 'on', capacity: 1 }, 'no-double-report');
    expect(steps).toHaveLength(18);
    expect(steps.slice(12)).toEqual([
      'hinting: hinting_fn(cpu=0, pfn=0, order=0)',
      'hinting: hyperlist_ready(cpu=0)',
      'host: hinting_vq_handler(cpu=0)',
      'hinting: free_one_page(cpu=0)',
      'hinting: hinting_fn(cpu=1, pfn=1, order=0)',
      'hinting: hyperlist_ready(cpu=1)',
    ]);
    expect(message).toMatch(/hinting reported page 0, which the host does not back/);
  });

  it('d3a, poisoning off: the first report already covers pages the host never backed', () => {
    const { steps, message } = race(d3aCaptureArray, {}, 'no-double-report');
    expect(steps).toHaveLength(15);
    expect(steps.slice(-5)).toEqual(['hinting: hinting_fn(cpu=0, pfn=0, order=0)', 'vcpu0: free_one_page', 'vcpu0: spin_unlock', 'hinting: hinting_fn(cpu=0, pfn=0, order=0)', 'hinting: hyperlist_ready(cpu=0)']);
    expect(steps).not.toContain('host: hinting_vq_handler(cpu=0)');
    expect(message).toMatch(/reported page 1/);
  });

  it('d3b: a returned block split by an allocation and freed back is captured and hinted whole again', () => {
    const { steps, message } = race(d3bAsyncReturn, { poison: 'on' }, 'no-double-report');
    expect(steps).toHaveLength(32);
    expect(
      inOrder(steps, [
        'vcpu1: guest_free_page_report',
        'host: hinting_vq_handler',
        'hinting_ack: release_buddy_pages',
        'hinting_ack: add_to_free_list',
        'vcpu0: alloc_pages(order=0, block=0)',
        'vcpu0: free_one_page',
        'vcpu0: guest_free_page_hinting',
        'vcpu0: guest_free_page_report',
      ]),
    ).toBe(true);
    expect(steps[31]).toBe('vcpu0: guest_free_page_report');
    expect(message).toMatch(/vcpu0 reported page 1/);
  });
});

describe('designs.md §4 row 16: poisoning kept on, the discarded page reads back zero', () => {
  it('d3a without 4/7: free_one_page() returns the discarded block unpoisoned and the next allocation reads zero', () => {
    const { steps, message } = race(d3aCaptureArray, { poison: 'on', capacity: 1 }, 'poison-reads-back');
    expect(steps).toEqual([
      'vcpu0: alloc_pages(order=2, block=0)',
      'vcpu0: spin_unlock',
      'vcpu0: prep_new_page',
      'vcpu0: free_pages_prepare',
      'vcpu0: free_one_page',
      'vcpu0: spin_unlock',
      'hinting: hinting_fn(cpu=0, pfn=0, order=2)',
      'hinting: hyperlist_ready(cpu=0)',
      'host: hinting_vq_handler(cpu=0)',
      'hinting: free_one_page(cpu=0)',
      'vcpu0: alloc_pages(order=0, block=0)',
      'vcpu0: spin_unlock',
      'vcpu0: prep_new_page',
    ]);
    expect(message).toBe('vcpu0 read zero from page 0 at allocation; expected poison');
  });

  it('d3b keeps poisoning too: the same zero read after release_buddy_pages()', () => {
    const { steps } = race(d3bAsyncReturn, { poison: 'on' }, 'poison-reads-back');
    expect(steps).toHaveLength(21);
    expect(steps.slice(-6)).toEqual([
      'hinting_ack: release_buddy_pages',
      'hinting_ack: page_is_buddy',
      'hinting_ack: add_to_free_list',
      'vcpu0: alloc_pages(order=0, block=0)',
      'vcpu0: spin_unlock',
      'vcpu0: prep_new_page',
    ]);
  });
});

describe('designs.md §4 row 6: release_buddy_pages() merges without zone->lock', () => {
  it('d3b-async-return: the releaser sees buddy Q free, a vCPU allocates Q under the lock, list_del() merges it anyway', () => {
    // The place laws alone (the merge law finds a shorter pair of unmerged buddies, below).
    const m = model(d3bAsyncReturn, { pages: 4, reportOrder: 1 });
    const cover = new Uint8Array(m.cfg.pages);
    const places: Invariant = { id: 'places', short: 'places', title: 'every page in one place', why: 'test only', applies: () => true, bind: () => ({ state: (s) => conservation(m, s, cover, undefined, false) }) };
    const r = explore(m, { invariants: [places] });
    const v = r.violations.get('places')!;
    const steps = shape(counterexample(m, storeParents(m, r.store), v, v.words).steps);
    expect(steps).toHaveLength(25);
    // The releaser looks at buddy Q (page_is_buddy(), no zone->lock), a vCPU allocates Q under the lock, and list_del() merges it anyway.
    expect(inOrder(steps, ['hinting_ack: release_buddy_pages', 'hinting_ack: page_is_buddy', 'vcpu0: alloc_pages(order=0, block=2)', 'hinting_ack: list_del_buddy'])).toBe(true);
    expect(steps.slice(-2)).toEqual(['vcpu0: alloc_pages(order=0, block=2)', 'hinting_ack: list_del_buddy']);
    expect(v.message).toBe("page 2 is in vcpu0's block but is isolated-tail");
    // allocator-conservation says so first, by its lock law: the unlocked merge changes the lists while a vCPU holds zone->lock.
    const { steps: unlocked, message } = race(d3bAsyncReturn, { pages: 4, reportOrder: 1 }, 'allocator-conservation');
    expect(unlocked).toHaveLength(21);
    expect(unlocked).toContain('hinting_ack: release_buddy_pages');
    expect(message).toBe('hinting_ack changed the free lists while vcpu0 held zone->lock');
  });

  it('d3b-locked-return holds allocator-conservation at the same bounds', () => {
    const r = check(d3bLockedReturn, { config: { pages: 4, reportOrder: 1 }, invariants: ['allocator-conservation'] });
    expect(r.complete).toBe(true);
    expect(r.results[0].verdict).toBe('holds');
  });

  it('with MIN at the top order a returned block has no buddy, and the lock law still shows the unlocked return', () => {
    const r = check(d3bAsyncReturn, { invariants: ['allocator-conservation'] });
    expect(r.results[0]).toMatchObject({ verdict: 'violated', depth: 19, message: 'hinting_ack changed the free lists while vcpu0 held zone->lock' });
    expect(r.results[0].trace!.steps[18].action).toBe('add_to_free_list');
    // The places and the merge law alone hold there: the lists, sets of heads, stay consistent.
    const m = model(d3bAsyncReturn, {});
    const cover = new Uint8Array(m.cfg.pages);
    const places: Invariant = { id: 'places', short: 'places', title: 'every page in one place', why: 'test only', applies: () => true, bind: () => ({ state: (s) => conservation(m, s, cover) }) };
    expect(explore(m, { invariants: [places] }).violations.size).toBe(0);
  });
});

// ---------------------------------------------------------------- steps one at a time

describe('d3a guest_free_page() and hinting_fn()', () => {
  const m = model(d3aCaptureArray); // 2 vCPUs, 4 pages, max order 2, array of 2

  /** kvm_pt[] slot of (pfn, order) on cpu0: orders 0, 1, 2 take slots 0-3, 4-5, 6. */
  const slot = (pfn: number, order: number): number => [0, 4, 6][order] + (pfn >> order);
  const arrays = (...entries: [number, number][]): number[] => {
    const n = new Array<number>(14).fill(0);
    for (const [pfn, order] of entries) n[slot(pfn, order)]++;
    return n;
  };

  it('captures at arch_free_page(), before the block is in the buddy, folds entries into free heads, and wakes the kthread when full', () => {
    // vcpu0 frees page 1; page 0 is free, pages 2-3 are a free order-1 block; (3, 0) was captured earlier.
    const s = state(m, {
      pages: [
        { owner: 'free-head', order: 0 },
        { owner: 'allocated', order: 0 },
        { owner: 'free-head', order: 1 },
        { owner: 'free-tail', order: 0 },
      ],
      freeArea: { nrFree: [1, 1, 0] },
      vcpus: [{ phase: 'in-use', head: 1, order: 0 }],
      kvmPt: { n: arrays([3, 0]) },
    });
    const next = take(m, s, action(m, 'vcpu0', 'free_pages_prepare'));
    // scan_array(): (3, 0) lies in the free block at 2 and becomes (2, 1); (1, 0) is not in the buddy yet and stays.
    expect((view(m, next) as { kvmPt: { n: number[] } }).kvmPt.n).toEqual(arrays([1, 0], [2, 1]));
    expect((view(m, next) as { hinting: { thread: string[] } }).hinting.thread).toEqual(['scanning', 'idle']);
    expect(column(m, next, 'pages', 'owner')[1]).toBe('allocated');
  });

  it('drops an entry whose free head is in the array already, and then does not wake the kthread', () => {
    // An array of 3 (with 2 a fold never meets an existing head: the entry just captured is not in the buddy yet).
    const m3 = model(d3aCaptureArray, { capacity: 3 });
    const s = state(m3, {
      pages: [
        { owner: 'allocated', order: 0 },
        { owner: 'free-head', order: 0 },
        { owner: 'free-head', order: 1 },
        { owner: 'free-tail', order: 0 },
      ],
      freeArea: { nrFree: [1, 1, 0] },
      vcpus: [{ phase: 'in-use', head: 0, order: 0 }],
      kvmPt: { n: arrays([2, 0], [3, 0]) },
    });
    const next = take(m3, s, action(m3, 'vcpu0', 'free_pages_prepare'));
    // (3, 0) folds into the head 2, which (2, 0) names already: if_exist(), so it is dropped and the array is no longer full.
    expect((view(m3, next) as { kvmPt: { n: number[] } }).kvmPt.n).toEqual(arrays([0, 0], [2, 0]));
    expect((view(m3, next) as { hinting: { thread: string[] } }).hinting.thread).toEqual(['idle', 'idle']);
  });

  it('drops a capture while the array is being processed', () => {
    const s = state(m, {
      pages: [{ owner: 'allocated' }, { owner: 'allocated' }, { owner: 'allocated' }, { owner: 'allocated' }],
      freeArea: { nrFree: [0, 0, 0] },
      vcpus: [{ phase: 'in-use', head: 0, order: 2 }],
      hinting: { thread: ['scanning', 'idle'] },
    });
    const next = take(m, s, action(m, 'vcpu0', 'free_pages_prepare'));
    expect((view(m, next) as { kvmPt: { n: number[] } }).kvmPt.n.every((x) => x === 0)).toBe(true);
  });

  it('hinting_fn() isolates the free block that holds the entry, whatever its order, and waits for the lock', () => {
    const n = arrays([1, 0]);
    const s = state(m, { hinting: { thread: ['scanning', 'idle'] }, kvmPt: { n } });
    const walk = action(m, 'hinting', 'hinting_fn', { cpu: 0, pfn: 1, order: 0 });
    expect(step(m, state(m, { hinting: { thread: ['scanning', 'idle'] }, kvmPt: { n }, zone: { lock: 'vcpu1' } }), walk)).toBeNull();
    const next = take(m, s, walk);
    expect(column(m, next, 'pages', 'owner')).toEqual(['isolated-head', 'isolated-tail', 'isolated-tail', 'isolated-tail']);
    expect(column(m, next, 'hyper', 'cpu')).toEqual(['cpu0', 'none', 'none', 'none']);
    expect((view(m, next) as { hinting: { thread: string[] } }).hinting.thread).toEqual(['isolated', 'idle']);
    expect((view(m, next) as { zone: { lock: string } }).zone.lock).toBe('free');
  });
});

describe('d3b release_buddy_pages()', () => {
  // 2 vCPUs, 4 pages, MIN 1: block 0 (order 1) answered by the host, its buddy 2 free.
  const returned = (d: Design, lock = 'free'): { m: Model; s: State } => {
    const m = model(d, { pages: 4, reportOrder: 1 });
    const s = state(m, {
      pages: [
        { owner: 'isolated-head', order: 1 },
        { owner: 'isolated-tail', order: 0 },
        { owner: 'free-head', order: 1 },
        { owner: 'free-tail', order: 0 },
      ],
      freeArea: { nrFree: [0, 1, 0] },
      batch: [{ tag: 'returned' }],
      zone: { lock },
      vcpus: lock === 'free' ? [] : [{ phase: 'alloc-locked' }],
    });
    return { m, s };
  };

  it('without the lock merges even while a vCPU holds it, and list_del() takes the buddy as page_is_buddy() saw it', () => {
    const { m, s } = returned(d3bAsyncReturn, 'vcpu1');
    let t = take(m, s, action(m, 'hinting_ack', 'release_buddy_pages'));
    t = take(m, t, action(m, 'hinting_ack', 'page_is_buddy'));
    expect((view(m, t) as { hinting_ack: { phase: string } }).hinting_ack.phase).toBe('buddy-free');
    t = take(m, t, action(m, 'hinting_ack', 'list_del_buddy'));
    expect(column(m, t, 'pages', 'owner')).toEqual(['isolated-head', 'isolated-tail', 'isolated-tail', 'isolated-tail']);
    expect((view(m, t) as { freeArea: { nrFree: number[] } }).freeArea.nrFree).toEqual([0, 0, 0]);
    t = take(m, t, action(m, 'hinting_ack', 'page_is_buddy'));
    t = take(m, t, action(m, 'hinting_ack', 'add_to_free_list'));
    expect(column(m, t, 'pages', 'owner')).toEqual(['free-head', 'free-tail', 'free-tail', 'free-tail']);
    expect((view(m, t) as { freeArea: { nrFree: number[] } }).freeArea.nrFree).toEqual([0, 0, 1]);
  });

  it('with the fix waits for the lock and merges in one critical section, without an enqueue', () => {
    const held = returned(d3bLockedReturn, 'vcpu1');
    expect(step(held.m, held.s, action(held.m, 'hinting_ack', 'release_buddy_pages'))).toBeNull();
    const { m, s } = returned(d3bLockedReturn);
    const t = take(m, s, action(m, 'hinting_ack', 'release_buddy_pages'));
    expect(column(m, t, 'pages', 'owner')).toEqual(['free-head', 'free-tail', 'free-tail', 'free-tail']);
    expect((view(m, t) as { freePages: { n: number[] } }).freePages.n.every((x) => x === 0)).toBe(true);
    expect((view(m, t) as { zone: { lock: string } }).zone.lock).toBe('free');
  });
});

// ---------------------------------------------------------------- step rules

describe('step rules on every reachable state', () => {
  const small: { d: Design; config: Partial<Config> }[] = [
    { d: d3aCaptureArray, config: { cpus: 1 } },
    { d: d3aCaptureArray, config: { cpus: 1, poison: 'on' } },
    { d: d3bAsyncReturn, config: { pages: 4, reportOrder: 1 } },
    { d: d3bLockedReturn, config: { pages: 4, reportOrder: 1 } },
  ];

  const same = (a: State, b: State): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

  it.each(small)('$d.id $config: a disabled step writes nothing, a step is a function of the state', ({ d, config }) => {
    const m = model(d, config);
    const states = reachable(m);
    expect(states.length).toBeGreaterThan(100);
    const problems: string[] = [];
    for (const s of states) {
      for (const a of m.actions) {
        const one = s.slice();
        if (!a.apply(one)) {
          if (!same(one, s)) problems.push(`${m.actors[a.actor]} ${a.name} ${JSON.stringify(a.args)} is disabled but wrote its copy`);
          continue;
        }
        const two = s.slice();
        if (!a.apply(two) || !same(one, two)) problems.push(`${m.actors[a.actor]} ${a.name} ${JSON.stringify(a.args)} is not deterministic`);
        const bad = m.layout.validate(one);
        if (bad !== null) problems.push(`${m.actors[a.actor]} ${a.name} wrote ${bad}`);
      }
      if (problems.length > 0) break;
    }
    expect(problems).toEqual([]);
  });
});
