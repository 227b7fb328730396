/**
 * d6-postcopy-pages-arrive (designs.md §4 row 36).
 *
 * Under postcopy the guest resumes on the destination before its memory has
 * arrived; a touch of a missing page faults, and the destination asks the
 * source for it. The source only sends pages its migration bitmap still
 * marks, and a hint cleared those bits: "Pages hinted via
 * qemu_guest_free_page_hint() are cleared from the dirty bitmap and will not
 * get migrated, especially also not when the postcopy destination starts
 * using them and requests migration from the source; the faulting thread
 * will stall until postcopy migration finishes" (QEMU,
 * virtio_balloon_free_page_hint_notify()). A stall of a vCPU for the rest of
 * the migration is a liveness failure; this is its safety form.
 *
 * Checked at the switch to postcopy: every page the destination has never
 * received is still marked in the source's bitmap, so a fault on it is
 * served. The migration thread records the first page that is not
 * (`migration.stall`).
 */
import type { Invariant } from '../../../types.js';

export const postcopyPagesArrive: Invariant = {
  id: 'd6-postcopy-pages-arrive',
  number: 9,
  short: '36 postcopy',
  title: 'At the switch to postcopy, every page the destination lacks is still to be sent',
  why: 'A page the destination never received and the source will never send stalls the vCPU that touches it until postcopy ends.',
  applies: () => true,
  precondition: 'a switch to postcopy',
  bind: (m) => {
    const stall = m.layout.at('migration', 'stall');
    // The step's name, as D6 declares it: nothing in the state tells postcopy_start() from migration_completion().
    const postcopy = new Uint8Array(m.actions.length);
    for (const a of m.actions) if (a.name === 'postcopy_start') postcopy[a.id] = 1;
    return {
      state: (s) => {
        const p = s[stall];
        if (p === 0) return null;
        return `postcopy started while page ${p - 1} had never reached the destination and a hint had cleared its bit in the source's bitmap: a fault on it is never served`;
      },
      reads: ['migration'],
      // The stall is judged only where the migration switches to postcopy; a migration that completes under precopy sends every page it lacks.
      reached: { edge: (_before, _after, action) => postcopy[action.id] === 1 },
    };
  },
};
