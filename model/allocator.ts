/**
 * The guest's buddy allocator for one zone, as mm/page_alloc.c keeps it.
 *
 * Each base page records where it is: allocated to a vCPU, the head or a tail
 * page of a free block on free_area[order], the head or a tail page of a
 * block isolated by a hint engine, or in merge limbo (taken off the lists in
 * the middle of __free_one_page). Free heads carry PageReported. The free
 * lists themselves are the set of free heads per order: their order on the
 * list is abstracted, so an allocation or an isolation may take any block of
 * the order it looks at, which covers every list order the kernel could have.
 * nr_free[order] is kept as the kernel keeps it, separately, so that a design
 * that forgets to account can be caught.
 *
 * Every function here assumes zone->lock is held by the actor whose step
 * calls it; none of them is a step of its own.
 */
import type { Config } from './config.js';
import type { FieldDecl } from './layout.js';
import { BACKED } from './host.js';
import type { Model, State } from './types.js';

export const OWNERS = ['allocated', 'free-head', 'free-tail', 'isolated-head', 'isolated-tail', 'limbo'] as const;
export const ALLOCATED = 0;
export const FREE_HEAD = 1;
export const FREE_TAIL = 2;
export const ISOLATED_HEAD = 3;
export const ISOLATED_TAIL = 4;
export const LIMBO = 5;

export function pageFields(cfg: Config): Record<string, FieldDecl> {
  return {
    owner: { domain: OWNERS, doc: 'where the base page is: allocated, in a free block, isolated by the hint engine, or in merge limbo' },
    order: { domain: { max: cfg.maxOrder }, doc: 'order of the block this page heads (free or isolated heads; 0 elsewhere)' },
    reported: { domain: 'bool', doc: 'PageReported: set on a free head by page_reporting_drain(), cleared by del_page_from_free_list()' },
  };
}

export function freeAreaFields(cfg: Config): Record<string, FieldDecl> {
  return {
    nrFree: { domain: { max: cfg.pages }, count: cfg.maxOrder + 1, doc: 'free_area[order].nr_free' },
  };
}

/** Booted zone: every page free, in blocks of the largest order. */
export function initFreeArea(m: Model, s: State): void {
  const f = m.f;
  const size = 1 << m.cfg.maxOrder;
  for (let head = 0; head < m.cfg.pages; head += size) addToFreeList(m, s, head, m.cfg.maxOrder);
  for (let o = 0; o < m.cfg.maxOrder; o++) s[f.nrFree + o] = 0;
}

/** Whether `head` heads a free block of exactly `order`. */
export function isFreeHead(m: Model, s: State, head: number, order: number): boolean {
  return s[m.f.owner + head] === FREE_HEAD && s[m.f.order + head] === order;
}

/**
 * Smallest order >= `order` whose free list is non-empty, or -1: the walk
 * __rmqueue_smallest() makes over free_area[]. Read from nr_free, which
 * agrees with the lists wherever allocator-conservation holds.
 */
export function smallestFreeOrder(m: Model, s: State, order: number): number {
  for (let o = order; o <= m.cfg.maxOrder; o++) if (s[m.f.nrFree + o] !== 0) return o;
  return -1;
}

/** add_to_free_list(): the block becomes a free head with unreported tail pages. */
export function addToFreeList(m: Model, s: State, head: number, order: number): void {
  const f = m.f;
  const end = head + (1 << order);
  s[f.owner + head] = FREE_HEAD;
  s[f.order + head] = order;
  s[f.reported + head] = 0;
  for (let p = head + 1; p < end; p++) {
    s[f.owner + p] = FREE_TAIL;
    s[f.order + p] = 0;
    s[f.reported + p] = 0;
  }
  s[f.nrFree + order]++;
}

/** del_page_from_free_list(): off the list, PageReported cleared; the caller says where the pages go. */
export function delPageFromFreeList(m: Model, s: State, head: number, order: number): void {
  const f = m.f;
  if (m.hooks.keepReportedOffList !== true) s[f.reported + head] = 0;
  s[f.nrFree + order]--;
}

function setRange(s: State, at: number, head: number, n: number, value: number): void {
  for (let p = head; p < head + n; p++) s[at + p] = value;
}

/**
 * __rmqueue_smallest() + expand(): take the free block at `head` (order k >=
 * order), hand its first 2^order pages out and put the upper halves back as
 * fresh, unreported free blocks of orders k-1 .. order.
 */
export function rmqueue(m: Model, s: State, head: number, order: number): void {
  const f = m.f;
  let k = s[f.order + head];
  delPageFromFreeList(m, s, head, k);
  // The block is no longer owed a hint: its pages are allocated, and expand() never notifies for the halves it puts back.
  if (f.owed >= 0) setRange(s, f.owed, head, 1 << k, 0);
  while (k > order) {
    k--;
    addToFreeList(m, s, head + (1 << k), k);
  }
  setRange(s, f.owner, head, 1 << order, ALLOCATED);
  setRange(s, f.order, head, 1 << order, 0);
}

/**
 * One turn of __free_one_page()'s merge loop: if the buddy of the block at
 * `head` is a free block of the same order, take it off its list (it loses
 * PageReported) and return the head of the merged block; else -1.
 */
export function mergeWithBuddy(m: Model, s: State, head: number, order: number): number {
  const f = m.f;
  if (order >= m.cfg.maxOrder) return -1;
  const buddy = head ^ (1 << order);
  if (s[f.owner + buddy] !== FREE_HEAD || s[f.order + buddy] !== order) return -1;
  // "We want to prevent merge between freepages on pageblock without fallbacks and normal pageblock":
  // at order >= pageblock_order, MOVABLE and ISOLATE buddies stay apart (MIGRATE_ISOLATE is not mergeable).
  if (f.pbMt >= 0 && order >= m.cfg.reportOrder && s[f.pbMt + (head >> m.cfg.reportOrder)] !== s[f.pbMt + (buddy >> m.cfg.reportOrder)]) return -1;
  delPageFromFreeList(m, s, buddy, order);
  s[f.order + buddy] = 0;
  return buddy < head ? buddy : head;
}

/**
 * __free_one_page()'s VM_BUG_ON_PAGE(page->flags & PAGE_FLAGS_CHECK_AT_PREP,
 * page): a block enters the buddy allocator with no page flag set, and
 * PG_reported (an alias of PG_uptodate) is one of them. The step raises
 * badFree for allocator-conservation; add_to_free_list() would hide it.
 */
export function enterFreeOnePage(m: Model, s: State, head: number, order: number): void {
  const f = m.f;
  if (f.evBadFree < 0 || s[f.evBadFree] !== 0) return;
  for (let p = head; p < head + (1 << order); p++) {
    if (s[f.reported + p]) {
      s[f.evBadFree] = p + 1;
      return;
    }
  }
}

/**
 * __free_one_page(): merge with free buddies of the same order while they
 * exist, then put the result on free_area[order] and tell the design.
 * Returns the head of the merged block. (The vCPU's free path runs the same
 * loop with the design's merge hooks; see vcpu.ts.)
 */
export function freeOnePage(m: Model, s: State, head: number, order: number, notify: boolean): number {
  enterFreeOnePage(m, s, head, order);
  for (let merged = mergeWithBuddy(m, s, head, order); merged >= 0; merged = mergeWithBuddy(m, s, head, order)) {
    head = merged;
    order++;
  }
  addToFreeList(m, s, head, order);
  if (notify) oweHint(m, s, head, order);
  if (m.hooks.freeOnePageDone !== undefined) m.hooks.freeOnePageDone(s, head, order, notify);
  return head;
}

/**
 * The ghost of no-missed-hints: a free that notifies (page_reporting_notify_free()
 * in __free_one_page(), for a final order >= R) leaves every page of the block
 * owed a hint. A putback (FPI_SKIP_REPORT_NOTIFY) owes nothing new: its pages
 * keep what they were owed, and so do a merged buddy's, so a merge inherits
 * the obligations of its parts. A page the host does not back is owed
 * nothing: no-missed-hints looks only at backed pages, and a free page the
 * host has taken back stays so until it is allocated, which discharges it
 * anyway; keeping the bit would only split states the verdict cannot tell
 * apart.
 */
export function oweHint(m: Model, s: State, head: number, order: number): void {
  const f = m.f;
  if (f.owed < 0 || order < m.cfg.reportOrder) return;
  if (m.hooks.asksForHint !== undefined && !m.hooks.asksForHint(s, head, order)) return;
  // Only a page the host backs can be missed: one it has already is owed nothing (host.discardPage() says the same).
  for (let p = head; p < head + (1 << order); p++) if (s[f.backing + p] === BACKED) s[f.owed + p] = 1;
}

/**
 * Waive a block's obligation: the design's documented policy gives up the
 * request (page_reporting_process_zone(): "Cancel request if insufficient
 * free memory"; a watermark refusal in __isolate_free_page()),
 * so no-missed-hints no longer holds the engine to the block; the strict
 * no-backed-free-blocks still sees it.
 */
export function waiveHint(m: Model, s: State, head: number, order: number): void {
  const f = m.f;
  if (f.owed < 0) return;
  for (let p = head; p < head + (1 << order); p++) s[f.owed + p] = 0;
}

/**
 * NR_FREE_PAGES: the pages on the free lists but the isolate ones. __isolate_free_page()'s
 * __mod_zone_freepage_state(zone, -(1UL << order), mt) takes an isolated
 * block out of it, and __putback_isolated_page() puts it back.
 */
export function nrFreePages(m: Model, s: State): number {
  const f = m.f;
  let n = 0;
  for (let o = 0; o <= m.cfg.maxOrder; o++) n += s[f.nrFree + o] << o;
  if (f.pbMt < 0) return n;
  // account_freepages(): "if (is_migrate_isolate(migratetype)) return;": the isolate lists are not counted.
  const R = m.cfg.reportOrder;
  for (let p = 0; p < m.cfg.pages; p++) if (s[f.owner + p] === FREE_HEAD && s[f.pbMt + (p >> R)] === 1) n -= 1 << s[f.order + p];
  return n;
}

/**
 * zone_watermark_ok(zone, 0, mark, 0, ALLOC_CMA): __zone_watermark_ok() at
 * order 0 with nothing unusable (no CMA, no highatomic reserve, no
 * lowmem_reserve for the zone's own index) is "free_pages > mark". Read
 * without zone->lock, as the kernel reads the vmstat counter.
 */
export function zoneWatermarkOk(m: Model, s: State, mark: number): boolean {
  return nrFreePages(m, s) > mark;
}

/**
 * __isolate_free_page()'s watermark: "Obey watermarks as if the page was
 * being allocated", zone->_watermark[WMARK_MIN] + (1UL << order). False
 * when the isolation would fail and return 0 (designs with watermarks only).
 */
export function isolationWatermarkOk(m: Model, s: State, order: number): boolean {
  return m.cfg.watermarkMin === undefined || zoneWatermarkOk(m, s, m.cfg.watermarkMin + (1 << order));
}

/** __isolate_free_page() past its watermark check: take a free block off its list for the hint engine. */
export function isolateFreePage(m: Model, s: State, head: number): void {
  const f = m.f;
  const order = s[f.order + head];
  delPageFromFreeList(m, s, head, order);
  s[f.owner + head] = ISOLATED_HEAD;
  setRange(s, f.owner, head + 1, (1 << order) - 1, ISOLATED_TAIL);
}

/**
 * __putback_isolated_page(): return an isolated block through
 * __free_one_page() with FPI_SKIP_REPORT_NOTIFY. Returns the merged head.
 */
export function putbackIsolatedPage(m: Model, s: State, head: number): number {
  const order = s[m.f.order + head];
  return freeOnePage(m, s, head, order, false);
}
