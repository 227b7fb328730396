/**
 * 8. no-backed-free-blocks.
 *
 * no-missed-hints in its strict form: in a quiescent state every base page
 * of every free block of order >= R is given back, discarded or never
 * backed, whatever put the block there. It is stated on the host's backing,
 * not on PageReported: when an allocation splits a reported block, the free
 * half left behind is unreported, yet the host still does not back it.
 *
 * No upstream engine promises this: expand() never notifies, so the free
 * half of a block split after the walk passed its order stays backed until
 * a later free asks for a pass, and page poisoning keeps older designs off.
 * A design that violates it says why in `accepts`; the matrix then shows how
 * much memory the design leaves with the host by design.
 */
import { FREE_HEAD } from '../model/allocator.js';
import { BACKED } from '../model/host.js';
import type { State } from '../model/types.js';
import { quiescent } from '../model/vcpu.js';
import type { Invariant } from '../model/types.js';

export const noBackedFreeBlocks: Invariant = {
  id: 'no-backed-free-blocks',
  number: 8,
  short: '8 strict',
  title: 'When all is quiet, every free block of order >= R is given back to the host, asked for or not',
  why: 'Memory the host still backs in a free block is memory it cannot reclaim until something else happens; the strict form shows how much a design leaves there by design.',
  applies: () => true,
  precondition: 'a quiescent state with a free block of order >= R',
  bind: (m) => {
    const f = m.f;
    const n = m.cfg.pages;
    return {
      state: (s) => {
        if (!quiescent(m, s)) return null;
        for (let p = 0; p < n; p++) {
          if (s[f.owner + p] !== FREE_HEAD || s[f.order + p] < m.cfg.reportOrder) continue;
          const size = 1 << s[f.order + p];
          for (let q = p; q < p + size; q++) {
            if (s[f.backing + q] === BACKED) return `quiescent, yet the free order-${s[f.order + p]} block at page ${p} is still backed by the host (page ${q})`;
          }
        }
        return null;
      },
      reached: {
        state: (s: State) => {
          if (!quiescent(m, s)) return false;
          for (let p = 0; p < n; p++) if (s[f.owner + p] === FREE_HEAD && s[f.order + p] >= m.cfg.reportOrder) return true;
          return false;
        },
      },
    };
  },
};
