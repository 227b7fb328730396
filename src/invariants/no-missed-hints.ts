/**
 * 5. no-missed-hints.
 *
 * The point of hinting: memory the guest does not use goes back to the
 * host. In a quiescent state (every vCPU between operations, the zone lock
 * free, no hint work pending or running, no hint with the host) every base
 * page of every free block of order >= R must be given back: discarded, or
 * never backed. It is stated on the host's backing, not on PageReported:
 * when an allocation splits a reported block, the free half left behind is
 * unreported, yet the host still does not back it, and that is no leak.
 */
import { FREE_HEAD } from '../model/allocator.js';
import { BACKED } from '../model/host.js';
import type { State } from '../model/types.js';
import { betweenOperations } from '../model/vcpu.js';
import type { Invariant } from './types.js';

export const noMissedHints: Invariant = {
  id: 'no-missed-hints',
  number: 5,
  short: '5 missed',
  title: 'When all is quiet, every free block of order >= R is given back to the host',
  why: 'A free block the host still backs once hinting has gone quiet is memory the host can never reclaim until something else happens.',
  applies: () => true,
  precondition: 'a quiescent state with a free block of order >= R',
  bind: (m) => {
    const f = m.f;
    const n = m.cfg.pages;
    const quiescent = (s: State): boolean => {
      if (s[f.lock] !== 0) return false;
      for (let c = 0; c < m.cfg.cpus; c++) if (!betweenOperations(m, s, c)) return false;
      return m.instance.idle(s);
    };
    return {
      state: (s) => {
        if (!quiescent(s)) return null;
        for (let p = 0; p < n; p++) {
          if (s[f.owner + p] !== FREE_HEAD || s[f.order + p] < m.cfg.reportOrder) continue;
          const size = 1 << s[f.order + p];
          for (let q = p; q < p + size; q++) {
            if (s[f.backing + q] === BACKED) {
              return `quiescent, yet the free order-${s[f.order + p]} block at page ${p} is still backed by the host (page ${q})`;
            }
          }
        }
        return null;
      },
      // The check's own antecedent: only a quiescent state has a free block of order >= R that must be given back.
      reached: {
        state: (s) => {
          if (!quiescent(s)) return false;
          for (let p = 0; p < n; p++) if (s[f.owner + p] === FREE_HEAD && s[f.order + p] >= m.cfg.reportOrder) return true;
          return false;
        },
      },
    };
  },
};
