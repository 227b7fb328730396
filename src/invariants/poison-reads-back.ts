/**
 * 3. poison-reads-back.
 *
 * With page poisoning the guest fills every freed page with a pattern and
 * checks it when the page is allocated again: a mismatch is reported as
 * memory corruption. With init_on_free it zeroes freed pages and relies on
 * them staying zero. A host that discards a poisoned page and hands back a
 * zero page breaks that check on a guest that did nothing wrong (Linux
 * 5.7.0, fixed by fb69c2c896fc).
 *
 * Observed where the kernel observes it: prep_new_page() of the next
 * allocation reads every page of the block; each must read the poison
 * value (init_on_free: zero).
 */
import { CONTENTS } from '../model/host.js';
import type { Invariant } from './types.js';

export const poisonReadsBack: Invariant = {
  id: 'poison-reads-back',
  number: 3,
  short: '3 poison',
  title: 'A poisoned page reads back the poison at its next allocation',
  why: 'The guest checks the poison when it allocates; a host that hands back a zero page makes a correct guest report memory corruption.',
  applies: (cfg) => cfg.poison !== 'off',
  notApplicable: 'needs --poison on or init-on-free',
  bind: (m) => {
    const f = m.f;
    const expected = m.cfg.poison === 'on' ? 'poison' : 'zero';
    return {
      edge: (_before, after, action) => {
        const page = after[f.evBadPage];
        if (page === 0) return null;
        return `${m.actors[action.actor]} read ${CONTENTS[after[f.evBadRead]]} from page ${page - 1} at allocation; expected ${expected}`;
      },
    };
  },
};
