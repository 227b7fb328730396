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
import { defineDesign } from '../../design-api.js';
import type { Config } from '../../config.js';
import type { Design, Expectation } from '../../types.js';
import { bitmapFreeHooks, bitmapVcpuSteps } from './bitmap-free.js';
import { disablerSteps } from './bitmap-disable.js';
import { freeBlocksMarked, noUseAfterFree, unhintedBelowThreshold } from './bitmap-invariants.js';
import { BITMAP_ACTORS, bitmapState, VCPU_PHASES, type BitmapOptions } from './bitmap-kit.js';
import { bitmapWorker, virtioBalloonHandlePageHinting, workerSteps, type WorkerOverrides } from './bitmap-worker.js';

/** The named parts a broken variant replaces (bitmap-mutants.ts), each built from the correct ones. */
export type BitmapOverrides = WorkerOverrides;

/** A D3c/D3d variant: the choices of a correct design, and the parts a broken one replaces. */
export interface BitmapVariant extends BitmapOptions {
  readonly overrides?: BitmapOverrides;
}

/** designs.md §7: 4 pages, a bitmap of 2 bits, threshold 1; here with 2 vCPUs. */
const DEFAULTS: Partial<Config> = { cpus: 2, pages: 4, maxOrder: 2, reportOrder: 1, capacity: 1 };

export function bitmapDesign(
  id: string,
  title: string,
  summary: string,
  v: BitmapVariant,
  expect: readonly Expectation[],
  opts: { broken?: string; defaults?: Partial<Config>; accepts?: Readonly<Record<string, string>> } = {},
): Design {
  const o = v.overrides ?? {};
  return defineDesign({
    id,
    title,
    summary,
    ...(opts.broken !== undefined ? { broken: opts.broken } : {}),
    ...(opts.accepts !== undefined ? { accepts: opts.accepts } : {}),
    defaults: { ...DEFAULTS, ...opts.defaults },
    // The disabling thread and its vCPU phase exist only in the disable variant; elsewhere they
    // are left out of the spec, and nothing below touches them.
    actors: v.disable ? BITMAP_ACTORS : ({ worker: BITMAP_ACTORS.worker } as unknown as typeof BITMAP_ACTORS),
    vcpuPhases: v.disable ? VCPU_PHASES : ([] as unknown as typeof VCPU_PHASES),
    state: (cfg) => {
      const groups = bitmapState(cfg, v);
      const kept = o.report?.state?.(cfg);
      return kept === undefined ? groups : ({ ...groups, ...kept } as typeof groups);
    },
    idle: (k) => (s) => s[k.at.worker.phase] === k.phase.worker.idle && !s[k.at.worker.pending],
    invariants: [freeBlocksMarked(v), unhintedBelowThreshold, ...(v.disable ? [noUseAfterFree] : [])],
    hooks: (k) => bitmapFreeHooks(k, v),
    steps: (k) => ({
      worker: workerSteps(bitmapWorker(k, v, o), v),
      // Only a variant with the disabling thread has the actor and its vCPU phase (see `actors`, `vcpuPhases`).
      ...((v.disable ? { disabler: disablerSteps(k, v) } : {}) as { disabler: ReturnType<typeof disablerSteps> }),
      ...((v.disable ? { vcpu: bitmapVcpuSteps(k, v) } : {}) as { vcpu: ReturnType<typeof bitmapVcpuSteps> }),
      host: [virtioBalloonHandlePageHinting(k)],
    }),
    expect,
  });
}
