/**
 * The D5 catalogue: the upstream design at each configuration of its matrix
 * rows, and the mutants that break what mm/page_reporting.c relies on.
 */
import type { Design } from '../../types.js';
import { batchOnFreeList, pushBeforeDiscard, reportHoldingLock, requestUnlessActive } from './mutants.js';
import { pageReportingDesign } from './page-reporting.js';

/** What the D5 family accepts by design. */
export const D5_ACCEPTS = {
  'no-backed-free-blocks':
    'designs.md §4 row 25, "bounded by next free": expand() never notifies, so the free half of a block an allocation split after the walk passed its order stays backed; page_reporting_process_zone() cancels a pass below low_wmark + (CAPACITY << R) and __isolate_free_page() refuses a block below min + 2^order, and what they turn away stays backed until the next free of order >= R; and a host that skips poisoned discards keeps what it was given.',
  'no-double-report':
    'designs.md §4 row 24: a reported block split by an allocation, or a drained block merged with its buddy, is reported whole again; and the initial flush reports memory the host never backed. The price of a flag that lives only on free heads.',
  'no-fake-oom':
    'designs.md §4 row 7: blocks in flight are off the free lists. D5 bounds the window with PAGE_REPORTING_CAPACITY and its watermarks (each isolation leaves more than min + 2^order pages free); the vCPUs of this model allocate below the watermarks, so they can still meet the window.',
} as const;

/** The accepted violations most D5 checks show (a host that skips discards shows no double report). */
const ACCEPTED = ['no-double-report', 'no-fake-oom'];

const SPLIT_BEHIND_WALK =
  'page_reporting_process_zone() walks the orders upwards; an allocation that splits an unreported free block after the walk passed order R leaves an unreported order-R block (expand() does not notify) and the pass ends IDLE, so the block stays backed until the next free of order >= R (designs.md §4 row 25: misses "bounded by next free"); so does a block a watermark gate turned away. Nothing asked for the first, and the kernel cancelled the request for the second, so no-missed-hints holds; the strict form shows the leftover. Both watermark gates refuse and pass in reachable states.';

/** R at the largest order: CAPACITY 1 keeps low_wmark + (CAPACITY << R) below the 8 pages of the zone. */
const AT_MAX = { reportOrder: 2, capacity: 1 } as const;

export const d5PageReporting = pageReportingDesign(
  'd5-page-reporting',
  'Upstream free page reporting (Linux 5.7+)',
  'A worker started by page_reporting_notify_free() checks the zone against its low watermark, then isolates up to C unreported free blocks of order >= R under the zone lock while the min watermark allows, drops the lock, reports them to the host and waits, then puts them back and marks them Reported if they are still free blocks of the same order, with a budget of reports per list. Starts with one request pending (the initial flush).',
  {},
  [
    { violates: ['no-backed-free-blocks', ...ACCEPTED], why: SPLIT_BEHIND_WALK },
    {
      config: AT_MAX,
      violates: ['no-backed-free-blocks', ...ACCEPTED],
      why: 'With R at the largest order no split can leave a block of order >= R behind; what stays backed is what the watermark gates turned away (designs.md §4 row 25), which the strict form shows and no-missed-hints, by the kernel\'s "Cancel request", does not count.',
    },
    {
      config: { cpus: 1, capacity: 1, reportOrder: 0 },
      violates: ['no-backed-free-blocks', 'no-double-report'],
      why: 'The budget binds: DIV_ROUND_UP(nr_free, CAPACITY * 16) is 1, so a list gets two reports a pass, and a third unreported block ends the list with the state back at REQUESTED; the next pass reports it, so no-missed-hints holds. One vCPU cannot meet an isolated batch in its own allocation.',
    },
    {
      config: { ...AT_MAX, poison: 'on', host: 'dontneed' },
      violates: ['poison-reads-back', 'no-backed-free-blocks', ...ACCEPTED],
      why: 'designs.md §4 row 23: the Linux 5.7.0 bug fixed by fb69c2c896fc: without PAGE_POISON the host discards poisoned pages and the next allocation check reads zero.',
    },
    {
      config: { ...AT_MAX, poison: 'on', host: 'madv-free' },
      violates: ['poison-reads-back', 'no-backed-free-blocks', ...ACCEPTED],
      why: 'MADV_FREE may hand back a zero page once the host reclaimed it: the poison is lost just as with MADV_DONTNEED, only less often.',
    },
    {
      config: { ...AT_MAX, poison: 'on', host: 'poison-on-fault' },
      violates: ['no-backed-free-blocks', ...ACCEPTED],
      why: 'A host that refills discarded pages with the poison value keeps the check happy and still takes the memory back.',
    },
    {
      config: { ...AT_MAX, poison: 'on', host: 'skip-if-poisoned' },
      violates: ['no-backed-free-blocks', 'no-fake-oom'],
      why: 'QEMU skips the discard when poison_val != 0: the poison reads back, but the host never gets the memory (seed thread: "just checks that poison == 0 and skips freeing if not"). The guest did report every block it was asked about (no-missed-hints holds); the strict form shows the memory the host kept.',
    },
    {
      config: { ...AT_MAX, poison: 'init-on-free', host: 'dontneed' },
      violates: ['no-backed-free-blocks', ...ACCEPTED],
      why: 'init_on_free reports poison_val 0, and a discarded page reads back zero, which is what init_on_free wrote.',
    },
    {
      config: { poison: 'on', host: 'dontneed' },
      violates: ['poison-reads-back', 'no-backed-free-blocks', ...ACCEPTED],
      why: 'The 5.7.0 poison bug at the default report order, with the split leftover of the defaults row beside it.',
    },
    {
      config: { ...AT_MAX, migratetypes: 'on' },
      violates: ['no-backed-free-blocks', ...ACCEPTED],
      why: 'With pageblock migratetypes and an isolator (start_isolate_page_range() on one pageblock at a time): a block freed or drained onto an isolated pageblock goes to the isolate list, which the walk skips ("We do not pull pages from the isolate free list"), and at order >= pageblock_order it does not merge with a MOVABLE buddy; undo_isolate_page_range() merges them again without a notify. What the walk skipped is given up, so no-missed-hints holds; the strict form shows it.',
    },
  ],
  undefined,
  {},
  D5_ACCEPTS,
);

/**
 * The broken variants run at 4 pages of order 1 with R = 1, CAPACITY 1 and
 * no min watermark, where both gates can pass (3 free pages of 4); at 8
 * pages their state spaces pass 20 million states.
 */
const SMALL = { pages: 4, maxOrder: 1, reportOrder: 1, capacity: 1, watermarkMin: 0 } as const;

export const d5ReportUnderLock = pageReportingDesign(
  'd5-report-under-lock',
  'D5 reporting while holding the zone lock (broken)',
  'D5 without the spin_unlock() before prdev->report(): the worker hands the batch to the host and waits for it with zone->lock held.',
  { report: reportHoldingLock },
  [{ violates: ['no-hint-under-zone-lock', 'no-double-report', 'no-backed-free-blocks'], why: 'designs.md §4 "Designed-away races": the hold-lock mutant of the peer SPIN model.' }],
  'no-hint-under-zone-lock',
  SMALL,
  D5_ACCEPTS,
);

export const d5NoIsolate = pageReportingDesign(
  'd5-no-isolate',
  'D5 without isolation (broken)',
  'D5 that leaves the batch on the free lists while the host works on it, so a vCPU can allocate a block the host is about to discard.',
  { sgl: batchOnFreeList },
  [
    {
      violates: ['no-reuse-while-hinting', 'no-missed-hints', 'no-backed-free-blocks', 'no-double-report'],
      why: 'designs.md §4 "Designed-away races": the no-isolate mutant of the peer SPIN model. The drain also marks Reported a block that was reused and freed again while in flight, so a backed block looks reported and is never reported again.',
    },
  ],
  'no-reuse-while-hinting',
  SMALL,
  D5_ACCEPTS,
);

export const d5AckBeforeDiscard = pageReportingDesign(
  'd5-ack-before-discard',
  'D5 with a host that acks before the discard lands (broken)',
  'The host returns the report buffer before ram_block_discard_range() has run (keeping at most one batch of discards pending), so the guest puts the blocks back and may reuse them while the discard is still to come.',
  { hostAcksEarly: true, host: pushBeforeDiscard },
  [{ violates: ['no-reuse-while-hinting', 'no-backed-free-blocks', ...ACCEPTED], why: 'D5 relies on "the host acknowledges only after the discard returns" (designs.md D5, intended I2).' }],
  'no-reuse-while-hinting',
  SMALL,
  D5_ACCEPTS,
);

export const d5ReportedSurvivesAlloc = pageReportingDesign(
  'd5-reported-survives-alloc',
  'D5 with PageReported left on blocks that leave the free list (broken)',
  'D5 whose del_page_from_free_list() forgets __ClearPageReported(): a reported block keeps the flag when it is allocated, merged or isolated.',
  { keepReportedOffList: true },
  [
    {
      violates: ['allocator-conservation', 'no-backed-free-blocks', ...ACCEPTED],
      why: 'designs.md §4 row 18 (Mel Gorman on v14): the flag survives allocation, so PG_uptodate (which PageReported aliases) leaks to an allocated page.',
    },
  ],
  'allocator-conservation',
  SMALL,
  D5_ACCEPTS,
);

export const d5RequestSkipsActive = pageReportingDesign(
  'd5-request-skips-active',
  'D5 whose request returns while a pass is active (broken)',
  '__page_reporting_request() that reads "If reporting is already active there is nothing we need to do" as returning on ACTIVE, without the atomic_xchg() to REQUESTED: a free that lands behind the walk during a pass asks for nothing, and the pass ends IDLE.',
  { request: requestUnlessActive },
  [
    {
      violates: ['no-missed-hints', 'no-backed-free-blocks', ...ACCEPTED],
      why: 'The xchg to REQUESTED is what makes page_reporting_process()\'s cmpxchg(ACTIVE, IDLE) fail and reschedule the work; without it a block freed at an order the walk has passed is never reported (designs.md D5, intended I5: "by the IDLE/REQUESTED/ACTIVE handshake").',
    },
    {
      config: AT_MAX,
      violates: ['no-missed-hints', 'no-backed-free-blocks', ...ACCEPTED],
      why: 'At R at the largest order too: a free during the pass, after the walk passed the block\'s list or while the batch is with the host, is lost.',
    },
  ],
  'no-missed-hints',
  {},
  D5_ACCEPTS,
);

export const D5_DESIGNS: readonly Design[] = [
  d5PageReporting,
  d5ReportUnderLock,
  d5NoIsolate,
  d5AckBeforeDiscard,
  d5ReportedSurvivesAlloc,
  d5RequestSkipsActive,
];
