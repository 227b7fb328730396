/**
 * D6's catalogue: the design as QEMU and Linux are today, the fixed bugs
 * with the parts they replace (mutants.ts), and the correct options
 * (postcopy, the manual dirty log), each with its matrix rows.
 */
import type { Design } from '../../types.js';
import { freePageHintDesign } from './free-page-hint.js';
import {
  clearLogOnHint, noDoneOnCancel, noReinitOnReturn, postcopyUnguarded, startUnlocked, startWithoutRequest, unloadLeaks,
} from './mutants.js';

/** The shared invariant every hinting D6 check violates, by design (see `accepts`). */
const REUSE = 'no-reuse-while-hinting';

/** Why a broken variant runs with one sync while the VM runs: its race needs no second round, and the search is 40 times smaller. */
const ONE_ROUND = 'One sync while the VM runs (not the 2 of designs.md §7): the race needs no second round.';

export const d6FreePageHint = freePageHintDesign(
  'd6-free-page-hint',
  'virtio-balloon free page hinting for live migration (VIRTIO_BALLOON_F_FREE_PAGE_HINT)',
  'Around every bitmap sync QEMU stops hinting and starts a new round under a new command id; the balloon driver allocates MAX_ORDER-1 blocks, hands them to QEMU, which clears them in the migration bitmap, and keeps them until DONE, the shrinker or its removal gives them back. A block may be reused while its hint is in flight: dirty logging sends it again. But the START out-buffer points at the driver\'s one cmd_id_active, which QEMU reads when it pops the buffer: a START still queued when the driver starts the next round reads the next round\'s id, and lets the old round\'s hints clear bits the sync between them set. QEMU and Linux as they are today.',
  {},
  [
    {
      violates: [REUSE, 'd6-migrated-pages-current'],
      why: 'designs.md D6 and §4 row 34: the shrinker gives back a block whose hint is still in the ring and a vCPU reuses it (accepted); every block comes back at DONE or removal (I4\' holds). I2\' fails [the model\'s finding, an inference from send_cmd_id_start() and get_free_page_hints()]: the iothread has not popped round 1\'s START when the driver starts round 2 and rewrites cmd_id_active, so iov_to_buf() reads id 2 under S_REQUESTED with cmd_id 2, moves to S_START, and round 1\'s in-buffer clears the bit of a page the vCPU wrote before the second sync, whose KVM_GET_DIRTY_LOG had already taken the write out of the log.',
    },
    {
      config: { poison: 'on' },
      violates: [REUSE, 'poison-reads-back', 'd6-migrated-pages-current'],
      why: 'designs.md §4 row 35: a hinted block is not migrated, and free_pages() re-poisons it when the driver gives it back; that poison write is a guest write like any other, and the aliased START above lets round 1\'s in-buffer clear its bit after the second sync, so the destination never gets the poison and the driver\'s next allocation there reads zero in check_poison_mem() (I3\' fails with I2\', same cause).',
    },
  ],
);

export const d6NoDoneOnCancel = freePageHintDesign(
  'd6-no-done-on-cancel',
  'D6 before dd8eeb9671fc: a cancelled migration never says DONE (broken)',
  'QEMU before "virtio-balloon: always indicate S_DONE when migration fails": PRECOPY_NOTIFY_CLEANUP (and COMPLETE) only stop hinting, so after migrate_cancel the guest reads STOP, never DONE, and its driver keeps every block it took.',
  { rounds: 1, overrides: noDoneOnCancel },
  [
    {
      violates: [REUSE, 'd6-driver-returns-blocks'],
      why: `designs.md §4 row 30 (dd8eeb9671fc: "migrate, migrate_cancel, look at /proc/meminfo"): the blocks taken during the cancelled migration stay on free_page_list. ${ONE_ROUND}`,
      smaller: ONE_ROUND,
    },
  ],
  'd6-driver-returns-blocks',
);

export const d6StatusUnlocked = freePageHintDesign(
  'd6-status-unlocked',
  'D6 before 1a83e0b9c4: free_page_start() without free_page_lock (broken)',
  'QEMU before "virtio-balloon: Add locking to prevent possible race when starting hinting": the migration thread bumps cmd_id and sets S_REQUESTED without free_page_lock, so the iothread may see the new status with the old id and start the new round on the previous round\'s START; that round\'s hints, taken before the sync, then clear bits the sync set.',
  { overrides: startUnlocked },
  [
    {
      violates: [REUSE, 'd6-migrated-pages-current'],
      why: 'designs.md §4 row 32: with no lock (and no barrier) the iothread sees S_REQUESTED before cmd_id++, accepts the stale START of the last round, and clears the bit of a page written after that round\'s hint: the write is lost at the switchover.',
    },
  ],
  'd6-migrated-pages-current',
);

export const d6StartWithoutRequest = freePageHintDesign(
  'd6-start-without-request',
  'D6 before 20a4da0f2307: any out-buffer with the current id starts hinting (broken)',
  'QEMU before "virtio-balloon: Prevent guest from starting a report when we didn\'t request one": get_free_page_hints() moves to S_START on an out-buffer carrying the current cmd_id whatever the status, so a START still in the ring when the migration thread stopped the round starts it again.',
  { overrides: startWithoutRequest },
  [
    {
      violates: [REUSE, 'd6-migrated-pages-current', 'd6-driver-returns-blocks'],
      why: 'S17 ("possible for the driver to force the device out of a stopped state ... by repeating the last ID"): a START popped after BEFORE_BITMAP_SYNC restarts the round, whose hints then clear bits of writes the sync picked up; a START popped after DONE hides DONE from the guest, which keeps its blocks.',
    },
  ],
  'd6-migrated-pages-current',
);

export const d6UnloadLeak = freePageHintDesign(
  'd6-unload-leak',
  'D6 before 6c22dc61c76b: removing the driver leaks its blocks (broken)',
  'Linux before "virtio-balloon: Fix memory leak when unloading while hinting is in progress": remove_common() resets the device without return_free_pages_to_mm(), so the blocks on free_page_list are never freed.',
  { rounds: 1, overrides: unloadLeaks },
  [
    {
      violates: [REUSE, 'd6-driver-returns-blocks'],
      why: `designs.md §4 row 33 (6c22dc61c76b): the driver is removed while it holds a block. ${ONE_ROUND}`,
      smaller: ONE_ROUND,
    },
  ],
  'd6-driver-returns-blocks',
);

export const d6NoReinitOnReturn = freePageHintDesign(
  'd6-no-reinit-on-return',
  'D6 with a guest that does not re-initialise returned blocks (broken)',
  'A guest whose driver gives blocks back without free_pages_prepare(): a hinted block was never migrated, so on the destination it holds an old copy or zeroes, and the next allocation sees that instead of the poison.',
  { rounds: 1, overrides: noReinitOnReturn },
  [
    {
      violates: [REUSE, 'poison-reads-back'],
      why: `designs.md §4 row 35 and D6 I3' (Alexander: a hinted page "can essentially transition to uninitialized while it is sitting in the balloon"): Linux is safe only because free_pages() re-poisons. ${ONE_ROUND}`,
      smaller: ONE_ROUND,
    },
  ],
  'poison-reads-back',
  { poison: 'on' },
);

export const d6Postcopy = freePageHintDesign(
  'd6-postcopy',
  'D6 with a postcopy-capable migration (QEMU as it is: no hinting)',
  'With the postcopy-ram capability on, virtio_balloon_free_page_hint_notify() returns at once: QEMU never asks for hints, so postcopy finds every page it lacks still marked in the source\'s bitmap.',
  { postcopy: true },
  [
    {
      violates: [],
      why: 'designs.md §4 row 36: QEMU does not start hinting when postcopy is possible, so nothing is hinted, reused in flight or left behind.',
    },
  ],
);

export const d6PostcopyHint = freePageHintDesign(
  'd6-postcopy-hint',
  'D6 hinting under a postcopy-capable migration (broken)',
  'The precopy notifier without its postcopy check: the guest hints while the migration may switch to postcopy, so the destination may lack a page the source will never send; and no notifier sets DONE before the device state moves, so the destination never tells the guest to give its blocks back.',
  { postcopy: true, rounds: 1, overrides: postcopyUnguarded },
  [
    {
      violates: [REUSE, 'd6-postcopy-pages-arrive', 'd6-driver-returns-blocks'],
      why: `designs.md §4 row 36 (QEMU: "the faulting thread will stall until postcopy migration finishes"); the DONE that postcopy_start() never sends is the model's inference. ${ONE_ROUND}`,
      smaller: ONE_ROUND,
    },
  ],
  'd6-postcopy-pages-arrive',
);

export const d6ManualDirtyLog = freePageHintDesign(
  'd6-manual-dirty-log',
  'D6 with KVM\'s manual dirty-log clear (QEMU 4.0 to 6.0)',
  'QEMU with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 and KVM_DIRTY_LOG_INITIALLY_SET: a sync reports dirty bits without clearing them, and a page\'s bit is cleared (the page write-protected) just before the page is sent. A hint clears only the migration bitmap, so a hinted page that stays dirty in KVM is marked again at the next sync.',
  { manualDirtyLog: true },
  [
    {
      violates: [REUSE],
      why: 'designs.md §5: the hinted page\'s bit survives in KVM\'s log (the cost 3143577d6a3f removed: "those skipped pages will be sent in the next round"), so a write made while the hint was in flight is sent at the next sync (I2\' holds; with a clear_bmap chunk of one page). The by-reference START of d6-free-page-hint does not hurt here: a stale round\'s hint it lets through clears only the migration bitmap, and a sync that leaves KVM\'s log set marks the page again at the last sync.',
    },
  ],
);

export const d6ClearLogOnHint = freePageHintDesign(
  'd6-clear-log-on-hint',
  'D6 with QEMU 6.1+ clearing the dirty log of hinted pages (3143577d6a3f; the model\'s finding)',
  'QEMU 6.1+ with KVM\'s manual dirty-log clear: qemu_guest_free_page_hint() also clears the hinted pages\' dirty bits, as a send would. A page the shrinker gave back and a vCPU wrote while the hint was in flight is still writable, so that write set no new bit; the clear then drops the only record of it.',
  { manualDirtyLog: true, rounds: 1, overrides: clearLogOnHint },
  [
    {
      violates: [REUSE, 'd6-migrated-pages-current'],
      why: `designs.md §5's open question, answered by the model [I]: under §4 row 34's interleaving the write lands between the sync and the clear, on a page the sync reported dirty and left writable, and the clear erases it. ${ONE_ROUND}`,
      smaller: ONE_ROUND,
    },
  ],
  'd6-migrated-pages-current',
);

export const D6_DESIGNS: readonly Design[] = [
  d6FreePageHint,
  d6NoDoneOnCancel,
  d6StatusUnlocked,
  d6StartWithoutRequest,
  d6UnloadLeak,
  d6NoReinitOnReturn,
  d6Postcopy,
  d6PostcopyHint,
  d6ManualDirtyLog,
  d6ClearLogOnHint,
];
