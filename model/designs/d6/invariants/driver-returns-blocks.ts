/**
 * d6-driver-returns-blocks (D6's I4').
 *
 * To hint, the balloon driver takes free memory out of the buddy allocator:
 * it allocates MAX_ORDER-1 blocks and keeps them on its free_page_list while
 * the host looks at them. They are only given back by the shrinker (under
 * memory pressure), when the guest reads VIRTIO_BALLOON_CMD_ID_DONE, or when
 * the driver is removed. If none of these comes, the memory is gone for the
 * guest's lifetime: "Oberve in the guest (e.g., cat /proc/meminfo) that there
 * is basically no free memory left" (dd8eeb9671fc).
 *
 * Checked on every state where nothing more will make the driver act: the
 * migration is over (completed or cancelled) and the driver's work is
 * neither running nor queued, with no config interrupt pending; or the
 * driver was removed. There the free_page_list must be empty. The shrinker
 * is not counted on: it runs only when the guest is short of memory.
 */
import { driverQuiescent, migrationOver } from '../state.js';
import type { Invariant } from '../../../types.js';

export const driverReturnsBlocks: Invariant = {
  id: 'd6-driver-returns-blocks',
  number: 4,
  short: "4' returned",
  title: 'Once hinting is over, the balloon driver holds none of the blocks it took',
  why: 'Blocks left on the driver\'s free_page_list after the migration (or after the driver is gone) are guest memory lost until reboot.',
  applies: () => true,
  precondition: 'the migration over and the driver idle, or the driver removed',
  bind: (m) => {
    const held = m.layout.at('fpl', 'held');
    const unloaded = m.layout.at('balloon', 'unloaded');
    return {
      state: (s) => {
        const gone = s[unloaded] !== 0;
        if (!gone && !(migrationOver(m, s) && driverQuiescent(m, s))) return null;
        for (let p = 0; p < m.cfg.pages; p++) {
          if (!s[held + p]) continue;
          return gone
            ? `the balloon driver was removed while its free_page_list still held the block at page ${p}: it is never freed`
            : `the migration is over and the balloon driver is idle, yet its free_page_list still holds the block at page ${p}`;
        }
        return null;
      },
      // The check's own antecedent: only where nothing more will make the driver act must its free_page_list be empty.
      reached: { state: (s) => s[unloaded] !== 0 || (migrationOver(m, s) && driverQuiescent(m, s)) },
    };
  },
};
