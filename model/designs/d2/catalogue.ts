/**
 * The D2 family's catalogue: RFC 4/4's merge notifier, Aaron Lu's hook after
 * done_merging, the isolation race, and the mutant that keeps zone->lock
 * across the hypercall; their bounds, expected verdicts and why.
 */
import type { Design } from '../../types.js';
import { isolationRaceDesign, mergeNotifierDesign } from './merge-notifier.js';
import { archMergePageHoldingLock } from './mutants.js';

/** What every D2 design accepts. */
export const D2_ACCEPTS = {
  'no-backed-free-blocks':
    'Under page poisoning the pv_free_page_hint_enabled static key is off and nothing is hinted or asked for: the booted guest keeps all its poisoned free memory backed (no-missed-hints holds).',
  'no-double-report':
    'The hint covers the whole 2^R block the merge completes ("full coverage for all of the pages huge TLB order or larger", RFC 4/4): pages of it that were split off a discarded block and never touched since are given back again. The one hint per 2 MB block Alexander promised is checked by one-hint-per-block.',
  'no-fake-oom':
    'designs.md §4 row 7, for D2: the merged block sits in limbo, off every list, for the whole synchronous hypercall; an allocation meanwhile fails although the memory is only being hinted.',
} as const;

const ROW7 = 'no-fake-oom';
const DOUBLE = 'no-double-report';

export const d2MergeNotifier = mergeNotifierDesign(
  'd2-merge-notifier',
  'Merge notifier: hint from the merge loop of __free_one_page(), dropping the zone lock (seed RFC 4/4)',
  'D1 plus arch_merge_page() right after order++ in the merge loop of __free_one_page(): on the exact crossing to order R the vCPU drops zone->lock with the merged block in limbo, makes the synchronous hint hypercall (the host discards the range, then returns), retakes the lock and merges on. A block of order >= R freed as such is still hinted by arch_free_page(). Disabled when page poisoning is on.',
  { at: 'merge-loop' },
  [
    {
      violates: [DOUBLE, ROW7],
      why: 'Every free block of order >= R is given back (the gap of designs.md §4 row 1 is closed), without the lock and without reuse; the block a merge completes is hinted whole, so pages split off a discarded block are hinted again (accepted), and an allocation can fail while a block is in limbo (accepted, row 7). 3 vCPUs (designs.md §7 says 2): the fake OOM needs one vCPU parked, one holding the other order-2 block and one failing.',
    },
    {
      config: { reportOrder: 2 },
      violates: [DOUBLE, ROW7],
      why: 'designs.md §7 bounds (R = 2, the largest order): the hook fires on the crossing 1 -> 2 only, and the verdicts stay those of R = 1.',
    },
    {
      config: { pages: 16, maxOrder: 3 },
      violates: [DOUBLE, ROW7],
      why: 'Two orders above R: the merge goes on past the crossing after the lock is retaken, and the hook stays silent there, yet nothing is missed and no 2^R block is hinted twice.',
    },
    {
      config: { poison: 'on' },
      violates: ['no-backed-free-blocks'],
      why: 'kvm_guest_init() leaves pv_free_page_hint_enabled off under poisoning and both hooks hang off it: nothing is ever hinted, and the booted guest, whose poisoning touched every page, keeps it all backed.',
    },
    {
      config: { cpus: 2, migratetypes: 'on' },
      violates: [DOUBLE, ROW7],
      why: 'Beside a pageblock isolator (8 steps): isolating a pageblock splits the free order-2 block around it, and the MOVABLE half cannot merge with the isolated one at pageblock_order, so an order-2 allocation fails while a merge sits in limbo that would have made room (row 7, at 2 vCPUs instead of 3). The merge notifier hints synchronously inside the free, so no request is ever left outstanding (no-missed-hints holds, unreached). The stale-migratetype race of designs.md §4 row 3 needs the free to read the type before dropping the lock, which d2-isolation-race models.',
    },
  ],
  { defaults: { cpus: 3 }, accepts: D2_ACCEPTS },
);

export const d2AfterDoneMerging = mergeNotifierDesign(
  'd2-after-done-merging',
  'Merge notifier after done_merging (Aaron Lu on RFC 4/4)',
  'The hook moved after the done_merging label of __free_one_page(), as Aaron Lu proposed: it fires for every final order >= R, lock dropped and retaken around the hypercall as in D2, and arch_free_page() no longer hints ("any freed page will go through merge anyway"). A block that merges past R is hinted whole at its final order, halves that were hinted before and stayed free included.',
  { at: 'done-merging' },
  [
    {
      violates: ['allocator-conservation', 'one-hint-per-block', DOUBLE, ROW7],
      why: 'designs.md §4 row 4: a block of order R that was given back and stayed free is hinted again when a free merges it into an order R+1 block (Alexander: "By placing the function here I can guarantee that no more than 1 hint is provided per 2MB page"). Here the booted guest\'s untouched order-1 half plays the first hint. And past done_merging nothing merges again: two vCPUs each park a block of order R with the lock dropped, the blocks being buddies, and each adds its block to the list as it retakes the lock, so two free buddies stay unmerged (allocator-conservation, 20 steps); the in-loop hook of RFC 4/4 merges on after the retake and finds the other.',
    },
    {
      config: { reportOrder: 2 },
      violates: [DOUBLE, ROW7],
      why: 'With R at the largest order nothing merges past R, so every final order >= R is a crossing and the placement hints the same blocks as RFC 4/4: row 4 needs R below the largest order.',
    },
    {
      config: { poison: 'on' },
      violates: ['no-backed-free-blocks'],
      why: 'The same static key: off under poisoning, so nothing is ever hinted.',
    },
  ],
  { defaults: { cpus: 3 }, accepts: D2_ACCEPTS },
);

export const d2HintUnderLock = mergeNotifierDesign(
  'd2-hint-under-lock',
  'D2 without dropping the zone lock (broken)',
  'RFC 4/4 without the spin_unlock()/spin_lock() around the hypercall: the vCPU exits to the host and waits for the discard in the middle of __free_one_page() with zone->lock held.',
  { at: 'merge-loop', merge: archMergePageHoldingLock },
  [
    {
      violates: ['no-hint-under-zone-lock', DOUBLE],
      why: 'designs.md §4 "Designed-away races": D2 without dropping the lock violates I1 by construction. With the lock held nobody can even try to allocate during the hint, so the fake OOM of the limbo window is gone.',
    },
  ],
  { broken: 'no-hint-under-zone-lock', defaults: { cpus: 3 }, accepts: D2_ACCEPTS },
);

export const d2IsolationRace = isolationRaceDesign(
  'd2-isolation-race',
  'D2 beside memory offlining: the merge resumes with a stale migratetype (broken)',
  'D2 with a third actor, offline_pages() on one pageblock: start_isolate_page_range() marks it MIGRATE_ISOLATE and moves its listed free blocks to the isolate list, test_pages_isolated() waits until every page is free, __offline_isolated_pages() takes the range. A vCPU that dropped the lock in arch_merge_page() resumes with the migratetype cached before the drop and adds the block to the MOVABLE list of a pageblock isolated meanwhile; a vCPU allocates from it after the offliner counted it isolated and free.',
  {},
  [
    {
      violates: ['allocator-conservation', DOUBLE, ROW7],
      why: 'designs.md §4 row 3 (I1b, I4): the lock drop in the middle of __free_one_page() leaves its migratetype argument unrevalidated, so a free block of an isolated pageblock lands on an allocatable list; one of its pages ends up both allocated and offlined. The largest order is R, so no merge crosses a pageblock (the core merge does not look at migratetypes); the pageblock order R = 1 is below the R = 2 of designs.md §7 (next row).',
      smaller: 'pageblock order R = 1, below the R = 2 of designs.md §7 (the next row runs at R = 2)',
    },
    {
      config: { cpus: 2, pages: 8, maxOrder: 2, reportOrder: 2 },
      violates: ['allocator-conservation', DOUBLE, ROW7],
      why: 'designs.md §7 scale: pageblocks of order R = 2 (two of them), 2 vCPUs beside the offliner; the same race.',
    },
  ],
  { broken: 'allocator-conservation', defaults: { cpus: 3 }, accepts: D2_ACCEPTS },
);

export const D2_DESIGNS: readonly Design[] = [d2MergeNotifier, d2AfterDoneMerging, d2IsolationRace, d2HintUnderLock];
