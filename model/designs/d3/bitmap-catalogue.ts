/**
 * D3c/D3d's catalogue: v11 and v12 as posted, each with its matrix rows,
 * and the variants of designs.md §4 rows 10-13 built on them (a bitmap that
 * misses part of the memory, a disabling thread, v11's hint_pages() array).
 */
import type { Config } from '../../config.js';
import type { Design } from '../../types.js';
import { bitmapDesign } from './bitmap.js';
import { staleHintArray } from './bitmap-mutants.js';

/** What the family accepts by design. */
export const D3CD_ACCEPTS = {
  'no-double-report':
    'A free that merges into a block of order >= MIN sets the merged head\'s bit, and the walk hints the whole block, halves the host no longer backs (or never backed) included, as D5 does (designs.md §4 row 24). Blocks coming back from the host go through __free_one_page(hint=false) and set no bit: that is how v10+ avoid row 5.',
  'no-fake-oom':
    'designs.md §4 row 7: the blocks the walk isolated are off the free lists while the host works on them; v11 bounds them with max_pages ("To prevent any false OOM max_pages count is set to 16"). This model has no watermarks.',
} as const;

const ACCEPTED = ['no-double-report', 'no-fake-oom'];

/** The misses every row shows at threshold 1, where the threshold form of I5 is the strict one. */
const STRICT = ['no-missed-hints', 'no-backed-free-blocks', 'unhinted-below-threshold'];

const SPLIT =
  'An allocation that splits a free block puts the upper halves back through expand(), which sets no bit: a backed order-1 remainder is free, unmarked, and no later pass will look at it (free-blocks-marked and the strict form, 14 steps). Nothing asked for the remainder; what no-missed-hints and the threshold form (at max_pages 1 the same statement) find is lost work, in 17 steps: a free while page_hinting_active sets its bit but queues nothing, and the pass that was running ends without it. Bounds: designs.md §7 (4 pages, a bitmap of 2 bits, threshold 1), with 2 vCPUs. At D5\'s 8 pages (4 bits) the verdicts are the same (measured: 2.9 million states for v11, 2.5 million for v12), but that search takes seconds, so it is not a row.';

const THRESHOLD =
  'max_pages 2 (the kernel\'s 16, scaled down): one freed block never reaches the threshold, so the strict no-missed-hints fails in 6 steps, as designs.md §7 expects of a threshold design. The threshold form fails as well: v11\'s lost wakeup leaves two backed blocks with their bits set, free_pages = max_pages and no work queued (29 steps); in v12 both blocks lose their bits in the clear_bit() window (30 steps).';

export const d3cBitmap = bitmapDesign(
  'd3c-bitmap',
  'Per-zone bitmap and work item, synchronous report (Nitesh v10/v11)',
  'A free of order >= MIN under zone->lock sets the block\'s bit in a per-zone bitmap and counts it in free_pages; at max_pages it queues the work, unless page_hinting_active. The work walks the set bits; per bit, under zone->lock, it isolates the block if still a buddy of order >= MIN and clears the bit. Every max_pages blocks, and for the leftover, it reports them and waits for the host, then frees them back one lock at a time with hint=false. The report carries exactly the batch (v11\'s array is d3c-stale-hint-array).',
  {},
  [
    { violates: [...STRICT, 'free-blocks-marked', ...ACCEPTED], why: SPLIT },
    {
      config: { pages: 8, reportOrder: 2 },
      violates: [...STRICT, ...ACCEPTED],
      why: 'With MIN at the largest order no split leaves a block of order >= MIN and every backed free block keeps its bit (free-blocks-marked holds). The miss left is the lost wakeup (16 steps): a free behind the walk\'s cursor sets its bit but queues nothing while page_hinting_active is 1, and the pass ends with the bit set and nothing queued, until the next free of order >= MIN (as designs.md §4 row 25 for D5).',
    },
    { config: { pages: 8, reportOrder: 2, capacity: 2 }, violates: [...STRICT, ...ACCEPTED], why: THRESHOLD },
    {
      config: { poison: 'on', host: 'dontneed' },
      violates: ['poison-reads-back', ...STRICT, 'free-blocks-marked', ...ACCEPTED],
      why: 'v10/v11 know nothing of page poisoning: the host discards a poisoned block and its next allocation reads zero (row 16\'s failure, here in D3c). With no initial flush, the memory the boot-time poisoning backed is never hinted (the strict form and free-blocks-marked, depth 0); no free asked for it, so the threshold form and no-missed-hints fail only on the lost wakeup (17 steps).',
    },
  ],
  { accepts: D3CD_ACCEPTS },
);

export const d3dBitmapRefcount = bitmapDesign(
  'd3d-bitmap-refcount',
  'Bitmap in struct zone, refcount gate, clear_bit outside the lock (Nitesh v12)',
  'v12: the bitmap lives in struct zone; a free schedules the work when free_pages >= max_pages and cmpxchg(&refcnt, 0, 1) succeeds, and the work drops refcnt at its end. The walk isolates under zone->lock but clears the bit and decrements free_pages after spin_unlock(); a full batch (or the leftover) is reported synchronously and returned with __return_isolated_page() under one lock.',
  { v12: true },
  [
    { violates: [...STRICT, 'free-blocks-marked', ...ACCEPTED], why: SPLIT },
    {
      config: { pages: 8, reportOrder: 2 },
      violates: [...STRICT, 'free-blocks-marked', ...ACCEPTED],
      why: 'Unlike v11, free-blocks-marked fails even with MIN at the largest order: scan_zone_bitmap() clears the bit after spin_unlock(). A vCPU that frees the block in that window finds the bit still set (test_and_set_bit() counts nothing, refcnt keeps the work off), and the late clear_bit() leaves a backed free block without its bit, lost for good. The lost wakeup of v11 is here too (refcnt held to the end of the pass).',
    },
    { config: { pages: 8, reportOrder: 2, capacity: 2 }, violates: [...STRICT, 'free-blocks-marked', ...ACCEPTED], why: THRESHOLD },
  ],
  { accepts: D3CD_ACCEPTS },
);

/** Half the zone outside the bitmap, at a max-order boundary so that the halves never merge. */
const LOW_HALF = (cfg: Config): number => cfg.pages / 2;
const HALVES: Partial<Config> = { pages: 8, reportOrder: 2 };

export const d3cBitmapNode1 = bitmapDesign(
  'd3c-bitmap-node1',
  'D3c whose bitmap misses node 1\'s zone (v10 NUMA)',
  'd3c-bitmap with a bitmap that covers only the low half of the pages: the high half stands for node 1\'s zone of the same index, which v10\'s per-zone-index free_area[] did not cover. bm_set_pfn() ignores a bit past nbits, so frees there are never tracked.',
  { covered: LOW_HALF },
  [
    {
      violates: [...STRICT, ...ACCEPTED],
      why: 'designs.md §4 row 10: a block freed in the uncovered half is backed and never hinted (6 steps). Bounds: 8 pages so that each half is a max-order block; MIN 2 keeps the split misses of d3c-bitmap out of the way.',
    },
  ],
  { broken: 'no-missed-hints', defaults: HALVES, accepts: D3CD_ACCEPTS },
);

export const d3dBitmapHotplug = bitmapDesign(
  'd3d-bitmap-hotplug',
  'D3d with memory hot-added after the bitmap was sized',
  'd3d-bitmap-refcount whose bitmap covers only the low half of the pages: the high half stands for memory hot-added after page_reporting_enable() sized zone->bitmap (nbits is not updated), so bitmap_set_bit() ignores its frees.',
  { v12: true, covered: LOW_HALF },
  [
    {
      violates: [...STRICT, 'free-blocks-marked', ...ACCEPTED],
      why: 'designs.md §4 row 11: a block freed in the hot-added half is backed and never hinted (6 steps). free-blocks-marked fails in the covered half, by v12\'s clear_bit() window.',
    },
  ],
  { broken: 'no-missed-hints', defaults: HALVES, accepts: D3CD_ACCEPTS },
);

export const d3cDisableRace = bitmapDesign(
  'd3c-disable-race',
  'D3c with page_hinting_disable() racing a free (v11)',
  'd3c-bitmap plus a thread running page_hinting_disable(): cancel_work_sync(), then page_hitning_conf = NULL and free_area_cleanup() freeing the bitmaps, with no lock and no RCU. A vCPU that passed the page_hitning_conf check in page_hinting_enqueue() (it stops there, with its block in merge limbo under zone->lock) goes on into bm_set_pfn() on the freed bitmap.',
  { disable: true },
  [
    {
      violates: ['no-use-after-free', ...STRICT, ...ACCEPTED],
      why: 'designs.md §4 row 13: the vCPU is inside page_hinting_enqueue() when the bitmap is freed (7 steps). The disable\'s cancel_work_sync() drops a pass a free has just queued (8 steps), and once disabled nothing is hinted: no-missed-hints fails by design. Bounds: 4 pages, MIN 2 (one bit), as the race needs no more.',
    },
  ],
  { broken: 'no-use-after-free', defaults: { reportOrder: 2 }, accepts: D3CD_ACCEPTS },
);

export const d3dDisable = bitmapDesign(
  'd3d-disable',
  'D3d with page_reporting_disable() racing a free (v12)',
  'd3d-bitmap-refcount plus a thread running page_reporting_disable(): RCU_INIT_POINTER(conf, NULL), synchronize_rcu(), cancel_work_sync(), then zone_reporting_cleanup() freeing the bitmaps. The enqueue runs under rcu_read_lock(), so synchronize_rcu() waits for a vCPU past the config check.',
  { v12: true, disable: true },
  [
    {
      violates: [...STRICT, 'free-blocks-marked', ...ACCEPTED],
      why: 'v12 closes row 13: no-use-after-free holds. Frees after the config is unpublished set no bit, so no-missed-hints and free-blocks-marked fail from then on (7 and 18 steps), by design as far as the disable goes.',
    },
  ],
  { defaults: { reportOrder: 2 }, accepts: D3CD_ACCEPTS },
);

export const d3cStaleHintArray = bitmapDesign(
  'd3c-stale-hint-array',
  'D3c with v11\'s hint_pages() array as posted',
  'd3c-bitmap whose report is v11\'s: hint_pages() writes isolated_pages[0..n) of a max_pages array that is never cleared, page_hinting_report() hands QEMU the whole array, and QEMU madvises every entry up to the first gpa 0. A leftover batch shorter than the batch before it reports the previous batch\'s ranges again, whatever the guest did with them since.',
  { overrides: staleHintArray },
  [
    {
      violates: ['no-reuse-while-hinting', ...STRICT, ...ACCEPTED],
      why: 'An explanation for designs.md §4 row 12 ("free memory it shouldn\'t be ... NULL pointer dereferences", root cause not found in the thread): a full batch of 2, then a leftover of 1 while a vCPU holds the second block of the first batch, and the host discards that vCPU\'s page (40 steps). max_pages 2 is the least that shows it; max order 1 keeps the two blocks apart; threshold 2 also makes no-missed-hints fail in 6 steps.',
    },
  ],
  { broken: 'no-reuse-while-hinting', defaults: { maxOrder: 1, capacity: 2 }, accepts: D3CD_ACCEPTS },
);

export const D3CD_DESIGNS: readonly Design[] = [
  d3cBitmap,
  d3dBitmapRefcount,
  d3cBitmapNode1,
  d3dBitmapHotplug,
  d3cDisableRace,
  d3dDisable,
  d3cStaleHintArray,
];
