/**
 * d6-allocator-conservation (allocator-conservation with the balloon driver
 * as an owner).
 *
 * The shared allocator-conservation places every page with a vCPU, on a free
 * list, with a hint engine that isolated it, or in merge limbo. D6's driver
 * allocates its blocks (alloc_pages(MAX_ORDER-1)) and keeps them on its own
 * free_page_list, so its pages are allocated pages no vCPU holds, which the
 * shared check reports as lost. This one checks the same laws with the
 * driver as a fifth owner: every block on the free_page_list is allocated,
 * aligned, held by no vCPU, and every other page is where the shared check
 * wants it. The shrinker and the DONE path give blocks back behind the
 * allocator's back; a slip there frees a page twice or loses it.
 */
import { ALLOCATED, ISOLATED_HEAD, ISOLATED_TAIL, OWNERS } from '../../../allocator.js';
import { holdsBlock } from '../../../vcpu.js';
import { conservation } from '../../../allocator-laws.js';
import type { Invariant } from '../../../types.js';

export const d6AllocatorConservation: Invariant = {
  id: 'd6-allocator-conservation',
  number: 4,
  short: '4 alloc+fpl',
  title: 'Every page is in exactly one place, the driver\'s free_page_list included; free counts agree with the lists',
  why: 'The driver takes blocks from the allocator and the shrinker and DONE give them back; a slip loses memory or gives one page to two owners.',
  applies: () => true,
  precondition: 'the balloon driver holds a block',
  bind: (m) => {
    const f = m.f;
    const n = m.cfg.pages;
    const size = 1 << m.cfg.maxOrder;
    const held = m.layout.at('fpl', 'held');
    const cover = new Uint8Array(n);
    const listed = new Int32Array(m.cfg.maxOrder + 1);
    // The shared check runs on a copy in which the driver's blocks stand as isolated blocks (D6 isolates nothing itself).
    const scratch = new Uint8Array(m.layout.size);
    return {
      state: (s) => {
        for (let p = 0; p < n; p++) {
          const owner = s[f.owner + p];
          if (owner === ISOLATED_HEAD || owner === ISOLATED_TAIL) return `page ${p} is ${OWNERS[owner]}, but D6 isolates nothing`;
        }
        scratch.set(s);
        for (let h = 0; h < n; h++) {
          if (!s[held + h]) continue;
          if (h % size !== 0) return `the driver holds a misaligned block at page ${h}`;
          for (let p = h; p < h + size; p++) {
            if (s[f.owner + p] !== ALLOCATED) return `page ${p} is on the driver's free_page_list but is ${OWNERS[s[f.owner + p]]}`;
            for (let c = 0; c < m.cfg.cpus; c++) {
              const head = s[f.vHead + c];
              if (holdsBlock(m, s, c) && p >= head && p < head + (1 << s[f.vOrder + c])) return `page ${p} is held by vcpu${c} and by the balloon driver`;
            }
            scratch[f.owner + p] = p === h ? ISOLATED_HEAD : ISOLATED_TAIL;
          }
          scratch[f.order + h] = m.cfg.maxOrder;
        }
        return conservation(m, scratch, cover, listed);
      },
      // What this check adds to the shared one is the driver as an owner: until it has taken a block off the allocator, nothing can be lost on its free_page_list or freed from there twice.
      reached: {
        state: (s) => {
          for (let h = 0; h < n; h += size) if (s[held + h]) return true;
          return false;
        },
      },
    };
  },
};
