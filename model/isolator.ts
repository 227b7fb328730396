/**
 * Pageblock migratetypes (`--migratetypes on`) and the actor that isolates
 * pageblocks: start_isolate_page_range() / undo_isolate_page_range(), as
 * offline_pages() and alloc_contig_range() call them, on one pageblock at a
 * time. A pageblock is 2^R pages (R stands in for pageblock_order) and is
 * MIGRATE_MOVABLE or MIGRATE_ISOLATE; a free block sits on the list of its
 * head's pageblock, so the list a block is on is never stored apart from the
 * pageblock's type, which is what move_freepages_block() keeps in step.
 *
 * What the kernel does with the type, and the model with it:
 *  - __free_one_page() does not merge across pageblocks of different types
 *    when either is not mergeable ("We want to prevent merge between
 *    freepages on pageblock without fallbacks and normal pageblock"):
 *    allocator.mergeWithBuddy();
 *  - __rmqueue_smallest() takes only from the MOVABLE lists: vcpu.ts;
 *  - NR_FREE_PAGES leaves out the isolate lists (account_freepages():
 *    "if (is_migrate_isolate(migratetype)) return;"): allocator.nrFreePages();
 *  - page_reporting_process_zone(): "We do not pull pages from the isolate
 *    free list": D5.
 *
 * Abstraction: the isolator only isolates a pageblock that no in-use,
 * isolated or limbo block larger than a pageblock covers; the kernel would
 * first migrate such a block (alloc_contig_range()) or fail with -EBUSY,
 * neither of which touches a free list. Migrating in-use pages is outside
 * the model.
 */
import { ALLOCATED, FREE_HEAD, FREE_TAIL, ISOLATED_HEAD, LIMBO, delPageFromFreeList, freeOnePage } from './allocator.js';
import type { Config } from './config.js';
import type { FieldDecl } from './layout.js';
import type { ActionSpec, Model, State } from './types.js';
import { acquire, lockFree, release } from './zone-lock.js';

export const MIGRATETYPES = ['movable', 'isolate'] as const;
export const MOVABLE = 0;
export const ISOLATE = 1;

export const ISOLATOR_PHASES = ['idle', 'isolated'] as const;
const IDLE = 0;
const ISOLATED = 1;

/** Whether the configuration and the design have pageblock migratetypes. */
export function hasMigratetypes(cfg: Config): boolean {
  return cfg.migratetypes === 'on';
}

export function pageblockFields(): Record<string, FieldDecl> {
  return { mt: { domain: MIGRATETYPES, doc: 'get_pageblock_migratetype(): MIGRATE_MOVABLE or MIGRATE_ISOLATE' } };
}

export function isolatorFields(cfg: Config): Record<string, FieldDecl> {
  return {
    phase: { domain: ISOLATOR_PHASES, doc: 'idle, or holding one pageblock isolated (between start_ and undo_isolate_page_range())' },
    block: { domain: { max: (cfg.pages >> cfg.reportOrder) - 1 }, doc: 'the pageblock it isolated (0 when idle)' },
  };
}

/** The migratetype of the pageblock page p lies in (MOVABLE without migratetypes). */
export function migratetypeOf(m: Model, s: State, p: number): number {
  return m.f.pbMt < 0 ? MOVABLE : s[m.f.pbMt + (p >> m.cfg.reportOrder)];
}

/** Whether the free block at `head` is on a MIGRATE_ISOLATE list: no allocation, no report takes it. */
export function onIsolateList(m: Model, s: State, head: number): boolean {
  return m.f.pbMt >= 0 && s[m.f.pbMt + (head >> m.cfg.reportOrder)] === ISOLATE;
}

/** The head of the free block page p lies in, or -1 when p is not in a free block. */
function freeBlockOf(m: Model, s: State, p: number): number {
  const f = m.f;
  for (let q = p; q >= 0; q--) {
    const o = s[f.owner + q];
    if (o === FREE_HEAD) return q + (1 << s[f.order + q]) > p ? q : -1;
    if (o !== FREE_TAIL) return -1;
  }
  return -1;
}

/**
 * Whether a block larger than a pageblock that is not free covers pageblock
 * `pb` (the abstraction above): a vCPU's block (in use, or in merge limbo)
 * or a block a hint engine isolated.
 */
function coveredByLargerBusyBlock(m: Model, s: State, pb: number): boolean {
  const f = m.f;
  const R = m.cfg.reportOrder;
  const start = pb << R;
  const covers = (head: number, order: number): boolean => order > R && head <= start && start < head + (1 << order);
  for (let c = 0; c < m.cfg.cpus; c++) {
    const h = s[f.vHead + c];
    const busy = s[f.owner + h] === ALLOCATED || s[f.owner + h] === LIMBO;
    if (s[f.vPhase + c] !== 0 && busy && covers(h, s[f.vOrder + c])) return true;
  }
  for (let p = 0; p < m.cfg.pages; p++) if (s[f.owner + p] === ISOLATED_HEAD && covers(p, s[f.order + p])) return true;
  return false;
}

/**
 * start_isolate_page_range() on pageblock `pb`, zone->lock: the pageblock
 * becomes MIGRATE_ISOLATE (set_migratetype_isolate()); a free block larger
 * than a pageblock around it is split into pageblocks, each freed again
 * (move_freepages_block_isolate() -> split_large_buddy(), FPI_NONE, so the
 * pieces notify), and those of the same type merge back while the isolated
 * one stays apart.
 */
function startIsolatePageRange(m: Model, s: State, pb: number): boolean {
  const f = m.f;
  const R = m.cfg.reportOrder;
  if (s[f.isoPhase] !== IDLE || !lockFree(m, s) || coveredByLargerBusyBlock(m, s, pb)) return false;
  const actor = m.actors.indexOf('isolator');
  acquire(m, s, actor);
  const head = freeBlockOf(m, s, pb << R);
  const order = head >= 0 ? s[f.order + head] : -1;
  s[f.pbMt + pb] = ISOLATE;
  if (order > R) {
    delPageFromFreeList(m, s, head, order);
    for (let p = head; p < head + (1 << order); p++) s[f.order + p] = 0;
    for (let p = head; p < head + (1 << order); p += 1 << R) freeOnePage(m, s, p, R, true);
  }
  release(m, s);
  s[f.isoPhase] = ISOLATED;
  s[f.isoBlock] = pb;
  return true;
}

/**
 * undo_isolate_page_range() -> unset_migratetype_isolate(), zone->lock: the
 * pageblock is MOVABLE again. A free block of order >= pageblock_order at
 * its start whose buddy is free is isolated and put back
 * (__putback_isolated_page(), no notify), so that the merge the isolation
 * held off happens: "Isolation and free will make these pages to be merged."
 */
function undoIsolatePageRange(m: Model, s: State): boolean {
  const f = m.f;
  const R = m.cfg.reportOrder;
  if (s[f.isoPhase] !== ISOLATED || !lockFree(m, s)) return false;
  const pb = s[f.isoBlock];
  const start = pb << R;
  const actor = m.actors.indexOf('isolator');
  acquire(m, s, actor);
  s[f.pbMt + pb] = MOVABLE;
  if (s[f.owner + start] === FREE_HEAD) {
    const order = s[f.order + start];
    const buddy = start ^ (1 << order);
    if (order >= R && order < m.cfg.maxOrder && s[f.owner + buddy] === FREE_HEAD && s[f.order + buddy] === order) {
      delPageFromFreeList(m, s, start, order);
      freeOnePage(m, s, start, order, false);
    }
  }
  release(m, s);
  s[f.isoPhase] = IDLE;
  s[f.isoBlock] = 0;
  return true;
}

export function isolatorActions(m: Model): ActionSpec[] {
  const actor = m.actors.indexOf('isolator');
  const blocks = m.cfg.pages >> m.cfg.reportOrder;
  return [
    ...Array.from({ length: blocks }, (_, pb): ActionSpec => ({
      actor,
      name: 'start_isolate_page_range',
      kernel: 'start_isolate_page_range() -> set_migratetype_isolate(), move_freepages_block_isolate(); zone->lock',
      args: { pageblock: pb },
      guardAt: m.f.isoPhase,
      guardIs: IDLE,
      apply: (s) => startIsolatePageRange(m, s, pb),
    })),
    {
      actor,
      name: 'undo_isolate_page_range',
      kernel: 'undo_isolate_page_range() -> unset_migratetype_isolate(): MIGRATE_MOVABLE, __putback_isolated_page() to merge; zone->lock',
      args: {},
      guardAt: m.f.isoPhase,
      guardIs: ISOLATED,
      apply: (s) => undoIsolatePageRange(m, s),
    },
  ];
}
