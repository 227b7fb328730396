/**
 * one-hint-per-block (the D2 family's own invariant).
 *
 * The seed RFC hints in units of the hint order R (HUGETLB_PAGE_ORDER, 2 MB):
 * a hint covers whole 2^R blocks. Alexander's answer to Aaron Lu on RFC 4/4:
 * "By placing the function here I can guarantee that no more than 1 hint is
 * provided per 2MB page". no-double-report works page by page and so cannot
 * tell this apart from the granularity every R-block hint has (a block split
 * off a discarded one and merged back is hinted whole, untouched pages
 * included); this one works block by block.
 *
 * Checked on every step that hints: no 2^R-aligned block the step newly puts
 * in flight may be one the host backs none of, i.e. a block given back
 * before (or never touched) that stayed free and untouched since. A hint that
 * covers a block holding at least one page the guest wrote since is the one
 * hint that block deserves.
 */
import { BACKED, HINTED, NOT_INFLIGHT } from '../../../host.js';
import type { Invariant } from '../../../types.js';

export const oneHintPerBlock: Invariant = {
  id: 'one-hint-per-block',
  number: 8,
  short: '8 rehint',
  title: 'No 2^R block is hinted again while it stayed free and given back',
  why: 'A hint of a larger merged block that covers a 2 MB block the host already took back costs an exit and a discard for nothing (designs.md §4 row 4).',
  applies: () => true,
  precondition: 'a hint issued',
  bind: (m) => {
    const f = m.f;
    const size = 1 << m.cfg.reportOrder;
    return {
      edge: (before, after, action) => {
        if (after[f.evHintBy] === 0) return null;
        for (let b = 0; b < m.cfg.pages; b += size) {
          let fresh = true;
          let gone = true;
          for (let p = b; p < b + size; p++) {
            if (after[f.inflight + p] !== HINTED || before[f.inflight + p] !== NOT_INFLIGHT) fresh = false;
            if (after[f.backing + p] === BACKED) gone = false;
          }
          if (fresh && gone) {
            return `${m.actors[action.actor]} hinted the order-${m.cfg.reportOrder} block at page ${b} again: the host took it back (or never had it) and the guest has not touched it since`;
          }
        }
        return null;
      },
      events: ['hintBy'],
      // The check looks only at steps that hint: a block can be hinted again only by a hint.
      reached: { edge: (_before, after) => after[f.evHintBy] !== 0 },
    };
  },
};
