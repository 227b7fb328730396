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
import { CONTENTS, UNBACKED } from '../model/host.js';
import type { State } from '../model/types.js';
import { ALLOC_LOCKED, ALLOCATED_PHASE } from '../model/vcpu.js';
import type { Invariant } from '../model/types.js';

export const poisonReadsBack: Invariant = {
  id: 'poison-reads-back',
  number: 3,
  short: '3 poison',
  title: 'A poisoned page reads back the poison at its next allocation',
  why: 'The guest checks the poison when it allocates; a host that hands back a zero page makes a correct guest report memory corruption.',
  applies: (cfg) => cfg.poison !== 'off',
  notApplicable: 'needs --poison on or init-on-free',
  precondition: 'a vCPU allocates a page the host took back',
  bind: (m) => {
    const f = m.f;
    const expected = m.cfg.poison === 'on' ? 'poison' : 'zero';
    const cpus = m.cfg.cpus;
    const n = m.cfg.pages;
    // Whether a vCPU holds a block it has not checked yet (between alloc_pages and prep_new_page) with a page the host does not back.
    let takenBack: (s: State) => boolean;
    if (f.vPhase >= 0) {
      takenBack = (s) => {
        for (let c = 0; c < cpus; c++) {
          const phase = s[f.vPhase + c];
          if (phase !== ALLOC_LOCKED && phase !== ALLOCATED_PHASE) continue;
          const head = s[f.vHead + c];
          const end = head + (1 << s[f.vOrder + c]);
          for (let p = head; p < end && p < n; p++) if (s[f.backing + p] === UNBACKED) return true;
        }
        return false;
      };
    } else if (m.layout.has('pages', 'state') && m.layout.has('pages', 'mapped')) {
      // A standalone port (spin-reference) keeps each page's owner (a vCPU index, else free or isolated) and the host's mapping itself; its vCPU reads a page right after taking it.
      const owner = m.layout.at('pages', 'state');
      const mapped = m.layout.at('pages', 'mapped');
      takenBack = (s) => {
        for (let p = 0; p < n; p++) if (s[owner + p] < cpus && !s[mapped + p]) return true;
        return false;
      };
    } else {
      takenBack = () => false;
    }
    return {
      edge: (_before, after, action) => {
        const page = after[f.evBadPage];
        if (page === 0) return null;
        return `${m.actors[action.actor]} read ${CONTENTS[after[f.evBadRead]]} from page ${page - 1} at allocation; expected ${expected}`;
      },
      events: ['badPage'],
      // The guest's own writes, the poison included, leave a page backed: only a host discard (or a switchover that left the page behind) can put something else under the poison, so a page allocated unbacked is where the check can fail. A failed check counts too (D6's driver allocates and checks in one step).
      reached: { state: takenBack, edge: (_before, after) => after[f.evBadPage] !== 0 },
    };
  },
};
