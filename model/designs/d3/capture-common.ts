/**
 * What Nitesh Narayan Lal's capture-array designs, v8 (D3a) and v9 (D3b),
 * share: the walk from a captured pfn to the free block that holds it, and
 * what a threshold design accepts.
 */
import { FREE_HEAD } from '../../allocator.js';
import type { Model, State } from '../../types.js';

/**
 * get_buddy_page(): the head of the free block that holds `p` (p itself when
 * it is PageBuddy), or -1. The first aligned-down head that is PageBuddy with
 * page_private >= the alignment is the one that contains p.
 */
export function freeBlockOf(m: Model, s: State, p: number): number {
  const f = m.f;
  for (let o = 0; o <= m.cfg.maxOrder; o++) {
    const h = p & ~((1 << o) - 1);
    if (s[f.owner + h] === FREE_HEAD && s[f.order + h] >= o) return h;
  }
  return -1;
}

/** What v8 and v9 accept by design. */
export const D3AB_ACCEPTS = {
  'no-missed-hints':
    'A threshold design: captured frees wait until the per-CPU array fills (MAX_FGPT_ENTRIES / HINTING_THRESHOLD), frees are dropped while the array is being processed, and memory freed before the static key was enabled is never captured (designs.md §7: threshold designs need "unreported < threshold").',
} as const;
