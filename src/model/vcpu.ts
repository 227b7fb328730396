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
import { FREE_HEAD, freeOnePage, isFreeHead, rmqueue, smallestFreeOrder } from './allocator.js';
import type { Config } from './config.js';
import { BACKED, contentAfterFree, DATA, guestRead, guestWrite, readMayFaultZero } from './host.js';
import type { FieldDecl } from './layout.js';
import type { ActionSpec, Model, State } from './types.js';
import { acquire, lockFree, lockHeldBy, release } from './zone-lock.js';

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

export function vcpuFields(cfg: Config): Record<string, FieldDecl> {
  return {
    phase: { domain: PHASES, doc: 'where the thread is in its alloc / use / free cycle' },
    head: { domain: { max: cfg.pages - 1 }, doc: 'first page of the block the thread holds (0 when it holds none)' },
    order: { domain: { max: cfg.maxOrder }, doc: 'order of the block the thread holds (0 when it holds none)' },
  };
}

/** Whether vCPU c holds a block (its head/order fields are meaningful). */
export function holdsBlock(m: Model, s: State, c: number): boolean {
  const phase = s[m.f.vPhase + c];
  return phase !== IDLE && phase !== FREE_LOCKED;
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
  if (!isFreeHead(m, s, head, k) || k < order || smallestFreeOrder(m, s, order) !== k) return false;
  acquire(m, s, c);
  rmqueue(m, s, head, order);
  s[f.vPhase + c] = ALLOC_LOCKED;
  s[f.vHead + c] = head;
  s[f.vOrder + c] = order;
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

/** free_one_page(): take zone->lock and __free_one_page() the block (merging, then the design's notify). */
export function freeOnePageLocked(m: Model, s: State, c: number): boolean {
  const f = m.f;
  if (s[f.vPhase + c] !== PREPARED || !lockFree(m, s)) return false;
  acquire(m, s, c);
  const head = s[f.vHead + c];
  const order = s[f.vOrder + c];
  s[f.vPhase + c] = FREE_LOCKED;
  s[f.vHead + c] = 0;
  s[f.vOrder + c] = 0;
  freeOnePage(m, s, head, order, true);
  return true;
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
