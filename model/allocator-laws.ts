/**
 * The buddy allocator's laws as one predicate of a state, for the invariants
 * that check them (allocator-conservation, and a design's own form of it
 * that adds an owner, as D6's driver is one). Every base page is in exactly
 * one place: allocated to one vCPU, in one free block on one list, isolated
 * by the hint engine, or in merge limbo; blocks are aligned heads followed by
 * their tail pages; PageReported sits only on free heads;
 * free_area[order].nr_free counts each list; and outside zone->lock no free
 * block has a free buddy of its order.
 */
import { ALLOCATED, FREE_HEAD, FREE_TAIL, ISOLATED_TAIL, LIMBO, OWNERS } from './allocator.js';
import type { Model, State } from './types.js';
import { FREE_LOCKED, holdsBlock } from './vcpu.js';
import { lockFree } from './zone-lock.js';

/**
 * One pass over the vCPUs' blocks and one over the pages, jumping over each
 * block once its tail pages are checked; then, with `buddies`, the merge law. `cover` is one byte of scratch per
 * page and `listed` one int per order, owned by the caller.
 */
export function conservation(m: Model, s: State, cover: Uint8Array, listed: Int32Array = new Int32Array(m.cfg.maxOrder + 1), buddies = true): string | null {
  const R = m.cfg.reportOrder;
  const f = m.f;
  const n = m.cfg.pages;
  cover.fill(0);
  listed.fill(0);
  for (let c = 0; c < m.cfg.cpus; c++) {
    if (!holdsBlock(m, s, c)) continue;
    const head = s[f.vHead + c];
    const size = 1 << s[f.vOrder + c];
    if (head % size !== 0 || head + size > n) return `vcpu${c} holds a misaligned block at page ${head}, order ${s[f.vOrder + c]}`;
    for (let p = head; p < head + size; p++) {
      if (cover[p]) return `page ${p} is held by vcpu${c} and by another vCPU`;
      cover[p] = 1;
      if (s[f.owner + p] !== ALLOCATED) return `page ${p} is in vcpu${c}'s block but is ${OWNERS[s[f.owner + p]]}`;
    }
  }
  // A vCPU parked in __free_one_page() (a design phase) owns the block it parked in limbo: aligned, all of it limbo, no one else's.
  for (let c = 0; c < m.cfg.cpus; c++) {
    if (s[f.vPhase + c] <= FREE_LOCKED || s[f.owner + s[f.vHead + c]] !== LIMBO) continue;
    const head = s[f.vHead + c];
    const size = 1 << s[f.vOrder + c];
    if (head % size !== 0 || head + size > n) return `vcpu${c} parks a misaligned block at page ${head}, order ${s[f.vOrder + c]}`;
    for (let p = head; p < head + size; p++) {
      if (cover[p]) return `page ${p} is parked by vcpu${c} and held by another vCPU`;
      cover[p] = 2;
      if (s[f.owner + p] !== LIMBO) return `page ${p} is in vcpu${c}'s parked block but is ${OWNERS[s[f.owner + p]]}`;
    }
  }
  const limboHeld = m.hooks.limboHeld;
  for (let p = 0; p < n; ) {
    const owner = s[f.owner + p];
    if (s[f.reported + p] && owner !== FREE_HEAD) return `page ${p} is ${OWNERS[owner]} but carries PageReported`;
    if (owner === ALLOCATED) {
      if (!cover[p]) return `page ${p} is allocated but no vCPU holds it`;
      p++;
      continue;
    }
    if (owner === LIMBO) {
      if (cover[p] !== 2 && !(limboHeld?.(s, p) ?? false)) return `page ${p} is in merge limbo but no parked vCPU holds it`;
      p++;
      continue;
    }
    if (owner === FREE_TAIL || owner === ISOLATED_TAIL) return `page ${p} is a ${OWNERS[owner]} page outside any block`;
    const order = s[f.order + p];
    const size = 1 << order;
    if (p % size !== 0 || p + size > n) return `page ${p} heads a misaligned ${OWNERS[owner]} block of order ${order}`;
    if (owner === FREE_HEAD) listed[order]++;
    const tail = owner === FREE_HEAD ? FREE_TAIL : ISOLATED_TAIL;
    for (let q = p + 1; q < p + size; q++) {
      if (s[f.owner + q] !== tail) return `page ${q} lies in the order-${order} ${OWNERS[owner]} block at page ${p} but is ${OWNERS[s[f.owner + q]]}`;
      if (s[f.reported + q]) return `page ${q} is ${OWNERS[tail]} but carries PageReported`;
    }
    p += size;
  }
  for (let o = 0; o <= m.cfg.maxOrder; o++) {
    const k = listed[o];
    if (k !== s[f.nrFree + o]) return `free_area[${o}].nr_free is ${s[f.nrFree + o]} but ${k} block${k === 1 ? ' is' : 's are'} on the list`;
  }
  // __free_one_page() merges a block with its free buddy before it lists it, so outside
  // zone->lock no two buddies are free side by side: a putback that skipped the merge
  // leaves memory split for good (an order-K allocation fails with 2^K pages free).
  // And a merged block never spans pageblocks of different types: __free_one_page() stops at the first one.
  if (f.pbMt >= 0) {
    for (let p = 0; p < n; p++) {
      if (s[f.owner + p] !== FREE_HEAD || s[f.order + p] <= R) continue;
      for (let q = p + (1 << R); q < p + (1 << s[f.order + p]); q += 1 << R) {
        if (s[f.pbMt + (q >> R)] !== s[f.pbMt + (p >> R)]) return `the free order-${s[f.order + p]} block at page ${p} spans pageblocks ${p >> R} and ${q >> R} of different migratetypes`;
      }
    }
  }
  if (buddies && lockFree(m, s)) {
    for (let p = 0; p < n; p++) {
      if (s[f.owner + p] !== FREE_HEAD) continue;
      const o = s[f.order + p];
      const buddy = p ^ (1 << o);
      if (o < m.cfg.maxOrder && buddy > p && buddy < n && s[f.owner + buddy] === FREE_HEAD && s[f.order + buddy] === o) {
        // At order >= pageblock_order a MOVABLE block and an ISOLATE buddy stay apart on purpose.
        if (f.pbMt >= 0 && o >= R && s[f.pbMt + (p >> R)] !== s[f.pbMt + (buddy >> R)]) continue;
        return `the free order-${o} blocks at pages ${p} and ${buddy} are buddies, both listed and not merged`;
      }
    }
  }
  return null;
}
