/**
 * d6-migrated-pages-current (D6's I2').
 *
 * VIRTIO_BALLOON_F_FREE_PAGE_HINT lets QEMU leave out of the migration stream
 * the pages the guest says are free. The guest may use them again at once:
 * "they will be tracked by the hypervisor and transferred in the subsequent
 * round if they are used and written" (Wei Wang, v37). That holds only if a
 * hint never clears a migration-bitmap bit that carries a write made after
 * the sync preceding the hint's epoch: every page written after that sync
 * must be sent again. Broken, the destination runs with an old copy (or
 * zeroes) of a page the guest is using, and nothing ever reports it.
 *
 * Stated end to end and checked at the switchover: when the migration
 * completes and the guest resumes on the destination, every page of a block
 * a vCPU is using (written at prep_new_page() and not yet freed) holds there
 * its latest content from the source. The migration thread's completion step
 * records the first page that does not (`migration.lost`): one whose latest
 * write neither reached the destination nor is still marked to be sent, in
 * the migration bitmap or in KVM's dirty log.
 */
import { MIGRATION_COMPLETED } from '../state.js';
import { IN_USE } from '../../../vcpu.js';
import type { Invariant } from '../../../types.js';

export const migratedPagesCurrent: Invariant = {
  id: 'd6-migrated-pages-current',
  number: 2,
  short: "2' resent",
  title: 'At the switchover the destination holds the latest content of every page a vCPU uses',
  why: 'A hint processed after the sync that picked up a write clears the only record of that write: the destination resumes with stale data in a page the guest is using.',
  applies: () => true,
  precondition: 'a switchover while a vCPU uses a block',
  bind: (m) => {
    const lost = m.layout.at('migration', 'lost');
    const phase = m.layout.at('migration', 'phase');
    const vPhase = m.f.vPhase;
    return {
      state: (s) => {
        const p = s[lost];
        if (p === 0) return null;
        return `the migration completed, but the destination never got the latest write to page ${p - 1}, which a vCPU is using: a hint dropped the only record of that write`;
      },
      reads: ['migration'],
      // The completion step judges the pages of the blocks vCPUs are using as the guest resumes on the destination: with none in use, it has nothing to compare.
      reached: {
        edge: (before, after) => {
          if (after[phase] !== MIGRATION_COMPLETED || before[phase] === MIGRATION_COMPLETED) return false;
          for (let c = 0; c < m.cfg.cpus; c++) if (after[vPhase + c] === IN_USE) return true;
          return false;
        },
      },
    };
  },
};
