/**
 * A vCPU thread: allocate a block of any order, write it, free it, forever.
 *
 *   idle --alloc_pages--> alloc-locked --spin_unlock--> allocated
 *        --prep_new_page--> in-use --free_pages_prepare--> prepared
 *        --free_one_page--> free-locked --spin_unlock--> idle
 *
 * free_pages_prepare() runs the design's arch_free_page() hook and
 * kernel_poison_pages(); a hook that makes a synchronous hypercall parks the
 * vCPU in 'hinting' (before poisoning) or 'hinting-poisoned' (after) until the
 * host returns. prep_new_page() is where a poisoned page is checked, so it is
 * where poison-reads-back is observed. The thread keeps no counters: its
 * state is its phase and the block it holds, so the search closes by hashing.
 */
import {
  addToFreeList, enterFreeOnePage, FREE_HEAD, freeOnePage, oweHint, ISOLATED_HEAD, isFreeHead, LIMBO, mergeWithBuddy, rmqueue, smallestFreeOrder,
} from './allocator.js';
import type { Config } from './config.js';
import { BACKED, contentAfterFree, DATA, guestRead, guestWrite, readMayFaultZero } from './host.js';
import type { FieldDecl } from './layout.js';
import type { ActionSpec, Model, State } from './types.js';
import { acquire, lockFree, lockHeldBy, release } from './zone-lock.js';
import { onIsolateList } from './isolator.js';

export const PHASES = [
  'idle',
  'alloc-locked',
  'allocated',
  'in-use',
  'hinting',
  'hinted',
  'hinting-poisoned',
  'prepared',
  'free-locked',
] as const;
export const IDLE = 0;
export const ALLOC_LOCKED = 1;
export const ALLOCATED_PHASE = 2;
export const IN_USE = 3;
export const HINTING = 4;
export const HINTED_PHASE = 5;
export const HINTING_POISONED = 6;
export const PREPARED = 7;
export const FREE_LOCKED = 8;

export function vcpuFields(cfg: Config, designPhases: readonly string[] = []): Record<string, FieldDecl> {
  return {
    phase: { domain: [...PHASES, ...designPhases], doc: 'where the thread is in its alloc / use / free cycle (or a step of the design\'s own)' },
    head: { domain: { max: cfg.pages - 1 }, doc: 'first page of the block the thread holds (0 when it holds none)' },
    order: { domain: { max: cfg.maxOrder }, doc: 'order of the block the thread holds (0 when it holds none)' },
  };
}

/** Whether vCPU c holds an allocated block (in a design's phase, its block is in merge limbo instead). */
export function holdsBlock(m: Model, s: State, c: number): boolean {
  const phase = s[m.f.vPhase + c];
  return phase !== IDLE && phase < FREE_LOCKED;
}

/**
 * Quiescent: every vCPU between operations, zone->lock free, and the
 * design's engine and host idle (nothing pending, running or in flight).
 * Where the liveness-like invariants (5, 8, D3's threshold forms) judge.
 */
export function quiescent(m: Model, s: State): boolean {
  if (!lockFree(m, s)) return false;
  for (let c = 0; c < m.cfg.cpus; c++) if (!betweenOperations(m, s, c)) return false;
  return m.instance.idle(s);
}

/** Between operations: not inside an allocation or a free. */
export function betweenOperations(m: Model, s: State, c: number): boolean {
  const phase = s[m.f.vPhase + c];
  return phase === IDLE || phase === IN_USE;
}

/** __rmqueue_smallest() + expand(): take block `head` of the smallest non-empty order >= `order`; takes zone->lock. */
export function allocPages(m: Model, s: State, c: number, order: number, head: number): boolean {
  const f = m.f;
  if (s[f.vPhase + c] !== IDLE || !lockFree(m, s)) return false;
  const k = s[f.order + head];
  if (!isFreeHead(m, s, head, k) || k < order) return false;
  const hooks = m.hooks;
  if (hooks.allocatable === undefined && m.f.pbMt < 0) {
    if (smallestFreeOrder(m, s, order) !== k) return false;
  } else if (!mayAllocate(m, s, head, k) || smallestAllocatableOrder(m, s, order) !== k) {
    return false;
  }
  acquire(m, s, c);
  rmqueue(m, s, head, order);
  s[f.vPhase + c] = ALLOC_LOCKED;
  s[f.vHead + c] = head;
  s[f.vOrder + c] = order;
  if (hooks.allocated !== undefined) hooks.allocated(s, c, head, order);
  return true;
}

/**
 * Whether __rmqueue_smallest() may take the free block at `head`: it is on a
 * MOVABLE list (never MIGRATE_ISOLATE, --migratetypes on), and the design's
 * `allocatable` lets it.
 */
function mayAllocate(m: Model, s: State, head: number, order: number): boolean {
  if (onIsolateList(m, s, head)) return false;
  const hook = m.hooks.allocatable;
  return hook === undefined || hook(s, head, order);
}

/** Smallest order >= `order` with a free block the allocator may take (a list it may use), or -1. */
function smallestAllocatableOrder(m: Model, s: State, order: number): number {
  const f = m.f;
  let best = -1;
  for (let p = 0; p < m.cfg.pages; p++) {
    if (s[f.owner + p] !== FREE_HEAD) continue;
    const o = s[f.order + p];
    if (o >= order && (best < 0 || o < best) && mayAllocate(m, s, p, o)) best = o;
  }
  return best;
}

/** Whether some free block of order >= `order` may be allocated. */
function canAllocate(m: Model, s: State, order: number): boolean {
  const f = m.f;
  for (let p = 0; p < m.cfg.pages; p++) {
    if (s[f.owner + p] !== FREE_HEAD || s[f.order + p] < order) continue;
    if (mayAllocate(m, s, p, s[f.order + p])) return true;
  }
  return false;
}

/**
 * Whether the free block at `head` is on its list but kept from the
 * allocator by the hint engine: the design's `allocatable` refuses it, and
 * `withheldByEngine` (when the design has one) says the refusal is the
 * engine's, not another actor's.
 */
export function engineWithholds(m: Model, s: State, head: number, order: number): boolean {
  // A block on an isolate list is the isolator's (offline_pages()), not the engine's.
  if (onIsolateList(m, s, head)) return false;
  const hook = m.hooks.allocatable;
  if (hook === undefined || hook(s, head, order)) return false;
  const withheld = m.hooks.withheldByEngine;
  return withheld === undefined || withheld(s, head, order);
}

/**
 * Whether the memory the hint engine holds would have made room for an
 * allocation of `order`: blocks it isolated, blocks parked in merge limbo,
 * and free blocks it keeps on the lists but from the allocator (those the
 * `allocatable` hook refuses, as far as `withheldByEngine` says they are the
 * engine's). Works on a copy; only run when an allocation fails.
 */
function engineHoldsEnough(m: Model, s: State, order: number): boolean {
  const f = m.f;
  const t = s.slice();
  for (let p = 0; p < m.cfg.pages; p++) {
    if (t[f.owner + p] !== ISOLATED_HEAD) continue;
    freeOnePage(m, t, p, t[f.order + p], false);
  }
  for (let c = 0; c < m.cfg.cpus; c++) {
    if (t[f.vPhase + c] <= FREE_LOCKED || t[f.owner + t[f.vHead + c]] !== LIMBO) continue;
    freeOnePage(m, t, t[f.vHead + c], t[f.vOrder + c], false);
  }
  // The allocation failed on s: a block it may take on t, or one the engine keeps from it, is the engine's memory.
  for (let p = 0; p < m.cfg.pages; p++) {
    if (t[f.owner + p] !== FREE_HEAD || t[f.order + p] < order) continue;
    const o = t[f.order + p];
    if (mayAllocate(m, t, p, o) || engineWithholds(m, t, p, o)) return true;
  }
  return false;
}

/**
 * __alloc_pages() failing: no free block of order >= `order` the allocator
 * may take. zone->lock is taken and dropped within the step and the vCPU
 * stays idle; when the blocks the hint engine holds would have been enough,
 * the step raises `fakeOom` (no-fake-oom).
 */
export function allocFails(m: Model, s: State, c: number, order: number): boolean {
  if (s[m.f.vPhase + c] !== IDLE || !lockFree(m, s) || canAllocate(m, s, order)) return false;
  if (engineHoldsEnough(m, s, order)) s[m.f.evFakeOom] = c + 1;
  return true;
}

/** spin_unlock(&zone->lock) at the end of rmqueue() or free_one_page(). */
export function unlockZone(m: Model, s: State, c: number, from: number, to: number): boolean {
  if (s[m.f.vPhase + c] !== from || !lockHeldBy(m, s, c)) return false;
  release(m, s);
  s[m.f.vPhase + c] = to;
  return true;
}

/**
 * prep_new_page(): with poisoning, check_poison_mem() reads every page of the
 * block and expects the poison (init_on_free: zero); then the caller writes
 * its data. No lock. `zero` is the madv-free outcome of a read that faults.
 */
export function prepNewPage(m: Model, s: State, c: number, zero: boolean): boolean {
  const f = m.f;
  if (s[f.vPhase + c] !== ALLOCATED_PHASE) return false;
  if (zero && !readMayFaultZero(m.cfg)) return false;
  const head = s[f.vHead + c];
  const end = head + (1 << s[f.vOrder + c]);
  const expect = contentAfterFree(m.cfg);
  for (let p = head; p < end; p++) {
    const v = guestRead(m, s, p, zero);
    if (m.cfg.poison !== 'off' && v !== expect && s[f.evBadPage] === 0) {
      s[f.evBadPage] = p + 1;
      s[f.evBadRead] = v;
    }
    guestWrite(m, s, p, DATA);
  }
  s[f.vPhase + c] = IN_USE;
  return true;
}

/** kernel_poison_pages() / init_on_free's clear: a write to every page of the block. */
function poisonBlock(m: Model, s: State, c: number): void {
  const f = m.f;
  const head = s[f.vHead + c];
  const end = head + (1 << s[f.vOrder + c]);
  const value = contentAfterFree(m.cfg);
  for (let p = head; p < end; p++) {
    // Without poisoning nothing is written: the data just goes stale (an unbacked page keeps what a touch would read).
    if (m.cfg.poison !== 'off') guestWrite(m, s, p, value);
    else if (s[f.backing + p] === BACKED) s[f.content + p] = value;
  }
}

function afterPoison(m: Model, s: State, c: number): void {
  const f = m.f;
  const hook = m.hooks.archFreePage;
  if (hook !== undefined && hook(s, c, s[f.vHead + c], s[f.vOrder + c], 'after-poison')) s[f.vPhase + c] = HINTING_POISONED;
  else s[f.vPhase + c] = PREPARED;
}

/** free_pages_prepare(): arch_free_page() hook, then kernel_poison_pages(); no lock. */
export function freePagesPrepare(m: Model, s: State, c: number): boolean {
  const f = m.f;
  if (s[f.vPhase + c] !== IN_USE) return false;
  const hook = m.hooks.archFreePage;
  if (hook !== undefined && hook(s, c, s[f.vHead + c], s[f.vOrder + c], 'before-poison')) {
    s[f.vPhase + c] = HINTING;
    return true;
  }
  poisonBlock(m, s, c);
  afterPoison(m, s, c);
  return true;
}

/** kernel_poison_pages() after a synchronous hint returned inside free_pages_prepare(); no lock. */
export function poisonAfterHint(m: Model, s: State, c: number): boolean {
  if (s[m.f.vPhase + c] !== HINTED_PHASE) return false;
  poisonBlock(m, s, c);
  afterPoison(m, s, c);
  return true;
}

/** The host finished vCPU c's synchronous hint: the hypercall returns. */
export function hintReturned(m: Model, s: State, c: number): boolean {
  const at = m.f.vPhase + c;
  if (s[at] === HINTING) s[at] = HINTED_PHASE;
  else if (s[at] === HINTING_POISONED) s[at] = PREPARED;
  else return false;
  return true;
}

/** Put vCPU c in the design's phase `phase` with the block at head in merge limbo; zone->lock stays held. */
function park(m: Model, s: State, c: number, head: number, order: number, phase: number): void {
  const f = m.f;
  for (let p = head; p < head + (1 << order); p++) {
    s[f.owner + p] = LIMBO;
    s[f.order + p] = 0;
  }
  s[f.vPhase + c] = phase;
  s[f.vHead + c] = head;
  s[f.vOrder + c] = order;
}

/**
 * __free_one_page() on vCPU c's behalf, zone->lock held: the merge loop with
 * the design's mergeStep hook after every merge, its doneMerging hook after
 * the loop, then add_to_free_list() and the notify hook. Either hook may park
 * the vCPU with the block in limbo (a design step resumes it with
 * resumeFreeOnePage()). `merged` says the doneMerging hook already ran.
 */
function freeBlock(m: Model, s: State, c: number, head: number, order: number, merged: boolean): void {
  const f = m.f;
  const hooks = m.hooks;
  if (!merged) {
    for (let next = mergeWithBuddy(m, s, head, order); next >= 0; next = mergeWithBuddy(m, s, head, order)) {
      head = next;
      order++;
      if (hooks.mergeStep !== undefined) {
        const phase = hooks.mergeStep(s, c, head, order);
        if (phase >= 0) return park(m, s, c, head, order, phase);
      }
    }
    if (hooks.doneMerging !== undefined) {
      const phase = hooks.doneMerging(s, c, head, order);
      if (phase >= 0) return park(m, s, c, head, order, phase);
    }
  }
  s[f.vPhase + c] = FREE_LOCKED;
  s[f.vHead + c] = 0;
  s[f.vOrder + c] = 0;
  addToFreeList(m, s, head, order);
  oweHint(m, s, head, order);
  if (hooks.freeOnePageDone !== undefined) hooks.freeOnePageDone(s, head, order, true);
}

/** free_one_page(): take zone->lock and __free_one_page() the block (merging, then the design's notify). */
export function freeOnePageLocked(m: Model, s: State, c: number): boolean {
  const f = m.f;
  if (s[f.vPhase + c] !== PREPARED || !lockFree(m, s)) return false;
  acquire(m, s, c);
  enterFreeOnePage(m, s, s[f.vHead + c], s[f.vOrder + c]);
  freeBlock(m, s, c, s[f.vHead + c], s[f.vOrder + c], false);
  return true;
}

/**
 * Resume a vCPU a design parked in __free_one_page(): its limbo block (vHead,
 * vOrder) merges on (`afterLoop`: it was parked at done_merging, so it is
 * only added to its list). The caller holds zone->lock for vCPU c; the vCPU
 * ends in free-locked, or parked again.
 */
export function resumeFreeOnePage(m: Model, s: State, c: number, afterLoop: boolean): void {
  const f = m.f;
  freeBlock(m, s, c, s[f.vHead + c], s[f.vOrder + c], afterLoop);
}

/** Every vCPU step of vCPU c, with each choice (order, block, madv-free outcome) as its own action. */
export function vcpuActions(m: Model, c: number): ActionSpec[] {
  const phase = m.f.vPhase + c;
  const out: ActionSpec[] = [];
  for (let order = 0; order <= m.cfg.maxOrder; order++) {
    for (let head = 0; head < m.cfg.pages; head += 1 << order) {
      out.push({
        actor: c, name: 'alloc_pages', kernel: '__rmqueue_smallest() + expand(), zone->lock',
        args: { order, block: head }, guardAt: phase, guardIs: IDLE, guard2At: m.f.owner + head, guard2Is: FREE_HEAD,
        apply: (s) => allocPages(m, s, c, order, head),
      });
    }
  }
  for (let order = 0; order <= m.cfg.maxOrder; order++) {
    out.push({
      actor: c, name: 'alloc_pages_fails', kernel: '__alloc_pages(): no free block of the order or above; zone->lock taken and dropped',
      args: { order }, guardAt: phase, guardIs: IDLE,
      apply: (s) => allocFails(m, s, c, order),
    });
  }
  out.push({
    actor: c, name: 'spin_unlock', kernel: 'rmqueue(): spin_unlock_irqrestore(&zone->lock)',
    args: {}, guardAt: phase, guardIs: ALLOC_LOCKED,
    apply: (s) => unlockZone(m, s, c, ALLOC_LOCKED, ALLOCATED_PHASE),
  });
  out.push({
    actor: c, name: 'prep_new_page', kernel: 'prep_new_page(): check_poison_mem(), then write; no lock',
    args: readMayFaultZero(m.cfg) ? { fault: 'old' } : {}, guardAt: phase, guardIs: ALLOCATED_PHASE,
    apply: (s) => prepNewPage(m, s, c, false),
  });
  if (readMayFaultZero(m.cfg)) {
    out.push({
      actor: c, name: 'prep_new_page', kernel: 'prep_new_page(): check_poison_mem(), then write; no lock',
      args: { fault: 'zero' }, guardAt: phase, guardIs: ALLOCATED_PHASE,
      apply: (s) => prepNewPage(m, s, c, true),
    });
  }
  out.push({
    actor: c, name: 'free_pages_prepare', kernel: 'free_pages_prepare(): arch_free_page(), kernel_poison_pages(); no lock',
    args: {}, guardAt: phase, guardIs: IN_USE,
    apply: (s) => freePagesPrepare(m, s, c),
  });
  out.push({
    actor: c, name: 'kernel_poison_pages', kernel: 'free_pages_prepare(): kernel_poison_pages() after the hint; no lock',
    args: {}, guardAt: phase, guardIs: HINTED_PHASE,
    apply: (s) => poisonAfterHint(m, s, c),
  });
  out.push({
    actor: c, name: 'free_one_page', kernel: 'free_one_page(): __free_one_page(), zone->lock',
    args: {}, guardAt: phase, guardIs: PREPARED,
    apply: (s) => freeOnePageLocked(m, s, c),
  });
  out.push({
    actor: c, name: 'spin_unlock', kernel: 'free_one_page(): spin_unlock_irqrestore(&zone->lock)',
    args: {}, guardAt: phase, guardIs: FREE_LOCKED,
    apply: (s) => unlockZone(m, s, c, FREE_LOCKED, IDLE),
  });
  return out;
}
