/**
 * One transition at a time: when each step is enabled, when it is not, and
 * what it changes. States are written as readable views (the layout's
 * `fromView`) over the design's booted state, and steps are looked up in the
 * model's action table by actor, name and arguments, as a trace shows them.
 */
import { describe, expect, it } from 'vitest';
import { action, column, model, reachable, state, step, take } from '../helpers.js';
import { d1ArchFreePage, d1HintAfterPoison } from '../../model/designs/d1/arch-free-page.js';
import { d5AckBeforeDiscard, d5NoIsolate, d5PageReporting, d5ReportUnderLock } from '../../model/designs/d5/catalogue.js';
import type { Config } from '../../model/config.js';
import { discardPage } from '../../model/host.js';
import type { RowView, Value } from '../../model/layout.js';
import { resolveConfig } from '../../model/system.js';
import type { Action, Model, State } from '../../model/types.js';

// ---------------------------------------------------------------- helpers

/** Every action of `actor` named `name`. */
function actionsOf(m: Model, actor: string, name: string): Action[] {
  return m.actions.filter((a) => m.actors[a.actor] === actor && a.name === name);
}

function enabled(m: Model, s: State, a: Action): boolean {
  return step(m, s, a) !== null;
}

interface Blk {
  readonly at: number;
  readonly order: number;
  readonly as: 'free' | 'isolated' | 'allocated';
  readonly reported?: boolean;
}

/** pages rows and nr_free for a zone cut into `blocks` (which must cover every page). */
function zone(m: Model, blocks: readonly Blk[]): { pages: RowView[]; freeArea: { nrFree: number[] } } {
  const pages: RowView[] = Array.from({ length: m.cfg.pages }, () => ({}));
  const nrFree = new Array<number>(m.cfg.maxOrder + 1).fill(0);
  for (const b of blocks) {
    for (let p = b.at; p < b.at + (1 << b.order); p++) {
      expect(pages[p].owner, `page ${p} is in two blocks`).toBeUndefined();
      const head = p === b.at;
      const owner = b.as === 'allocated' ? 'allocated' : `${b.as}-${head ? 'head' : 'tail'}`;
      pages[p] = { owner, order: head && b.as !== 'allocated' ? b.order : 0, reported: head && Boolean(b.reported) };
    }
    if (b.as === 'free') nrFree[b.order]++;
  }
  pages.forEach((row, p) => expect(row.owner, `page ${p} is in no block`).toBeDefined());
  return { pages, freeArea: { nrFree } };
}

/** A readable field of a state: a record field, or one row's field of a table group. */
function read(m: Model, s: State, group: string, field: string, row?: number): Value | Value[] {
  const g = m.layout.view(s, true)[group];
  return Array.isArray(g) ? g[row ?? 0][field] : g[field];
}

// ---------------------------------------------------------------- vCPU steps

describe('vCPU alloc_pages', () => {
  const m = model(d5PageReporting); // 2 vCPUs, 8 pages, max order 2, R 1, capacity 2

  it('is disabled while another actor holds the zone lock', () => {
    const a = action(m, 'vcpu0', 'alloc_pages', { order: 0, block: 0 });
    expect(enabled(m, m.initial(), a)).toBe(true);
    for (const holder of ['vcpu1', 'reporter', 'vcpu0']) {
      expect(enabled(m, state(m, { zone: { lock: holder } }), a), `lock held by ${holder}`).toBe(false);
    }
  });

  it('is only enabled for a free head of the smallest non-empty order at least the requested one', () => {
    const s = state(m, {
      ...zone(m, [
        { at: 0, order: 2, as: 'free' },
        { at: 4, order: 1, as: 'free' },
        { at: 6, order: 0, as: 'free' },
        { at: 7, order: 0, as: 'allocated' },
      ]),
      vcpus: [{}, { phase: 'in-use', head: 7, order: 0 }],
    });
    const canTake = (order: number, block: number): boolean => enabled(m, s, action(m, 'vcpu0', 'alloc_pages', { order, block }));
    // order 0: only the order-0 block at 6
    expect([0, 1, 2, 3, 4, 5, 6, 7].filter((b) => canTake(0, b))).toEqual([6]);
    // order 1: only the order-1 block at 4, not the larger block at 0
    expect([0, 2, 4, 6].filter((b) => canTake(1, b))).toEqual([4]);
    // order 2: the order-2 block at 0
    expect([0, 4].filter((b) => canTake(2, b))).toEqual([0]);
    // a vCPU that is not idle cannot allocate
    expect(enabled(m, s, action(m, 'vcpu1', 'alloc_pages', { order: 0, block: 6 }))).toBe(false);
  });

  it('takes the lock, splits the block and leaves the upper halves as unreported free heads of lower orders', () => {
    const s = state(m, {
      ...zone(m, [
        { at: 0, order: 2, as: 'free', reported: true },
        { at: 4, order: 2, as: 'free', reported: true },
      ]),
    });
    const next = take(m, s, action(m, 'vcpu0', 'alloc_pages', { order: 0, block: 4 }));
    expect(read(m, next, 'zone', 'lock')).toBe('vcpu0');
    expect(read(m, next, 'vcpus', 'phase', 0)).toBe('alloc-locked');
    expect(read(m, next, 'vcpus', 'head', 0)).toBe(4);
    expect(read(m, next, 'vcpus', 'order', 0)).toBe(0);
    expect(column(m, next, 'pages', 'owner')).toEqual([
      'free-head', 'free-tail', 'free-tail', 'free-tail', 'allocated', 'free-head', 'free-head', 'free-tail',
    ]);
    expect(column(m, next, 'pages', 'order')).toEqual([2, 0, 0, 0, 0, 0, 1, 0]);
    expect(column(m, next, 'pages', 'reported')).toEqual([true, false, false, false, false, false, false, false]);
    expect(read(m, next, 'freeArea', 'nrFree')).toEqual([1, 1, 1]);
  });
});

describe('vCPU spin_unlock', () => {
  const m = model(d5PageReporting);

  it('releases the lock after an allocation and moves the vCPU to allocated', () => {
    const s = take(m, m.initial(), action(m, 'vcpu0', 'alloc_pages', { order: 1, block: 0 }));
    const [afterAlloc, afterFree] = actionsOf(m, 'vcpu0', 'spin_unlock');
    expect(enabled(m, s, afterFree)).toBe(false);
    const next = take(m, s, afterAlloc);
    expect(read(m, next, 'zone', 'lock')).toBe('free');
    expect(read(m, next, 'vcpus', 'phase', 0)).toBe('allocated');
    expect(read(m, next, 'vcpus', 'head', 0)).toBe(0);
    expect(read(m, next, 'vcpus', 'order', 0)).toBe(1);
  });

  it('releases the lock after a free and moves the vCPU to idle', () => {
    const s = state(m, { zone: { lock: 'vcpu0' }, vcpus: [{ phase: 'free-locked' }] });
    const [afterAlloc, afterFree] = actionsOf(m, 'vcpu0', 'spin_unlock');
    expect(enabled(m, s, afterAlloc)).toBe(false);
    const next = take(m, s, afterFree);
    expect(read(m, next, 'zone', 'lock')).toBe('free');
    expect(read(m, next, 'vcpus', 'phase', 0)).toBe('idle');
  });

  it('is disabled when the vCPU does not hold the lock', () => {
    const s = state(m, { zone: { lock: 'reporter' }, vcpus: [{ phase: 'alloc-locked' }] });
    for (const a of actionsOf(m, 'vcpu0', 'spin_unlock')) expect(enabled(m, s, a)).toBe(false);
  });
});

describe('vCPU prep_new_page', () => {
  /** vcpu0 holds the order-1 block at 0, just allocated; page 0 was discarded by the host, page 1 holds the poison. */
  function allocatedAfterDiscard(m: Model): State {
    const s = state(m, {
      ...zone(m, [
        { at: 0, order: 1, as: 'allocated' },
        { at: 2, order: 1, as: 'free' },
        { at: 4, order: 2, as: 'free' },
      ]),
      vcpus: [{ phase: 'allocated', head: 0, order: 1 }],
    });
    discardPage(m, s, 0);
    return s;
  }

  it('with poison on, reading a page the host discarded with MADV_DONTNEED flags a bad page', () => {
    const m = model(d5PageReporting, { poison: 'on', host: 'dontneed' });
    const s = allocatedAfterDiscard(m);
    expect(column(m, s, 'memory', 'content').slice(0, 2)).toEqual(['zero', 'poison']);
    const next = take(m, s, action(m, 'vcpu0', 'prep_new_page'));
    expect(read(m, next, 'events', 'badPage')).toBe(1); // page 0, + 1
    expect(read(m, next, 'events', 'badRead')).toBe('zero');
    expect(read(m, next, 'vcpus', 'phase', 0)).toBe('in-use');
    expect(column(m, next, 'memory', 'content').slice(0, 2)).toEqual(['data', 'data']);
    expect(column(m, next, 'memory', 'backing').slice(0, 2)).toEqual(['backed', 'backed']);
  });

  it('with poison on, a host that refills with the poison on fault raises no bad page', () => {
    const m = model(d5PageReporting, { poison: 'on', host: 'poison-on-fault' });
    const s = allocatedAfterDiscard(m);
    expect(read(m, s, 'memory', 'backing', 0)).toBe('unbacked');
    const next = take(m, s, action(m, 'vcpu0', 'prep_new_page'));
    expect(read(m, next, 'events', 'badPage')).toBe(0);
    expect(read(m, next, 'vcpus', 'phase', 0)).toBe('in-use');
    expect(column(m, next, 'memory', 'content').slice(0, 2)).toEqual(['data', 'data']);
  });

  it('under madv-free has two outcomes: the old content reads back, or a zero page', () => {
    const m = model(d5PageReporting, { poison: 'on', host: 'madv-free' });
    const s = allocatedAfterDiscard(m);
    const prep = actionsOf(m, 'vcpu0', 'prep_new_page');
    expect(prep.map((a) => a.args)).toEqual([{ fault: 'old' }, { fault: 'zero' }]);
    const old = take(m, s, action(m, 'vcpu0', 'prep_new_page', { fault: 'old' }));
    expect(read(m, old, 'events', 'badPage')).toBe(0);
    const zero = take(m, s, action(m, 'vcpu0', 'prep_new_page', { fault: 'zero' }));
    expect(read(m, zero, 'events', 'badPage')).toBe(1);
    expect(read(m, zero, 'events', 'badRead')).toBe('zero');
  });

  it('without madv-free there is a single prep_new_page and no zero-fault outcome', () => {
    const m = model(d5PageReporting, { poison: 'on', host: 'dontneed' });
    expect(actionsOf(m, 'vcpu0', 'prep_new_page').map((a) => a.args)).toEqual([{}]);
  });

  it('is disabled unless the vCPU has just allocated', () => {
    const m = model(d5PageReporting, { poison: 'on' });
    const s = allocatedAfterDiscard(m);
    const inUse = state(m, { vcpus: [{ phase: 'in-use' }] }, s);
    expect(enabled(m, inUse, action(m, 'vcpu0', 'prep_new_page'))).toBe(false);
  });
});

describe('vCPU free_pages_prepare', () => {
  it('with poison on writes the poison to every page of the block and backs it again', () => {
    const m = model(d5PageReporting, { poison: 'on' });
    const s = state(m, {
      ...zone(m, [
        { at: 0, order: 1, as: 'allocated' },
        { at: 2, order: 1, as: 'free' },
        { at: 4, order: 2, as: 'free' },
      ]),
      vcpus: [{ phase: 'in-use', head: 0, order: 1 }],
      memory: [{ content: 'data' }, { content: 'zero', backing: 'unbacked' }],
    });
    const next = take(m, s, action(m, 'vcpu0', 'free_pages_prepare'));
    expect(read(m, next, 'vcpus', 'phase', 0)).toBe('prepared');
    expect(column(m, next, 'memory', 'content').slice(0, 2)).toEqual(['poison', 'poison']);
    expect(column(m, next, 'memory', 'backing').slice(0, 2)).toEqual(['backed', 'backed']);
    expect(read(m, next, 'events', 'hintBy')).toBe('none');
  });

  it('with D1 and a block of order at least R parks the vCPU in a hint that covers the block', () => {
    const m = model(d1ArchFreePage); // R 2
    const s = state(m, {
      ...zone(m, [
        { at: 0, order: 2, as: 'allocated' },
        { at: 4, order: 2, as: 'free' },
      ]),
      vcpus: [{ phase: 'in-use', head: 0, order: 2 }],
      memory: [0, 1, 2, 3].map(() => ({ content: 'data', backing: 'backed' })),
    });
    const next = take(m, s, action(m, 'vcpu0', 'free_pages_prepare'));
    expect(read(m, next, 'vcpus', 'phase', 0)).toBe('hinting');
    expect(column(m, next, 'memory', 'inflight')).toEqual(['hinted', 'hinted', 'hinted', 'hinted', 'none', 'none', 'none', 'none']);
    expect(read(m, next, 'events', 'hintBy')).toBe('vcpu0');
    // The hint comes before kernel_poison_pages(): nothing written yet.
    expect(column(m, next, 'memory', 'content').slice(0, 4)).toEqual(['data', 'data', 'data', 'data']);
  });

  it('with D1 and a block below R frees without a hint', () => {
    const m = model(d1ArchFreePage);
    const s = state(m, {
      ...zone(m, [
        { at: 0, order: 1, as: 'allocated' },
        { at: 2, order: 1, as: 'free' },
        { at: 4, order: 2, as: 'free' },
      ]),
      vcpus: [{ phase: 'in-use', head: 0, order: 1 }],
    });
    const next = take(m, s, action(m, 'vcpu0', 'free_pages_prepare'));
    expect(read(m, next, 'vcpus', 'phase', 0)).toBe('prepared');
    expect(column(m, next, 'memory', 'inflight').every((v) => v === 'none')).toBe(true);
    expect(read(m, next, 'events', 'hintBy')).toBe('none');
  });
});

describe('vCPU free_one_page', () => {
  const m = model(d5PageReporting); // R 1

  /** vcpu0 frees page 1; page 0 (its buddy) is a reported free order-0 block; vcpu1 uses 2-3. */
  const s = state(m, {
    ...zone(m, [
      { at: 0, order: 0, as: 'free', reported: true },
      { at: 1, order: 0, as: 'allocated' },
      { at: 2, order: 1, as: 'allocated' },
      { at: 4, order: 2, as: 'free', reported: true },
    ]),
    vcpus: [{ phase: 'prepared', head: 1, order: 0 }, { phase: 'in-use', head: 2, order: 1 }],
    reporter: { state: 'idle' },
  });

  it('takes the lock and merges with a free buddy, clearing its PageReported', () => {
    const next = take(m, s, action(m, 'vcpu0', 'free_one_page'));
    expect(read(m, next, 'zone', 'lock')).toBe('vcpu0');
    expect(read(m, next, 'vcpus', 'phase', 0)).toBe('free-locked');
    expect(read(m, next, 'vcpus', 'head', 0)).toBe(0);
    expect(read(m, next, 'vcpus', 'order', 0)).toBe(0);
    expect(column(m, next, 'pages', 'owner').slice(0, 2)).toEqual(['free-head', 'free-tail']);
    expect(column(m, next, 'pages', 'order').slice(0, 2)).toEqual([1, 0]);
    expect(column(m, next, 'pages', 'reported')).toEqual([false, false, false, false, true, false, false, false]);
    expect(read(m, next, 'freeArea', 'nrFree')).toEqual([0, 1, 1]);
  });

  it('with D5 requests a reporting pass when the merged order reaches R', () => {
    const next = take(m, s, action(m, 'vcpu0', 'free_one_page'));
    expect(read(m, next, 'reporter', 'state')).toBe('requested');
  });

  it('with D5 does not request a pass for a block that stays below R', () => {
    const lone = state(m, {
      ...zone(m, [
        { at: 0, order: 0, as: 'allocated' },
        { at: 1, order: 0, as: 'allocated' },
        { at: 2, order: 1, as: 'free' },
        { at: 4, order: 2, as: 'free' },
      ]),
      vcpus: [{ phase: 'prepared', head: 1, order: 0 }, { phase: 'in-use', head: 0, order: 0 }],
      reporter: { state: 'idle' },
    });
    const next = take(m, lone, action(m, 'vcpu0', 'free_one_page'));
    expect(read(m, next, 'pages', 'owner', 1)).toBe('free-head');
    expect(read(m, next, 'pages', 'order', 1)).toBe(0);
    expect(read(m, next, 'reporter', 'state')).toBe('idle');
  });

  it('is disabled while another actor holds the zone lock', () => {
    expect(enabled(m, state(m, { zone: { lock: 'reporter' } }, s), action(m, 'vcpu0', 'free_one_page'))).toBe(false);
  });
});

// ---------------------------------------------------------------- D5 reporter and host

describe('D5 page_reporting_process', () => {
  const m = model(d5PageReporting);
  const a = action(m, 'reporter', 'page_reporting_process');

  it('starts a pass from a pending request: state active, the zone check next', () => {
    const s = m.initial(); // booted: requested (the initial flush)
    expect(read(m, s, 'reporter', 'state')).toBe('requested');
    const next = take(m, s, a);
    expect(read(m, next, 'reporter', 'state')).toBe('active');
    expect(read(m, next, 'reporter', 'phase')).toBe('zone');
  });

  it('is disabled without a request, or while a pass is running', () => {
    expect(enabled(m, state(m, { reporter: { state: 'idle' } }), a)).toBe(false);
    expect(enabled(m, state(m, { reporter: { state: 'requested', phase: 'waiting' } }), a)).toBe(false);
  });
});

describe('D5 page_reporting_process_zone: the low-watermark gate', () => {
  const m = model(d5PageReporting); // 8 pages, R 1, capacity 2, min 1: low 1, the gate needs more than 1 + (2 << 1) = 5 free pages
  const pass = action(m, 'reporter', 'page_reporting_process_zone');
  const refuse = action(m, 'reporter', 'process_zone_refused');

  it('walks from order R when more than low + CAPACITY << R pages are free', () => {
    const s = state(m, { reporter: { state: 'active', phase: 'zone' } });
    expect(enabled(m, s, refuse)).toBe(false);
    const next = take(m, s, pass);
    expect(read(m, next, 'reporter', 'phase')).toBe('walking');
    expect(read(m, next, 'reporter', 'order')).toBe(m.cfg.reportOrder);
    expect(read(m, next, 'zone', 'lock')).toBe('free');
  });

  /** 5 free pages: not above the mark. Pages 4-5 were owed a hint by a notifying free. */
  const low = (requestState: string): State =>
    state(m, {
      ...zone(m, [
        { at: 0, order: 2, as: 'allocated' },
        { at: 4, order: 1, as: 'free' },
        { at: 6, order: 0, as: 'free' },
        { at: 7, order: 0, as: 'free' },
      ]),
      vcpus: [{ phase: 'in-use', head: 0, order: 2 }],
      memory: [{}, {}, {}, {}, { backing: 'backed' }, { backing: 'backed' }],
      obligations: [{}, {}, {}, {}, { owed: true }, { owed: true }],
      reporter: { state: requestState, phase: 'zone' },
    });

  it('cancels the request at or below the mark: the pass ends and what it was asked for is waived', () => {
    expect(enabled(m, low('active'), pass)).toBe(false);
    const next = take(m, low('active'), refuse);
    expect(read(m, next, 'reporter', 'phase')).toBe('idle');
    expect(read(m, next, 'reporter', 'state')).toBe('idle');
    expect(column(m, next, 'obligations', 'owed').every((o) => o === false)).toBe(true);
    expect(read(m, next, 'zone', 'lock')).toBe('free');
    // A free that asked again meanwhile keeps its request: cmpxchg(ACTIVE, IDLE) fails and the work is rescheduled.
    expect(read(m, take(m, low('requested'), refuse), 'reporter', 'state')).toBe('requested');
  });
});

describe('D5 page_reporting_cycle', () => {
  const m = model(d5PageReporting); // 8 pages, max order 2, R 1, capacity 2, min watermark 1

  /** Four order-1 blocks: 0, 4 and 6 unreported, 2 reported. The worker has just reached order 1. */
  const s = state(m, {
    ...zone(m, [
      { at: 0, order: 1, as: 'free' },
      { at: 2, order: 1, as: 'free', reported: true },
      { at: 4, order: 1, as: 'free' },
      { at: 6, order: 1, as: 'free' },
    ]),
    reporter: { state: 'active', phase: 'walking', order: 1 },
  });

  it('when more unreported blocks are eligible than fit, takes exactly capacity of them and never a reported one', () => {
    const taken = actionsOf(m, 'reporter', 'page_reporting_cycle')
      .filter((a) => a.args.order === 1 && enabled(m, s, a))
      .map((a) => a.args.isolate);
    expect(taken.sort()).toEqual(['0,4', '0,6', '4,6']);
  });

  it('with the sgl full and another unreported block met, drops the lock to report, keeping the budget computed under the lock', () => {
    const next = take(m, s, action(m, 'reporter', 'page_reporting_cycle', { order: 1, isolate: '0,4' }));
    expect(column(m, next, 'pages', 'owner')).toEqual([
      'isolated-head', 'isolated-tail', 'free-head', 'free-tail', 'isolated-head', 'isolated-tail', 'free-head', 'free-tail',
    ]);
    expect(column(m, next, 'pages', 'order')).toEqual([1, 0, 1, 0, 1, 0, 1, 0]);
    expect(read(m, next, 'freeArea', 'nrFree')).toEqual([0, 2, 0]);
    expect(read(m, next, 'zone', 'lock')).toBe('free');
    expect(read(m, next, 'reporter', 'phase')).toBe('unlocked');
    expect(read(m, next, 'reporter', 'order')).toBe(1);
    // DIV_ROUND_UP(nr_free = 4, CAPACITY * 16) = 1, kept as budget + 1.
    expect(read(m, next, 'reporter', 'budget')).toBe(2);
  });

  it('only runs at the order the walk is at', () => {
    for (const a of actionsOf(m, 'reporter', 'page_reporting_cycle').filter((x) => x.args.order === 2)) {
      expect(enabled(m, s, a), a.args.isolate as string).toBe(false);
    }
  });

  it('is disabled while a vCPU holds the zone lock', () => {
    const locked = state(m, { zone: { lock: 'vcpu1' } }, s);
    for (const name of ['page_reporting_cycle', 'isolate_refused', 'budget_spent']) {
      for (const a of actionsOf(m, 'reporter', name)) expect(enabled(m, locked, a)).toBe(false);
    }
  });

  it('with room to spare takes every eligible block, drops the lock and moves up an order', () => {
    const few = state(m, {
      ...zone(m, [
        { at: 0, order: 1, as: 'free' },
        { at: 2, order: 1, as: 'allocated' },
        { at: 4, order: 2, as: 'free', reported: true },
      ]),
      vcpus: [{ phase: 'in-use', head: 2, order: 1 }],
      reporter: { state: 'active', phase: 'walking', order: 1 },
    });
    const enabledTakes = actionsOf(m, 'reporter', 'page_reporting_cycle').filter((a) => enabled(m, few, a)).map((a) => a.args.isolate);
    expect(enabledTakes).toEqual(['0']);
    const next = take(m, few, action(m, 'reporter', 'page_reporting_cycle', { order: 1, isolate: '0' }));
    expect(read(m, next, 'pages', 'owner', 0)).toBe('isolated-head');
    expect(read(m, next, 'zone', 'lock')).toBe('free');
    expect(read(m, next, 'reporter', 'phase')).toBe('walking');
    expect(read(m, next, 'reporter', 'order')).toBe(2);
  });

  it("stops where __isolate_free_page() fails on min + 2^order, waiving the blocks it leaves on the list", () => {
    // 4 free pages: the first order-1 isolation leaves 2, not above 1 + 2, so the second is refused.
    const tight = state(m, {
      ...zone(m, [
        { at: 0, order: 1, as: 'free' },
        { at: 2, order: 1, as: 'free' },
        { at: 4, order: 2, as: 'allocated' },
      ]),
      vcpus: [{ phase: 'in-use', head: 4, order: 2 }],
      memory: [{ backing: 'backed' }, { backing: 'backed' }, { backing: 'backed' }, { backing: 'backed' }],
      obligations: [{ owed: true }, { owed: true }, { owed: true }, { owed: true }],
      reporter: { state: 'active', phase: 'walking', order: 1 },
    });
    expect(actionsOf(m, 'reporter', 'page_reporting_cycle').filter((a) => enabled(m, tight, a))).toEqual([]);
    const refused = actionsOf(m, 'reporter', 'isolate_refused').filter((a) => enabled(m, tight, a)).map((a) => a.args.isolate);
    expect(refused.sort()).toEqual(['0', '2']);
    const next = take(m, tight, action(m, 'reporter', 'isolate_refused', { order: 1, isolate: '0' }));
    expect(read(m, next, 'pages', 'owner', 0)).toBe('isolated-head');
    expect(read(m, next, 'pages', 'owner', 2)).toBe('free-head');
    expect(column(m, next, 'obligations', 'owed').slice(0, 4)).toEqual([true, true, false, false]);
    expect(read(m, next, 'zone', 'lock')).toBe('free');
    expect(read(m, next, 'reporter', 'order')).toBe(2);
  });

  it('resumed after a drain with its budget spent leaves the list and asks for another pass instead of isolating', () => {
    const spent = state(m, { zone: { lock: 'reporter' }, reporter: { budget: 0 } }, s);
    expect(actionsOf(m, 'reporter', 'page_reporting_cycle').filter((a) => enabled(m, spent, a))).toEqual([]);
    const next = take(m, spent, action(m, 'reporter', 'budget_spent', { order: 1 }));
    expect(read(m, next, 'reporter', 'state')).toBe('requested');
    expect(read(m, next, 'reporter', 'order')).toBe(2);
    expect(read(m, next, 'zone', 'lock')).toBe('free');
    expect(column(m, next, 'pages', 'owner').filter((o) => o === 'isolated-head')).toEqual([]);
    // A fresh list has a budget of at least 1: the budget is never spent on entry.
    expect(enabled(m, s, action(m, 'reporter', 'budget_spent', { order: 1 }))).toBe(false);
  });

  it('carries a full sgl into the next list and reports it at that list\'s first unreported block', () => {
    const carried = state(m, {
      ...zone(m, [
        { at: 0, order: 1, as: 'isolated' },
        { at: 2, order: 1, as: 'isolated' },
        { at: 4, order: 2, as: 'free' },
      ]),
      reporter: { state: 'active', phase: 'walking', order: 2 },
    });
    const next = take(m, carried, action(m, 'reporter', 'page_reporting_cycle', { order: 2, isolate: 'none' }));
    expect(read(m, next, 'reporter', 'phase')).toBe('unlocked');
    expect(read(m, next, 'reporter', 'leftover')).toBe(false);
    expect(read(m, next, 'pages', 'owner', 4)).toBe('free-head');
  });

  it('at the last order reports the leftover batch without the lock', () => {
    const leftover = state(m, {
      ...zone(m, [
        { at: 0, order: 1, as: 'isolated' },
        { at: 2, order: 1, as: 'allocated' },
        { at: 4, order: 2, as: 'free', reported: true },
      ]),
      vcpus: [{ phase: 'in-use', head: 2, order: 1 }],
      reporter: { state: 'active', phase: 'walking', order: 2 },
    });
    const next = take(m, leftover, action(m, 'reporter', 'page_reporting_cycle', { order: 2, isolate: 'none' }));
    expect(read(m, next, 'zone', 'lock')).toBe('free');
    expect(read(m, next, 'reporter', 'phase')).toBe('unlocked');
    expect(read(m, next, 'reporter', 'leftover')).toBe(true);
  });

  it('at the last order with nothing batched ends the pass, idle unless a free asked for another', () => {
    const done = (requestState: string): State =>
      state(m, {
        ...zone(m, [
          { at: 0, order: 2, as: 'free', reported: true },
          { at: 4, order: 2, as: 'allocated' },
        ]),
        vcpus: [{ phase: 'in-use', head: 4, order: 2 }],
        reporter: { state: requestState, phase: 'walking', order: 2 },
      });
    const a = action(m, 'reporter', 'page_reporting_cycle', { order: 2, isolate: 'none' });
    const fromActive = take(m, done('active'), a);
    expect(read(m, fromActive, 'reporter', 'phase')).toBe('idle');
    expect(read(m, fromActive, 'reporter', 'state')).toBe('idle');
    expect(read(m, fromActive, 'zone', 'lock')).toBe('free');
    const fromRequested = take(m, done('requested'), a);
    expect(read(m, fromRequested, 'reporter', 'phase')).toBe('idle');
    expect(read(m, fromRequested, 'reporter', 'state')).toBe('requested');
  });
});

describe('D5 reporter report and page_reporting_drain', () => {
  const m = model(d5PageReporting);

  /** A full batch (0 and 4, order 1) isolated, the lock dropped for the report; the list's budget was 1. */
  const unlocked = state(m, {
    ...zone(m, [
      { at: 0, order: 1, as: 'isolated' },
      { at: 2, order: 1, as: 'free' },
      { at: 4, order: 1, as: 'isolated' },
      { at: 6, order: 1, as: 'allocated' },
    ]),
    vcpus: [{ phase: 'in-use', head: 6, order: 1 }],
    reporter: { state: 'active', phase: 'unlocked', order: 1, budget: 2 },
  });

  it('has no spin_unlock of its own: the cycle drops the lock in the step that fills the batch', () => {
    expect(actionsOf(m, 'reporter', 'spin_unlock')).toEqual([]);
  });

  it('report puts the batch in flight, posts the buffer and waits', () => {
    const next = take(m, unlocked, action(m, 'reporter', 'report'));
    expect(column(m, next, 'memory', 'inflight')).toEqual(['hinted', 'hinted', 'none', 'none', 'hinted', 'hinted', 'none', 'none']);
    expect(read(m, next, 'reporter', 'vq')).toBe('posted');
    expect(read(m, next, 'reporter', 'phase')).toBe('waiting');
    expect(read(m, next, 'events', 'hintBy')).toBe('reporter');
    expect(read(m, next, 'zone', 'lock')).toBe('free');
  });

  /** The host returned the buffer; page 2-3 (the buddy of 0) is free, page 6-7 (buddy of 4) is in use. */
  const returned = state(m, { reporter: { phase: 'waiting', vq: 'done' } }, unlocked);
  const drain = action(m, 'reporter', 'page_reporting_drain');

  it('page_reporting_drain puts every block back, marks Reported only a block that is still a free head of its order, and resumes the list with one report less', () => {
    const next = take(m, returned, drain);
    expect(read(m, next, 'zone', 'lock')).toBe('reporter');
    expect(read(m, next, 'reporter', 'phase')).toBe('walking');
    expect(read(m, next, 'reporter', 'order')).toBe(1);
    expect(read(m, next, 'reporter', 'budget')).toBe(1);
    expect(read(m, next, 'reporter', 'vq')).toBe('idle');
    // 0 merged with its free buddy 2 into an order-2 block: not the block that was reported.
    expect(column(m, next, 'pages', 'owner')).toEqual([
      'free-head', 'free-tail', 'free-tail', 'free-tail', 'free-head', 'free-tail', 'allocated', 'allocated',
    ]);
    expect(column(m, next, 'pages', 'order')).toEqual([2, 0, 0, 0, 1, 0, 0, 0]);
    expect(column(m, next, 'pages', 'reported')).toEqual([false, false, false, false, true, false, false, false]);
    expect(read(m, next, 'freeArea', 'nrFree')).toEqual([0, 1, 1]);
    // __putback_isolated_page() skips the report notify: no new pass is requested.
    expect(read(m, next, 'reporter', 'state')).toBe('active');
  });

  it('the resumed loop keeps the budget it had: two reports per list and pass at these sizes, then budget_spent', () => {
    // Four unreported order-0 blocks, none beside a free buddy (the drains merge nothing): after two reports the budget (1) is spent.
    const mm = model(d5PageReporting, { reportOrder: 0, capacity: 1 });
    const many = state(mm, {
      ...zone(mm, [0, 1, 2, 3, 4, 5, 6, 7].map((at) => ({ at, order: 0, as: at % 2 === 0 ? ('free' as const) : ('allocated' as const) }))),
      reporter: { state: 'active', phase: 'walking', order: 0 },
    });
    let cur = take(mm, many, action(mm, 'reporter', 'page_reporting_cycle', { order: 0, isolate: '0' }));
    expect(read(mm, cur, 'reporter', 'budget')).toBe(2);
    for (let round = 0; round < 2; round++) {
      cur = take(mm, cur, action(mm, 'reporter', 'report'));
      cur = take(mm, cur, action(mm, 'host', 'virtio_balloon_handle_report'));
      cur = take(mm, cur, action(mm, 'reporter', 'page_reporting_drain'));
      if (round === 0) cur = take(mm, cur, action(mm, 'reporter', 'page_reporting_cycle', { order: 0, isolate: '2' }));
    }
    expect(read(mm, cur, 'reporter', 'budget')).toBe(0);
    const next = take(mm, cur, action(mm, 'reporter', 'budget_spent', { order: 0 }));
    expect(read(mm, next, 'reporter', 'state')).toBe('requested');
  });

  it('page_reporting_drain of the leftover batch ends the pass: lock dropped, reporter idle', () => {
    const leftover = state(m, { reporter: { leftover: true } }, returned);
    const next = take(m, leftover, drain);
    expect(read(m, next, 'zone', 'lock')).toBe('free');
    expect(read(m, next, 'reporter', 'phase')).toBe('idle');
    expect(read(m, next, 'reporter', 'state')).toBe('idle');
    expect(read(m, next, 'reporter', 'leftover')).toBe(false);
    expect(column(m, next, 'pages', 'reported')).toEqual([false, false, false, false, true, false, false, false]);
  });

  it('page_reporting_drain waits for the buffer and for the zone lock', () => {
    expect(enabled(m, state(m, { reporter: { vq: 'posted' } }, returned), drain)).toBe(false);
    expect(enabled(m, state(m, { zone: { lock: 'vcpu0' } }, returned), drain)).toBe(false);
  });
});

describe('pageblock isolation (--migratetypes on)', () => {
  const m = model(d5PageReporting, { migratetypes: 'on' }); // 8 pages, R 1: four pageblocks of 2 pages
  const start = (pb: number) => action(m, 'isolator', 'start_isolate_page_range', { pageblock: pb });
  const undo = action(m, 'isolator', 'undo_isolate_page_range');

  it('splits the free block around the pageblock, and the isolated piece does not merge back at pageblock_order', () => {
    const next = take(m, m.initial(), start(1));
    expect(column(m, next, 'pageblocks', 'mt')).toEqual(['movable', 'isolate', 'movable', 'movable']);
    expect(column(m, next, 'pages', 'owner').slice(0, 4)).toEqual(['free-head', 'free-tail', 'free-head', 'free-tail']);
    expect(column(m, next, 'pages', 'order').slice(0, 4)).toEqual([1, 0, 1, 0]);
    expect(read(m, next, 'freeArea', 'nrFree')).toEqual([0, 2, 1]);
    expect(read(m, next, 'isolator', 'phase')).toBe('isolated');
    expect(read(m, next, 'zone', 'lock')).toBe('free');
    // No allocation takes the isolated block; the MOVABLE half is the smallest block it may take.
    expect(enabled(m, next, action(m, 'vcpu0', 'alloc_pages', { order: 1, block: 2 }))).toBe(false);
    expect(enabled(m, next, action(m, 'vcpu0', 'alloc_pages', { order: 1, block: 0 }))).toBe(true);
  });

  it('keeps the isolate list from the walk', () => {
    const s = state(m, { reporter: { state: 'active', phase: 'walking', order: 1 } }, take(m, m.initial(), start(1)));
    const takes = actionsOf(m, 'reporter', 'page_reporting_cycle').filter((a) => a.args.order === 1 && enabled(m, s, a)).map((a) => a.args.isolate);
    expect(takes).toEqual(['0']);
  });

  it('undo merges the pageblock with its free buddy again, without a notify', () => {
    const isolated = state(m, { reporter: { state: 'idle' } }, take(m, m.initial(), start(1)));
    const next = take(m, isolated, undo);
    expect(column(m, next, 'pageblocks', 'mt')).toEqual(['movable', 'movable', 'movable', 'movable']);
    expect(column(m, next, 'pages', 'owner').slice(0, 4)).toEqual(['free-head', 'free-tail', 'free-tail', 'free-tail']);
    expect(read(m, next, 'pages', 'order', 0)).toBe(2);
    expect(read(m, next, 'freeArea', 'nrFree')).toEqual([0, 0, 2]);
    expect(read(m, next, 'reporter', 'state')).toBe('idle');
    expect(read(m, next, 'isolator', 'phase')).toBe('idle');
  });

  it('a drained block meets an isolated buddy it may not merge with', () => {
    // The reporter's order-1 block at 0 comes back while pageblock 1 (pages 2-3, free) is isolated.
    const s = state(m, {
      ...zone(m, [
        { at: 0, order: 1, as: 'isolated' },
        { at: 2, order: 1, as: 'free' },
        { at: 4, order: 2, as: 'free', reported: true },
      ]),
      pageblocks: [{}, { mt: 'isolate' }],
      isolator: { phase: 'isolated', block: 1 },
      reporter: { state: 'active', phase: 'waiting', order: 1, vq: 'done', leftover: true },
    });
    const next = take(m, s, action(m, 'reporter', 'page_reporting_drain'));
    expect(column(m, next, 'pages', 'order').slice(0, 4)).toEqual([1, 0, 1, 0]);
    expect(read(m, next, 'pages', 'reported', 0)).toBe(true);
  });

  it('is refused by a design that does not take part', () => {
    expect(() => resolveConfig(d1ArchFreePage, { migratetypes: 'on' })).toThrow(/--migratetypes: design d1-arch-free-page does not take part in pageblock migratetypes/);
  });
});

describe('D5 configuration', () => {
  it('refuses a zone that could never pass the process_zone gate, in one line', () => {
    expect(() => resolveConfig(d5PageReporting, { reportOrder: 2 })).toThrow(
      /page_reporting_process_zone\(\) starts a pass only above low_wmark \+ \(CAPACITY << R\) = 9 free pages, and the zone has 8/,
    );
    expect(() => resolveConfig(d1ArchFreePage, { watermarkMin: 1 })).toThrow(/reads no zone watermarks/);
  });
});

describe('D5 host virtio_balloon_handle_report', () => {
  /** The reporter waits on a posted batch covering the order-1 block at 0, which holds `content`. */
  function posted(m: Model, content: string): State {
    return state(m, {
      ...zone(m, [
        { at: 0, order: 1, as: 'isolated' },
        { at: 2, order: 1, as: 'free', reported: true },
        { at: 4, order: 2, as: 'free', reported: true },
      ]),
      memory: [
        { content, backing: 'backed', inflight: 'hinted' },
        { content, backing: 'backed', inflight: 'hinted' },
      ],
      reporter: { state: 'active', phase: 'waiting', order: 1, vq: 'posted' },
    });
  }

  const cases: [string, Partial<Config>, string, string, string][] = [
    // [label, config, content before, content after, backing after]
    ['dontneed drops the pages: they read zero', { host: 'dontneed' }, 'stale', 'zero', 'unbacked'],
    ['madv-free drops the pages but keeps the old content readable', { host: 'madv-free' }, 'stale', 'stale', 'unbacked'],
    ['poison-on-fault drops the pages and refills them with the poison', { host: 'poison-on-fault', poison: 'on' }, 'poison', 'poison', 'unbacked'],
    ['skip-if-poisoned keeps poisoned pages backed', { host: 'skip-if-poisoned', poison: 'on' }, 'poison', 'poison', 'backed'],
    ['skip-if-poisoned discards when the poison value is zero', { host: 'skip-if-poisoned', poison: 'init-on-free' }, 'zero', 'zero', 'unbacked'],
  ];
  for (const [label, cfg, before, after, backing] of cases) {
    it(`${label}, clears the in-flight marks and returns the buffer`, () => {
      const m = model(d5PageReporting, cfg);
      const next = take(m, posted(m, before), action(m, 'host', 'virtio_balloon_handle_report'));
      expect(column(m, next, 'memory', 'content').slice(0, 2)).toEqual([after, after]);
      expect(column(m, next, 'memory', 'backing').slice(0, 2)).toEqual([backing, backing]);
      expect(column(m, next, 'memory', 'inflight').every((v) => v === 'none')).toBe(true);
      expect(read(m, next, 'reporter', 'vq')).toBe('done');
      expect(read(m, next, 'events', 'served')).toBe('reporter');
    });
  }

  it('is disabled without a posted buffer', () => {
    const m = model(d5PageReporting);
    const idle = state(m, { reporter: { vq: 'done' } }, posted(m, 'stale'));
    expect(enabled(m, idle, action(m, 'host', 'virtio_balloon_handle_report'))).toBe(false);
  });
});

describe('D5 reporting under the zone lock (d5-report-under-lock)', () => {
  const m = model(d5ReportUnderLock); // 4 pages of order 1, R 1, capacity 1, no min watermark

  it('has no spin_unlock before report, and report is enabled while the reporter holds the lock', () => {
    expect(actionsOf(m, 'reporter', 'spin_unlock')).toEqual([]);
    const s = state(m, {
      ...zone(m, [{ at: 0, order: 1, as: 'isolated' }, { at: 2, order: 1, as: 'free' }]),
      zone: { lock: 'reporter' },
      reporter: { state: 'active', phase: 'isolated', order: 1, budget: 2 },
    });
    const next = take(m, s, action(m, 'reporter', 'report'));
    expect(read(m, next, 'zone', 'lock')).toBe('reporter');
    expect(read(m, next, 'reporter', 'phase')).toBe('waiting');
    expect(column(m, next, 'memory', 'inflight')).toEqual(['hinted', 'hinted', 'none', 'none']);
    expect(read(m, next, 'events', 'hintBy')).toBe('reporter');
  });

  it('reaches report under the lock from the booted state', () => {
    let s = m.initial();
    for (const [name, args] of [
      ['page_reporting_process', {}],
      ['page_reporting_process_zone', {}],
      ['page_reporting_cycle', { order: 1, isolate: '0' }],
    ] as const) {
      s = take(m, s, action(m, 'reporter', name, args));
    }
    expect(read(m, s, 'zone', 'lock')).toBe('reporter');
    expect(read(m, s, 'reporter', 'phase')).toBe('isolated');
    expect(enabled(m, s, action(m, 'reporter', 'report'))).toBe(true);
  });
});

// ---------------------------------------------------------------- D1 host

describe('D1 host kvm_hc_unused_page_hint', () => {
  const m = model(d1ArchFreePage); // R 2, poison off, dontneed

  const hinting = state(m, {
    ...zone(m, [
      { at: 0, order: 2, as: 'allocated' },
      { at: 4, order: 2, as: 'free' },
    ]),
    vcpus: [{ phase: 'hinting', head: 0, order: 2 }],
    memory: [0, 1, 2, 3].map(() => ({ content: 'data', backing: 'backed', inflight: 'hinted' })),
  });

  it("discards the hinting vCPU's block and returns to it", () => {
    const next = take(m, hinting, action(m, 'host', 'kvm_hc_unused_page_hint', { vcpu: 'vcpu0' }));
    expect(column(m, next, 'memory', 'content').slice(0, 4)).toEqual(['zero', 'zero', 'zero', 'zero']);
    expect(column(m, next, 'memory', 'backing').slice(0, 4)).toEqual(['unbacked', 'unbacked', 'unbacked', 'unbacked']);
    expect(column(m, next, 'memory', 'inflight').every((v) => v === 'none')).toBe(true);
    expect(read(m, next, 'vcpus', 'phase', 0)).toBe('hinted');
    expect(read(m, next, 'events', 'served')).toBe('vcpu0');
  });

  it('is disabled for a vCPU that is not in a hint', () => {
    expect(enabled(m, hinting, action(m, 'host', 'kvm_hc_unused_page_hint', { vcpu: 'vcpu1' }))).toBe(false);
  });

  it('after a hint issued past kernel_poison_pages() returns the vCPU to prepared', () => {
    const m2 = model(d1HintAfterPoison, { poison: 'on' });
    const s = state(m2, {
      ...zone(m2, [
        { at: 0, order: 2, as: 'allocated' },
        { at: 4, order: 2, as: 'free' },
      ]),
      vcpus: [{ phase: 'hinting-poisoned', head: 0, order: 2 }],
      memory: [0, 1, 2, 3].map(() => ({ content: 'poison', backing: 'backed', inflight: 'hinted' })),
    });
    const next = take(m2, s, action(m2, 'host', 'kvm_hc_unused_page_hint', { vcpu: 'vcpu0' }));
    expect(read(m2, next, 'vcpus', 'phase', 0)).toBe('prepared');
    // MADV_DONTNEED lost the poison: the next allocation will read zero.
    expect(column(m2, next, 'memory', 'content').slice(0, 4)).toEqual(['zero', 'zero', 'zero', 'zero']);
  });
});

// ---------------------------------------------------------------- every action, every sampled state

describe('every action', () => {
  const models: [string, Model][] = [
    ['d5-page-reporting', model(d5PageReporting)],
    ['d5-page-reporting, poison on, madv-free', model(d5PageReporting, { poison: 'on', host: 'madv-free' })],
    ['d1-arch-free-page', model(d1ArchFreePage)],
    ['d1-hint-after-poison, poison on', model(d1HintAfterPoison, { poison: 'on' })],
    ['d5-report-under-lock', model(d5ReportUnderLock)],
    ['d5-no-isolate', model(d5NoIsolate)],
    ['d5-ack-before-discard', model(d5AckBeforeDiscard)],
  ];

  for (const [label, m] of models) {
    it(`leaves the vector byte for byte unchanged when its guard fails, and respects its pre-guards (${label})`, () => {
      const states = reachable(m, 3000);
      expect(states.length).toBeGreaterThan(100);
      let disabled = 0;
      let taken = 0;
      for (const s of states) {
        for (const a of m.actions) {
          const next = s.slice();
          const ok = a.apply(next);
          if (!ok) {
            disabled++;
            if (next.some((v, i) => v !== s[i])) {
              throw new Error(`${m.actors[a.actor]} ${a.name} ${JSON.stringify(a.args)} is disabled but changed ${JSON.stringify(m.layout.diff(s, next))}`);
            }
            continue;
          }
          taken++;
          // The explorer skips a step whose pre-guard fails; it must never hide an enabled step.
          if (a.guardAt >= 0) expect(s[a.guardAt], `${a.name} pre-guard`).toBe(a.guardIs);
          if (a.guard2At !== undefined && a.guard2At >= 0) expect(s[a.guard2At], `${a.name} second pre-guard`).toBe(a.guard2Is);
          // Successors stay inside the layout's domains.
          expect(m.layout.validate(next), `${a.name} ${JSON.stringify(a.args)}`).toBeNull();
        }
      }
      expect(disabled).toBeGreaterThan(0);
      expect(taken).toBeGreaterThan(0);
    });
  }
});
