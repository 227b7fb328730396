/**
 * 2. no-reuse-while-hinting.
 *
 * A hint tells the host it may drop the pages it covers. If the guest
 * allocates one of them before the host is done, the host may discard a page
 * that holds live data: the guest's next read sees zero (or stale bytes) and
 * nothing reports it. D5 keeps the batch isolated, off the free lists, from
 * before the report until after the host returned the buffer.
 *
 * Checked on every state: no page of a block a vCPU is using (allocated and
 * not yet handed to free_pages_prepare()) is covered by a hint still with the
 * host (hinted, or acked with its discard still to land). A block inside
 * free_pages_prepare() is being freed, not reused: D1 hints exactly there.
 */
import { NOT_INFLIGHT } from '../model/host.js';
import { ALLOC_LOCKED, ALLOCATED_PHASE, IN_USE } from '../model/vcpu.js';
import type { Invariant } from '../model/types.js';

export const noReuseWhileHinting: Invariant = {
  id: 'no-reuse-while-hinting',
  number: 2,
  short: '2 reuse',
  title: 'No page is allocated while a hint covering it is in flight',
  why: 'The host may discard a hinted page at any moment until it is done; a page reused before then loses the data written to it.',
  applies: () => true,
  precondition: 'a vCPU allocates while a hint is in flight',
  bind: (m) => {
    const f = m.f;
    const n = m.cfg.pages;
    return {
      state: (s) => {
        for (let c = 0; c < m.cfg.cpus; c++) {
          const phase = s[f.vPhase + c];
          if (phase !== ALLOC_LOCKED && phase !== ALLOCATED_PHASE && phase !== IN_USE) continue;
          const head = s[f.vHead + c];
          const end = head + (1 << s[f.vOrder + c]);
          for (let p = head; p < end && p < n; p++) {
            if (s[f.inflight + p] !== NOT_INFLIGHT) return `page ${p} is allocated to vcpu${c} while a hint covering it is in flight`;
          }
        }
        return null;
      },
      // Reuse happens at an allocation: a vCPU that has just taken a block (zone->lock still held) while some hint is with the host is where a design could have handed out a hinted page.
      reached: {
        state: (s) => {
          let allocating = false;
          for (let c = 0; c < m.cfg.cpus; c++) if (s[f.vPhase + c] === ALLOC_LOCKED) allocating = true;
          if (!allocating) return false;
          for (let p = 0; p < n; p++) if (s[f.inflight + p] !== NOT_INFLIGHT) return true;
          return false;
        },
      },
    };
  },
};
