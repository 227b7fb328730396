/**
 * D3c/D3d: Nitesh Narayan Lal's bitmap designs (designs.md D3c, D3d):
 * "mm: Support for page hinting" v10/v11 (Jun-Jul 2019, mm/page_hinting.c)
 * and "mm: Support for page reporting" v12 (Aug 2019, mm/page_reporting.c).
 *
 * One bit per 2^MIN pages of the zone (MIN = PAGE_HINTING_MIN_ORDER, here
 * --report-order) says the block there *might* be free. __free_one_page()
 * sets the bit of every block of order >= MIN it adds to a free list, under
 * zone->lock, and counts newly set bits in free_pages; once free_pages
 * reaches max_pages (--capacity; 16 in the kernel) it queues the one work
 * item, unless a pass is running (v11: page_hinting_active) or queued or
 * running (v12: cmpxchg(&refcnt, 0, 1)). The work walks the set bits
 * upwards. Per bit it takes zone->lock, isolates the block if the bit's first
 * page is still a buddy of order >= MIN, and clears the bit (v11 under the
 * lock, v12 after dropping it). Every max_pages isolated blocks, and once
 * for the leftover after the walk, it reports them synchronously (the host
 * discards, then returns the buffer) and gives them back through
 * __free_one_page(hint=false): v11 takes the lock per page, v12 once for
 * the batch (__return_isolated_page()). Bits are cleared only by the walk,
 * never by an allocation.
 *
 * Abstractions: one zone, every page online; max_pages is both the
 * threshold and the batch size, as in the kernel; the bitmap has one bit per
 * 2^MIN pages of what it covers (the kernel allocates a spare one); no
 * watermark check in __isolate_free_page(). The model starts right after
 * page_hinting_enable(): an empty bitmap and no work queued (there is no
 * initial flush).
 *
 * Variants: a bitmap that covers only the low pages (designs.md §4 rows 10
 * and 11: another node's zone, or memory hot-added after the bitmap was
 * sized); a thread disabling hinting while vCPUs free (row 13: v11 frees the
 * bitmaps under a vCPU inside page_hinting_enqueue(); v12's RCU does not);
 * and v11's hint_pages() array, whose entries past the current batch keep
 * the previous batch's ranges (an explanation for row 12).
 */
import { defineDesign, type VcpuStepSpec } from '../../design-api.js';
import type { Invariant } from '../../types.js';
import { FREE_HEAD, ISOLATED_HEAD, isolateFreePage, putbackIsolatedPage } from '../../allocator.js';
import type { Config } from '../../config.js';
import { BACKED, HINTED, hintRange, landDiscards } from '../../host.js';
import type { Design, Expectation, Model, State } from '../../types.js';
import { PHASES, quiescent, resumeFreeOnePage } from '../../vcpu.js';
import { lockFree, lockHeldBy } from '../../zone-lock.js';

export interface BitmapVariant {
  /** v12: refcnt gate, clear_bit() and free_pages-- after the unlock, the batch returned under one lock, RCU on disable. */
  readonly v12?: boolean;
  /** Pages the bitmap covers, from page 0 (default: the whole zone). */
  readonly covered?: (cfg: Config) => number;
  /** A thread disables hinting while vCPUs free (page_hinting_disable() / page_reporting_disable()). */
  readonly disable?: boolean;
  /** v11's hint_pages(): a max_pages array never cleared between batches, read by QEMU up to the first gpa 0. */
  readonly staleArray?: boolean;
}

/** What each step stands for, by kernel version. */
interface Names {
  readonly start: readonly [string, string];
  readonly scan: readonly [string, string];
  readonly hint: readonly [string, string];
  readonly release: readonly [string, string];
  readonly finish: readonly [string, string];
  readonly setBit: readonly [string, string];
}

const V11: Names = {
  start: ['init_hinting_wq', 'init_hinting_wq(): atomic_set(&page_hinting_active, 1); scan if free_pages >= max_pages; no lock'],
  scan: ['scan_zone_free_area', 'scan_zone_free_area(): next set bit; zone->lock: __isolate_free_page() if PageBuddy and order >= MIN, clear_bit(), free_pages--'],
  hint: ['hint_pages', 'hint_pages() -> page_hinting_report(): virtqueue_add_outbuf(), kick, wait_event(); no lock'],
  release: ['release_buddy_pages', 'release_buddy_pages(): one page: zone->lock, __free_one_page(hint=false)'],
  finish: ['hinting_done', 'init_hinting_wq(): atomic_set(&page_hinting_active, 0) once the scan returned; no lock'],
  setBit: ['bm_set_pfn', 'page_hinting_enqueue(): bm_set_pfn(): test_and_set_bit(), then queue_work() if free_pages >= max_pages; zone->lock held'],
};

const V12: Names = {
  start: ['page_reporting_wq', 'page_reporting_wq(): scan_zone_bitmap() if free_pages >= max_pages; no lock'],
  scan: ['scan_zone_bitmap', 'scan_zone_bitmap(): for_each_set_bit(); zone->lock: process_free_page() (__isolate_free_page()) if PageBuddy and order >= MIN'],
  hint: ['report', 'phconf->report() = virtballoon_report_pages(): virtqueue_add_inbuf(), kick, wait_event(); no lock'],
  release: ['return_isolated_page', 'return_isolated_page(): zone->lock, __return_isolated_page() for the whole batch'],
  finish: ['reporting_done', 'page_reporting_wq(): atomic_set(&phconf->refcnt, 0); no lock'],
  setBit: ['bitmap_set_bit', '__page_reporting_enqueue(): bitmap_set_bit(), then schedule_work() if free_pages >= max_pages and cmpxchg(&refcnt, 0, 1); zone->lock and rcu_read_lock() held'],
};

/** designs.md §7: 4 pages, a bitmap of 2 bits, threshold 1; here with 2 vCPUs. */
const DEFAULTS: Partial<Config> = { cpus: 2, pages: 4, maxOrder: 2, reportOrder: 1, capacity: 1 };

/** The design's own invariants are not in the project's numbering. */
const OWN = 0;

const ACTORS = {
  // idle: no pass running; starting (v11): the work dequeued, page_hinting_active not yet set;
  // scanning: walking the bits from `cursor` (at nbits the walk is over); clearing (v12): the lock
  // dropped, the bit at `cursor` not yet cleared; waiting: the batch is with the host.
  worker: ['idle', 'starting', 'scanning', 'clearing', 'waiting'],
  // v11: enabled -> cancelled (cancel_work_sync() returned) -> disabled (config NULL, bitmaps freed).
  // v12: enabled -> unpublished (config NULL) -> cancelled (synchronize_rcu(), cancel_work_sync()) -> disabled.
  disabler: ['enabled', 'unpublished', 'cancelled', 'disabled'],
} as const;
const DISABLED = ACTORS.disabler.indexOf('disabled');

/** vCPU phase of the disable variant: inside the enqueue, past the config check (v12: in rcu_read_lock()). */
const VCPU_PHASES = ['enqueue'] as const;
const ENQUEUE = PHASES.length + VCPU_PHASES.indexOf('enqueue');

/** Bits the bitmap has: one per 2^MIN pages it covers. */
function bitCount(v: BitmapVariant, cfg: Config): number {
  return Math.max(1, (v.covered?.(cfg) ?? cfg.pages) >> cfg.reportOrder);
}

/** Blocks the worker holds isolated (its batch): only the worker isolates in these designs. */
function batchCount(m: Model, s: State): number {
  let n = 0;
  for (let p = 0; p < m.cfg.pages; p++) if (s[m.f.owner + p] === ISOLATED_HEAD) n++;
  return n;
}

/** Whether a page of the free block at `head` is still backed by the host. */
function backed(m: Model, s: State, head: number): boolean {
  for (let q = head; q < head + (1 << s[m.f.order + head]); q++) if (s[m.f.backing + q] === BACKED) return true;
  return false;
}

interface EnqueueAt {
  readonly bits: number;
  readonly freePages: number;
  readonly pending: number;
  readonly active: number;
  readonly refcnt: number;
}

/**
 * page_hinting_enqueue() / __page_reporting_enqueue() past the config
 * check, zone->lock held: set the block's bit (counting it only if this
 * free set it), then queue the work once free_pages reaches max_pages.
 */
function enqueue(v: BitmapVariant, cfg: Config, at: EnqueueAt, s: State, head: number): void {
  const bit = head >> cfg.reportOrder;
  if (bit < bitCount(v, cfg) && !s[at.bits + bit]) {
    s[at.bits + bit] = 1;
    s[at.freePages]++;
  }
  if (s[at.freePages] < cfg.capacity) return;
  if (v.v12) {
    // "We should not enqueue a job if a previously enqueued reporting work is in progress".
    if (s[at.refcnt]) return;
    s[at.refcnt] = 1;
    s[at.pending] = 1;
  } else if (!s[at.active]) {
    s[at.pending] = 1;
  }
}

/**
 * The designs' own claim, "the bits are an indication whether a page might
 * be free": once all is quiet, a free block of order >= MIN that the host
 * still backs has its bit set, so a later pass will look at it. A block
 * whose bit is clear is lost for good: no free elsewhere brings a pass to
 * it, only its own allocation and free. (A set bit with no work queued is a
 * miss until the next free; no-missed-hints catches both.)
 */
function freeBlocksMarked(v: BitmapVariant): Invariant {
  return {
    id: 'free-blocks-marked',
    number: OWN,
    short: 'marked',
    title: 'When all is quiet, every backed free block of order >= R the bitmap covers has its bit set',
    why: 'The walk only looks at set bits: a free block whose bit is clear is never hinted until it is allocated and freed again.',
    applies: () => true,
    precondition: 'a quiescent state with a free block of order >= R the bitmap covers',
    bind: (m) => {
      const bits = m.layout.at('bitmap', 'bits');
      const nbits = bitCount(v, m.cfg);
      const R = m.cfg.reportOrder;
      const disabler = v.disable ? m.layout.at('disabler', 'phase') : -1;
      // Only while the bitmap is kept: v11 until the disable frees it, v12 until the config is unpublished.
      const kept = v.v12 ? ACTORS.disabler.indexOf('enabled') : ACTORS.disabler.indexOf('cancelled');
      return {
        state: (s) => {
          if (!quiescent(m, s) || (disabler >= 0 && s[disabler] > kept)) return null;
          for (let p = 0; p < nbits << R; p += 1 << R) {
            if (s[m.f.owner + p] !== FREE_HEAD || s[m.f.order + p] < R || s[bits + (p >> R)] || !backed(m, s, p)) continue;
            return `quiescent, yet the free order-${s[m.f.order + p]} block at page ${p} is backed and its bit ${p >> R} is clear`;
          }
          return null;
        },
        // The check's own antecedent: a quiet moment, with the bitmap kept, and a free block of order >= MIN whose bit it reads.
        reached: {
          state: (s) => {
            if (!quiescent(m, s) || (disabler >= 0 && s[disabler] > kept)) return false;
            for (let p = 0; p < nbits << R; p += 1 << R) if (s[m.f.owner + p] === FREE_HEAD && s[m.f.order + p] >= R) return true;
            return false;
          },
        },
      };
    },
  };
}

/**
 * designs.md §7: for a threshold design, I5 reads "unreported < threshold".
 * What a threshold design promises is the obligation form of it: a free of
 * order >= MIN asks for a hint (the ghost obligations.owed, as for
 * no-missed-hints), and the design may sit on fewer than max_pages such
 * requests, since free_pages counts them and a pass starts at max_pages.
 * So once all is quiet, fewer than max_pages free blocks of order >= MIN
 * that a free asked for may still be backed. A block nothing asked for (the
 * half expand() puts back after a split) is not counted: free-blocks-marked
 * and the strict no-backed-free-blocks see that one.
 */
const unhintedBelowThreshold: Invariant = {
  id: 'unhinted-below-threshold',
  number: OWN,
  short: 'thresh',
  title: 'When all is quiet, fewer than max_pages free blocks of order >= R that a free asked a hint for are still backed',
  why: 'A threshold design may sit on up to max_pages - 1 requests; more than that is work the threshold does not explain.',
  applies: () => true,
  precondition: 'a quiescent state with a free block of order >= R that a free asked a hint for',
  bind: (m) => {
    const R = m.cfg.reportOrder;
    const f = m.f;
    /** Whether a free asked a hint for some page of the block at head that the host still backs. */
    const owedBacked = (s: State, head: number): boolean => {
      for (let q = head; q < head + (1 << s[f.order + head]); q++) if (s[f.owed + q] && s[f.backing + q] === BACKED) return true;
      return false;
    };
    const asked = (s: State, head: number): boolean => s[f.owner + head] === FREE_HEAD && s[f.order + head] >= R && owedBacked(s, head);
    return {
      state: (s) => {
        if (!quiescent(m, s)) return null;
        const heads: number[] = [];
        for (let p = 0; p < m.cfg.pages; p++) if (asked(s, p)) heads.push(p);
        if (heads.length < m.cfg.capacity) return null;
        const n = heads.length;
        return `quiescent, yet ${n} free block${n === 1 ? '' : 's'} of order >= ${R} that frees asked a hint for ${n === 1 ? 'is' : 'are'} still backed (page${n === 1 ? '' : 's'} ${heads.join(', ')}), with max_pages ${m.cfg.capacity}`;
      },
      // The check's own antecedent: a quiet moment with at least one such block it could count.
      reached: {
        state: (s) => {
          if (!quiescent(m, s)) return false;
          for (let p = 0; p < m.cfg.pages; p++) if (asked(s, p)) return true;
          return false;
        },
      },
    };
  },
};

/**
 * Row 13. Once the disabling thread freed the bitmaps, no vCPU is about to
 * write one (it passed the config check before the free), and the work is
 * neither queued nor running (it would walk a freed bitmap with a NULL
 * config). v11 frees with no lock and no RCU; v12 unpublishes the config,
 * waits in synchronize_rcu() for enqueues under rcu_read_lock(), then
 * cancels the work, so the same interleavings find nothing to use.
 */
const noUseAfterFree: Invariant = {
  id: 'no-use-after-free',
  number: OWN,
  short: 'uaf',
  title: 'Nothing uses the bitmap or the config after the disable freed them',
  why: 'A write into a freed bitmap corrupts whatever the allocator gave that memory to next; a pass run after the disable dereferences a NULL config.',
  applies: () => true,
  precondition: 'the disable freed the bitmap',
  bind: (m) => {
    const disabler = m.layout.at('disabler', 'phase');
    const worker = m.layout.at('worker', 'phase');
    const pending = m.layout.at('worker', 'pending');
    return {
      state: (s) => {
        if (s[disabler] !== DISABLED) return null;
        for (let c = 0; c < m.cfg.cpus; c++) {
          if (s[m.f.vPhase + c] === ENQUEUE) return `vcpu${c} is about to set its bit after the disable freed the bitmap: test_and_set_bit() writes freed memory`;
        }
        if (s[worker] !== 0) return 'the hinting work runs after the disable freed the bitmap it walks';
        if (s[pending]) return 'the hinting work is queued after the disable: it will run with a NULL config and a freed bitmap';
        return null;
      },
      // Nothing can be used after a free that has not happened: the disabling thread must have freed the bitmap.
      reached: { state: (s) => s[disabler] === DISABLED },
    };
  },
};

export function bitmapDesign(
  id: string,
  title: string,
  summary: string,
  v: BitmapVariant,
  expect: readonly Expectation[],
  opts: { broken?: string; defaults?: Partial<Config>; accepts?: Readonly<Record<string, string>> } = {},
): Design {
  const N = v.v12 ? V12 : V11;
  return defineDesign({
    id,
    title,
    summary,
    ...(opts.broken !== undefined ? { broken: opts.broken } : {}),
    ...(opts.accepts !== undefined ? { accepts: opts.accepts } : {}),
    defaults: { ...DEFAULTS, ...opts.defaults },
    // The disabling thread and its vCPU phase exist only in the disable variant; elsewhere they
    // are left out of the spec, and nothing below touches them.
    actors: v.disable ? ACTORS : ({ worker: ACTORS.worker } as unknown as typeof ACTORS),
    vcpuPhases: v.disable ? VCPU_PHASES : ([] as unknown as typeof VCPU_PHASES),
    state: (cfg) => {
      const groups = {
        worker: {
          pending: { domain: 'bool', doc: 'the work item is queued (queue_work() / schedule_work() on an idle work item)' },
          active: { domain: 'bool', doc: 'v11 page_hinting_active: a pass is running, so page_hinting_enqueue() queues nothing' },
          refcnt: { domain: 'bool', doc: 'v12 phconf->refcnt: a pass is queued or running (cmpxchg(0, 1) to schedule)' },
          cursor: { domain: { max: bitCount(v, cfg) }, doc: 'the bit the walk goes on from (v12 clearing: the bit to clear); nbits: the walk is over' },
          vq: { domain: ['idle', 'posted', 'done'], doc: 'the hinting virtqueue buffer: idle, with the host, or returned' },
        },
        bitmap: {
          bits: { domain: 'bool', count: bitCount(v, cfg), doc: 'bit b: the block at page b << MIN might be free' },
          freePages: { domain: { max: bitCount(v, cfg) }, doc: 'free_pages: bits set by the enqueue and not yet cleared by the walk' },
        },
      } as const;
      if (!v.staleArray) return groups;
      // Only the stale-array variant has v11's isolated_pages[] (read through the layout, not the kit).
      const hintArray = {
        head: { domain: { max: cfg.pages }, count: cfg.capacity, doc: 'isolated_pages[i].phys_addr as page + 1; 0: never written (QEMU stops at gpa 0)' },
        order: { domain: { max: cfg.maxOrder }, count: cfg.capacity, doc: 'isolated_pages[i].size as an order' },
      };
      return { ...groups, hintArray } as typeof groups;
    },
    idle: (k) => (s) => s[k.at.worker.phase] === k.phase.worker.idle && !s[k.at.worker.pending],
    invariants: [freeBlocksMarked(v), unhintedBelowThreshold, ...(v.disable ? [noUseAfterFree] : [])],
    hooks: (k) => {
      const { cfg, at } = k;
      const R = cfg.reportOrder;
      const eq: EnqueueAt = { ...at.bitmap, ...at.worker };
      if (!v.disable) {
        return {
          /** __free_one_page(hint=true) of a block of order >= MIN, zone->lock held: the enqueue. */
          freeOnePageDone: (s, head, order, notify) => {
            if (notify && order >= R) enqueue(v, cfg, eq, s, head);
          },
        };
      }
      // With a disabling thread the enqueue is a vCPU step of its own, so that the disable can
      // run between the config check and the bit. The block waits in merge limbo meanwhile,
      // under the zone lock that keeps every other actor off the free lists.
      const published = v.v12 ? k.phase.disabler.enabled : k.phase.disabler.cancelled;
      return {
        /** page_hinting_enqueue() / __page_reporting_enqueue(), zone->lock held: the config read non-NULL (v12: in rcu_read_lock()), the free stops before the bit. */
        doneMerging: (s, _c, _head, order) => (order >= R && s[at.disabler.phase] <= published ? 'enqueue' : null),
      };
    },
    steps: (k) => {
      const { m, cfg, at, is, phase } = k;
      const f = m.f;
      const P = phase.worker;
      const R = cfg.reportOrder;
      const cap = cfg.capacity;
      const nbits = bitCount(v, cfg);
      const worker = k.actor.worker;
      const eq: EnqueueAt = { ...at.bitmap, ...at.worker };

      /** find_next_bit(bitmap, nbits, from), or -1. */
      const nextSetBit = (s: State, from: number): number => {
        for (let b = from; b < nbits; b++) if (s[at.bitmap.bits + b]) return b;
        return -1;
      };

      const slots = v.staleArray ? m.layout.at('hintArray', 'head') : -1;
      const slotOrders = v.staleArray ? m.layout.at('hintArray', 'order') : -1;

      /** What goes to the host: the batch, or (v11's array) the batch over the previous batch's entries. */
      const postBatch = (s: State): void => {
        if (!v.staleArray) {
          for (let p = 0; p < cfg.pages; p++) if (s[f.owner + p] === ISOLATED_HEAD) hintRange(m, s, p, 1 << s[f.order + p]);
          return;
        }
        // hint_pages() writes isolated_pages[0..idx); page_hinting_report() hands QEMU all
        // max_pages entries, and QEMU discards every entry up to the first gpa == 0.
        let i = 0;
        for (let p = 0; p < cfg.pages; p++) {
          if (s[f.owner + p] !== ISOLATED_HEAD) continue;
          s[slots + i] = p + 1;
          s[slotOrders + i] = s[f.order + p];
          i++;
        }
        for (let j = 0; j < cap && s[slots + j] !== 0; j++) hintRange(m, s, s[slots + j] - 1, 1 << s[slotOrders + j]);
      };

      const disabler = {
        enabled: v.v12
          ? [
              {
                name: 'page_reporting_disable',
                kernel: 'page_reporting_disable(): RCU_INIT_POINTER(page_reporting_conf, NULL); page_reporting_mutex',
                /** page_reporting_disable(), page_reporting_mutex: unpublish the config, so enqueues from now on return at once. */
                apply: (s: State) => {
                  s[at.disabler.phase] = phase.disabler.unpublished;
                  return true;
                },
              },
            ]
          : [
              {
                name: 'cancel_work_sync',
                kernel: 'page_hinting_disable(): cancel_work_sync(&hinting_work); no lock',
                /** page_hinting_disable(): cancel_work_sync() dequeues the work or waits for the running pass; no lock. */
                apply: (s: State) => {
                  if (s[at.worker.phase] !== P.idle) return false;
                  s[at.worker.pending] = 0;
                  s[at.disabler.phase] = phase.disabler.cancelled;
                  return true;
                },
              },
            ],
        unpublished: v.v12
          ? [
              {
                name: 'synchronize_rcu',
                kernel: 'page_reporting_disable(): synchronize_rcu(), then cancel_work_sync(&phconf->reporting_work)',
                /** page_reporting_disable(): synchronize_rcu() waits out every enqueue in rcu_read_lock(), then cancel_work_sync(); no zone lock. */
                apply: (s: State) => {
                  for (let c = 0; c < cfg.cpus; c++) if (s[f.vPhase + c] === ENQUEUE) return false;
                  if (s[at.worker.phase] !== P.idle) return false;
                  s[at.worker.pending] = 0;
                  s[at.disabler.phase] = phase.disabler.cancelled;
                  return true;
                },
              },
            ]
          : [],
        cancelled: [
          {
            name: v.v12 ? 'zone_reporting_cleanup' : 'page_hinting_disable',
            kernel: v.v12
              ? 'page_reporting_disable(): kfree(phconf->sg); zone_reporting_cleanup(): bitmap_free(), zone->bitmap = NULL, free_pages = 0'
              : 'page_hinting_disable(): page_hitning_conf = NULL; free_area_cleanup(): bitmap_free(), nbits = 0, free_pages = 0; no lock, no RCU',
            /** free_area_cleanup() / zone_reporting_cleanup(): the bitmaps are freed (v11: with the config, and nothing keeps out an enqueue past its check); no lock. */
            apply: (s: State) => {
              for (let b = 0; b < nbits; b++) s[at.bitmap.bits + b] = 0;
              s[at.bitmap.freePages] = 0;
              s[at.disabler.phase] = phase.disabler.disabled;
              return true;
            },
          },
        ],
        disabled: [],
      };

      /** The work function's check: walk the zone only if free_pages reached max_pages, else drop the gate again. */
      const start = (s: State): void => {
        if (s[at.bitmap.freePages] >= cap) {
          s[at.worker.cursor] = 0;
          s[at.worker.phase] = P.scanning;
          return;
        }
        if (v.v12) s[at.worker.refcnt] = 0;
        else s[at.worker.active] = 0;
        s[at.worker.phase] = P.idle;
      };

      return {
        worker: {
          idle: [
            v.v12
              ? {
                  name: N.start[0],
                  kernel: N.start[1],
                  /** page_reporting_wq(), no lock: the work scheduled under refcnt runs. */
                  apply: (s: State) => {
                    if (!s[at.worker.pending]) return false;
                    s[at.worker.pending] = 0;
                    start(s);
                    return true;
                  },
                }
              : {
                  name: 'process_one_work',
                  kernel: 'process_one_work(): clear WORK_STRUCT_PENDING, call init_hinting_wq(); no lock',
                  /** process_one_work(), no lock: the work is dequeued before init_hinting_wq() sets page_hinting_active, so a free meanwhile queues it again. */
                  apply: (s: State) => {
                    if (!s[at.worker.pending]) return false;
                    s[at.worker.pending] = 0;
                    s[at.worker.phase] = P.starting;
                    return true;
                  },
                },
          ],
          starting: v.v12
            ? []
            : [
                {
                  name: N.start[0],
                  kernel: N.start[1],
                  /** init_hinting_wq(), no lock: atomic_set(&page_hinting_active, 1), then walk if free_pages >= max_pages. */
                  apply: (s) => {
                    s[at.worker.active] = 1;
                    start(s);
                    return true;
                  },
                },
              ],
          scanning: [
            {
              name: N.scan[0],
              kernel: N.scan[1],
              /** scan_zone_free_area() / scan_zone_bitmap(), zone->lock per bit: isolate the next set bit's block if still a buddy of order >= MIN. */
              apply: (s) => {
                const from = s[at.worker.cursor];
                if (from >= nbits || batchCount(m, s) >= cap) return false;
                const b = nextSetBit(s, from);
                if (b >= 0 && !lockFree(m, s)) return false;
                if (b < 0) {
                  s[at.worker.cursor] = nbits;
                  return true;
                }
                const head = b << R;
                if (s[f.owner + head] === FREE_HEAD && s[f.order + head] >= R) isolateFreePage(m, s, head);
                if (v.v12) {
                  // "Page has been processed, adjust its bit and zone counter": after spin_unlock().
                  s[at.worker.cursor] = b;
                  s[at.worker.phase] = P.clearing;
                  return true;
                }
                s[at.bitmap.bits + b] = 0;
                s[at.bitmap.freePages]--;
                s[at.worker.cursor] = b + 1;
                return true;
              },
            },
            {
              name: N.hint[0],
              kernel: N.hint[1],
              /** hint_pages() / phconf->report(), no lock: a full batch, or the leftover once the walk is over, goes to the host; the worker waits. */
              apply: (s) => {
                const n = batchCount(m, s);
                if (n !== cap && (n === 0 || s[at.worker.cursor] < nbits)) return false;
                postBatch(s);
                s[at.worker.vq] = is.worker.vq.posted;
                s[at.worker.phase] = P.waiting;
                s[f.evHintBy] = worker + 1;
                return true;
              },
            },
            {
              name: N.finish[0],
              kernel: N.finish[1],
              /** End of init_hinting_wq() / page_reporting_wq(), no lock: the gate drops, so frees may queue the work again. */
              apply: (s) => {
                if (s[at.worker.cursor] < nbits || batchCount(m, s) !== 0) return false;
                if (v.v12) s[at.worker.refcnt] = 0;
                else s[at.worker.active] = 0;
                s[at.worker.cursor] = 0;
                s[at.worker.phase] = P.idle;
                return true;
              },
            },
          ],
          clearing: !v.v12
            ? []
            : [
                {
                  name: 'clear_bit',
                  kernel: 'scan_zone_bitmap(): clear_bit(setbit), atomic_dec(&zone->free_pages) after spin_unlock(); no lock',
                  /** scan_zone_bitmap(): clear_bit() and free_pages-- after spin_unlock(); no lock. A free in between found the bit set and counted nothing. */
                  apply: (s) => {
                    const b = s[at.worker.cursor];
                    s[at.bitmap.bits + b] = 0;
                    s[at.bitmap.freePages]--;
                    s[at.worker.cursor] = b + 1;
                    s[at.worker.phase] = P.scanning;
                    return true;
                  },
                },
              ],
          waiting: [
            {
              name: N.release[0],
              kernel: N.release[1],
              /** release_buddy_pages() (zone->lock per page) / return_isolated_page() (zone->lock once): __free_one_page(hint=false) merges but sets no bit. */
              apply: (s) => {
                if (s[at.worker.vq] !== is.worker.vq.done || !lockFree(m, s)) return false;
                for (let p = 0; p < cfg.pages; p++) {
                  if (s[f.owner + p] !== ISOLATED_HEAD) continue;
                  putbackIsolatedPage(m, s, p);
                  if (!v.v12) break;
                }
                if (batchCount(m, s) === 0) {
                  s[at.worker.vq] = is.worker.vq.idle;
                  s[at.worker.phase] = P.scanning;
                }
                return true;
              },
            },
          ],
        },
        // Only a variant with the disabling thread has the actor and its vCPU phase (see `actors`, `vcpuPhases`).
        ...((v.disable ? { disabler } : {}) as { disabler: typeof disabler }),
        ...((v.disable ? {
        vcpu: {
          enqueue: [
            {
              name: N.setBit[0],
              kernel: N.setBit[1],
              /** bm_set_pfn() / bitmap_set_bit(), zone->lock held: the parked free ends; with the bitmap gone (v11) the write lands in freed memory. */
              apply: (s: State, c: number) => {
                if (!lockHeldBy(m, s, c)) return false;
                const head = s[f.vHead + c];
                resumeFreeOnePage(m, s, c, true);
                if (s[at.disabler.phase] !== phase.disabler.disabled) enqueue(v, cfg, eq, s, head);
                return true;
              },
            },
          ],
        },
        } : {}) as { vcpu: { enqueue: VcpuStepSpec[] } }),
        host: [
          {
            name: 'virtio_balloon_handle_page_hinting',
            kernel: 'QEMU virtio_balloon_handle_page_hinting(): madvise every reported range, then virtqueue_push() and notify',
            /** QEMU virtio_balloon_handle_page_hinting(), no guest lock: discard every reported range, then return the buffer. */
            apply: (s) => {
              if (s[at.worker.vq] !== is.worker.vq.posted) return false;
              landDiscards(m, s, HINTED);
              s[at.worker.vq] = is.worker.vq.done;
              s[f.evServed] = worker + 1;
              return true;
            },
          },
        ],
      };
    },
    expect,
  });
}
