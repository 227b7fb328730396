/**
 * The buddy allocator of model/allocator.ts against a small reference
 * written from the textbook: a map of free blocks, the blocks handed out and
 * the blocks isolated by a hint engine, with split on allocation and merge
 * with free buddies on free and putback.
 *
 * The allocator functions are driven directly on a working vector, as the
 * vCPU and reporter steps drive them under zone->lock. Blocks handed out are
 * recorded in the vCPU fields (phase in-use, head, order), so that the
 * allocator-conservation invariant can be checked as well as the buddy laws
 * written out here.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conservation } from '../../model/allocator-laws.js';
import {
  ALLOCATED,
  FREE_HEAD,
  FREE_TAIL,
  freeOnePage,
  ISOLATED_HEAD,
  ISOLATED_TAIL,
  isolateFreePage,
  putbackIsolatedPage,
  rmqueue,
  smallestFreeOrder,
} from '../../model/allocator.js';
import { d1ArchFreePage } from '../../model/designs/d1/arch-free-page.js';
import { d5PageReporting } from '../../model/designs/d5/catalogue.js';
import { buildModel, resolveConfig } from '../../model/system.js';
import type { Design, Model, State } from '../../model/types.js';
import { IDLE, IN_USE } from '../../model/vcpu.js';

interface Block {
  readonly head: number;
  readonly order: number;
}

/** The textbook buddy allocator, kept apart from the model. */
class Reference {
  /** Free blocks by head: order and PageReported. */
  readonly free = new Map<number, { order: number; reported: boolean }>();
  readonly held: Block[] = [];
  readonly isolated: Block[] = [];

  constructor(readonly pages: number, readonly maxOrder: number) {
    for (let head = 0; head < pages; head += 1 << maxOrder) this.free.set(head, { order: maxOrder, reported: false });
  }

  /** Heads of the free blocks of the smallest order >= `order`, ascending. */
  candidates(order: number): number[] {
    let best = -1;
    for (const b of this.free.values()) if (b.order >= order && (best < 0 || b.order < best)) best = b.order;
    if (best < 0) return [];
    return [...this.free.entries()].filter(([, b]) => b.order === best).map(([h]) => h).sort((a, b) => a - b);
  }

  freeHeads(): number[] {
    return [...this.free.keys()].sort((a, b) => a - b);
  }

  /** Split the block at `head` down to `order`: each upper half becomes a free block. */
  alloc(head: number, order: number): void {
    let k = this.free.get(head)!.order;
    this.free.delete(head);
    while (k > order) {
      k--;
      this.free.set(head + (1 << k), { order: k, reported: false });
    }
    this.held.push({ head, order });
  }

  /** Merge with the free buddy of the same order while there is one; the result is unreported. */
  merge(head: number, order: number): number {
    while (order < this.maxOrder) {
      const buddy = head ^ (1 << order);
      const b = this.free.get(buddy);
      if (b === undefined || b.order !== order) break;
      this.free.delete(buddy);
      head = Math.min(head, buddy);
      order++;
    }
    this.free.set(head, { order, reported: false });
    return head;
  }

  release(i: number): Block {
    const [b] = this.held.splice(i, 1);
    this.merge(b.head, b.order);
    return b;
  }

  isolate(head: number): void {
    const b = this.free.get(head)!;
    this.free.delete(head);
    this.isolated.push({ head, order: b.order });
  }

  putback(i: number): Block {
    const [b] = this.isolated.splice(i, 1);
    this.merge(b.head, b.order);
    return b;
  }
}

/** Free blocks of the model: every free head with its order and PageReported. */
function modelFree(m: Model, s: State): Map<number, { order: number; reported: boolean }> {
  const out = new Map<number, { order: number; reported: boolean }>();
  for (let p = 0; p < m.cfg.pages; p++) {
    if (s[m.f.owner + p] === FREE_HEAD) out.set(p, { order: s[m.f.order + p], reported: s[m.f.reported + p] !== 0 });
  }
  return out;
}

function modelIsolated(m: Model, s: State): Block[] {
  const out: Block[] = [];
  for (let p = 0; p < m.cfg.pages; p++) if (s[m.f.owner + p] === ISOLATED_HEAD) out.push({ head: p, order: s[m.f.order + p] });
  return out;
}

const byHead = (a: Block, b: Block): number => a.head - b.head;

/**
 * The buddy laws, written out: every page in exactly one free, isolated or
 * held block, with the right head and tail owners; heads aligned; order only
 * on heads; PageReported only on free heads; nr_free per order equal to the
 * free heads of that order; no two free buddies of the same order.
 * Returns the first broken law, or null.
 */
function buddyLaws(m: Model, s: State, held: readonly Block[]): string | null {
  const f = m.f;
  const n = m.cfg.pages;
  const cover = new Array<string | null>(n).fill(null);
  const claim = (b: Block, what: string, head: number, tail: number): string | null => {
    const size = 1 << b.order;
    if (b.head % size !== 0 || b.head + size > n) return `${what} block at ${b.head} of order ${b.order} is misaligned`;
    for (let p = b.head; p < b.head + size; p++) {
      if (cover[p] !== null) return `page ${p} is in a ${what} block and in a ${cover[p]} block`;
      cover[p] = what;
      const want = p === b.head ? head : tail;
      if (s[f.owner + p] !== want) return `page ${p} of a ${what} block has owner ${s[f.owner + p]}, expected ${want}`;
      if (p !== b.head && s[f.order + p] !== 0) return `tail page ${p} of a ${what} block has order ${s[f.order + p]}`;
    }
    return null;
  };
  const heads: { b: Block; what: string; head: number; tail: number }[] = [];
  for (let p = 0; p < n; p++) {
    const owner = s[f.owner + p];
    if (owner === FREE_HEAD) heads.push({ b: { head: p, order: s[f.order + p] }, what: 'free', head: FREE_HEAD, tail: FREE_TAIL });
    if (owner === ISOLATED_HEAD) heads.push({ b: { head: p, order: s[f.order + p] }, what: 'isolated', head: ISOLATED_HEAD, tail: ISOLATED_TAIL });
  }
  for (const b of held) heads.push({ b, what: 'held', head: ALLOCATED, tail: ALLOCATED });
  for (const h of heads) {
    const err = claim(h.b, h.what, h.head, h.tail);
    if (err !== null) return err;
  }
  for (let p = 0; p < n; p++) {
    if (cover[p] === null) return `page ${p} is in no block`;
    if (s[f.reported + p] && s[f.owner + p] !== FREE_HEAD) return `page ${p} carries PageReported but is not a free head`;
  }
  for (let o = 0; o <= m.cfg.maxOrder; o++) {
    let count = 0;
    for (let p = 0; p < n; p++) if (s[f.owner + p] === FREE_HEAD && s[f.order + p] === o) count++;
    if (s[f.nrFree + o] !== count) return `nr_free[${o}] is ${s[f.nrFree + o]} but ${count} free heads have order ${o}`;
  }
  for (let p = 0; p < n; p++) {
    if (s[f.owner + p] !== FREE_HEAD) continue;
    const o = s[f.order + p];
    if (o >= m.cfg.maxOrder) continue;
    const buddy = p ^ (1 << o);
    if (s[f.owner + buddy] === FREE_HEAD && s[f.order + buddy] === o) return `free buddies ${p} and ${buddy} of order ${o} were not merged`;
  }
  return null;
}

/** One operation: a kind and a number the operation reduces to its own range. */
type Op = readonly [kind: number, pick: number, order: number];
const OPS = ['alloc', 'free', 'isolate', 'putback', 'report'] as const;

interface Harness {
  readonly m: Model;
  readonly s: State;
  readonly ref: Reference;
  /** Held blocks by vCPU slot (the vCPU fields of the vector mirror it). */
  readonly slots: (Block | null)[];
  readonly cover: Uint8Array;
}

function start(m: Model): Harness {
  const s = m.initial();
  for (let c = 0; c < m.cfg.cpus; c++) s[m.f.vPhase + c] = IDLE;
  return {
    m,
    s,
    ref: new Reference(m.cfg.pages, m.cfg.maxOrder),
    slots: new Array<Block | null>(m.cfg.cpus).fill(null),
    cover: new Uint8Array(m.cfg.pages),
  };
}

/** Apply one operation to both the model and the reference; returns what was done, for failure messages. */
function perform(h: Harness, [kind, pick, ord]: Op): string {
  const { m, s, ref, slots } = h;
  const f = m.f;
  switch (OPS[kind]) {
    case 'alloc': {
      const order = ord % (m.cfg.maxOrder + 1);
      const slot = slots.indexOf(null);
      if (slot < 0) return `alloc order ${order}: no vCPU slot free, skipped`;
      const want = ref.candidates(order);
      // What the model offers: free heads of smallestFreeOrder(), found by scanning owner/order.
      const k = smallestFreeOrder(m, s, order);
      const offered: number[] = [];
      for (let p = 0; p < m.cfg.pages; p++) if (s[f.owner + p] === FREE_HEAD && s[f.order + p] === k) offered.push(p);
      expect(k < 0 ? [] : offered, `free heads offered for order ${order}`).toEqual(want);
      if (want.length === 0) return `alloc order ${order}: nothing free, skipped`;
      const head = want[pick % want.length];
      rmqueue(m, s, head, order);
      ref.alloc(head, order);
      slots[slot] = { head, order };
      s[f.vPhase + slot] = IN_USE;
      s[f.vHead + slot] = head;
      s[f.vOrder + slot] = order;
      return `alloc order ${order} from ${head}`;
    }
    case 'free': {
      if (ref.held.length === 0) return 'free: nothing held, skipped';
      const i = pick % ref.held.length;
      const b = ref.held[i];
      const slot = slots.findIndex((x) => x !== null && x.head === b.head);
      expect(slot, `vCPU slot of held block ${b.head}`).toBeGreaterThanOrEqual(0);
      slots[slot] = null;
      s[f.vPhase + slot] = IDLE;
      s[f.vHead + slot] = 0;
      s[f.vOrder + slot] = 0;
      for (let p = b.head; p < b.head + (1 << b.order); p++) s[f.owner + p] = ALLOCATED;
      ref.release(i);
      const merged = freeOnePage(m, s, b.head, b.order, false);
      expect(merged, `merged head after freeing ${b.head}`).toBe(b.head & ~((1 << s[f.order + merged]) - 1));
      return `free ${b.head} order ${b.order} -> head ${merged}`;
    }
    case 'isolate': {
      const heads = ref.freeHeads();
      if (heads.length === 0) return 'isolate: nothing free, skipped';
      const head = heads[pick % heads.length];
      isolateFreePage(m, s, head);
      ref.isolate(head);
      return `isolate ${head}`;
    }
    case 'putback': {
      if (ref.isolated.length === 0) return 'putback: nothing isolated, skipped';
      const i = pick % ref.isolated.length;
      const b = ref.putback(i);
      const merged = putbackIsolatedPage(m, s, b.head);
      return `putback ${b.head} order ${b.order} -> head ${merged}`;
    }
    case 'report': {
      // page_reporting_drain() marks a free head reported; rmqueue and merging must clear it again.
      const heads = ref.freeHeads();
      if (heads.length === 0) return 'report: nothing free, skipped';
      const head = heads[pick % heads.length];
      s[f.reported + head] = 1;
      ref.free.get(head)!.reported = true;
      return `mark ${head} reported`;
    }
  }
  throw new Error(`unknown op ${kind}`);
}

function check(h: Harness, done: string[]): void {
  const { m, s, ref } = h;
  const where = done.join('; ');
  // (a) the free blocks, with their orders and PageReported, are the reference's.
  expect(modelFree(m, s), where).toEqual(ref.free);
  expect(modelIsolated(m, s), where).toEqual([...ref.isolated].sort(byHead));
  const held = h.slots.filter((b): b is Block => b !== null).sort(byHead);
  expect(held, where).toEqual([...ref.held].sort(byHead));
  // (b) + (c) + (d): the buddy laws, and the project's own conservation check.
  expect(buddyLaws(m, s, held), where).toBeNull();
  expect(conservation(m, s, h.cover), where).toBeNull();
}

function run(m: Model, ops: readonly Op[]): void {
  const h = start(m);
  const done: string[] = ['initial'];
  check(h, done);
  for (const op of ops) {
    done.push(perform(h, op));
    check(h, done);
  }
}

/** cpus is the number of blocks that may be held at once (one vCPU slot each). */
function model(design: Design, pages: number, maxOrder: number): Model {
  return buildModel(design, resolveConfig(design, { pages, maxOrder, cpus: 6, reportOrder: 1, capacity: 2 }));
}

const opArb = fc.tuple(fc.integer({ min: 0, max: OPS.length - 1 }), fc.nat(1000), fc.nat(8));

describe('buddy allocator', () => {
  const models = [
    ['D5, 16 pages, max order 3', model(d5PageReporting, 16, 3)],
    ['D1, 8 pages, max order 2', model(d1ArchFreePage, 8, 2)],
    ['D5, 32 pages, max order 4', model(d5PageReporting, 32, 4)],
  ] as const;

  for (const [label, m] of models) {
    it(`keeps the buddy laws under random alloc, free, isolate and putback (${label})`, () => {
      fc.assert(fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => run(m, ops)), { numRuns: 250 });
    });
  }

  it('splits a block into free upper halves of every lower order, unreported', () => {
    const m = model(d5PageReporting, 16, 3);
    const s = m.initial();
    s[m.f.reported + 0] = 1;
    rmqueue(m, s, 0, 0);
    const free = modelFree(m, s);
    expect([...free.entries()].sort((a, b) => a[0] - b[0])).toEqual([
      [1, { order: 0, reported: false }],
      [2, { order: 1, reported: false }],
      [4, { order: 2, reported: false }],
      [8, { order: 3, reported: false }],
    ]);
    expect(s[m.f.owner + 0]).toBe(ALLOCATED);
    expect(Array.from(s.subarray(m.f.nrFree, m.f.nrFree + 4))).toEqual([1, 1, 1, 1]);
  });

  it('merges a freed block with its free buddies back to the largest order and clears their PageReported', () => {
    const m = model(d5PageReporting, 16, 3);
    const s = m.initial();
    rmqueue(m, s, 0, 0);
    for (const head of [1, 2, 4]) s[m.f.reported + head] = 1;
    expect(freeOnePage(m, s, 0, 0, false)).toBe(0);
    expect(s[m.f.owner + 0]).toBe(FREE_HEAD);
    expect(s[m.f.order + 0]).toBe(3);
    for (let p = 0; p < 8; p++) expect(s[m.f.reported + p], `page ${p}`).toBe(0);
    for (let p = 1; p < 8; p++) expect(s[m.f.owner + p], `page ${p}`).toBe(FREE_TAIL);
    expect(Array.from(s.subarray(m.f.nrFree, m.f.nrFree + 4))).toEqual([0, 0, 0, 2]);
  });

  it('does not merge a freed block with an isolated buddy, and merges once the buddy is put back', () => {
    const m = model(d5PageReporting, 16, 3);
    const s = m.initial();
    rmqueue(m, s, 0, 0); // free: 1 (o0), 2 (o1), 4 (o2), 8 (o3)
    isolateFreePage(m, s, 1);
    expect(s[m.f.owner + 1]).toBe(ISOLATED_HEAD);
    expect(freeOnePage(m, s, 0, 0, false)).toBe(0);
    expect(s[m.f.owner + 0]).toBe(FREE_HEAD);
    expect(s[m.f.order + 0]).toBe(0);
    expect(putbackIsolatedPage(m, s, 1)).toBe(0);
    expect(s[m.f.order + 0]).toBe(3);
    expect(buddyLaws(m, s, [])).toBeNull();
  });
});
