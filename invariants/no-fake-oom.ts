/**
 * 7. no-fake-oom.
 *
 * A hint engine that takes free memory off the lists while the host works
 * on it can make an allocation fail although the memory is there: "the page
 * that is in the process of being hinted can not be used" (MST, "On guest
 * free page hinting and OOM"). The guest then reclaims, or the OOM killer
 * runs, for memory that is only in flight. D5 bounds it with a watermark
 * gate and a small batch; this model has no watermarks, so it shows the
 * window the batch leaves.
 *
 * Checked on every failed allocation: had the blocks the engine holds
 * (isolated, parked in merge limbo, or left on a free list but kept from
 * the allocator, which a design says with its `allocatable` and
 * `withheldByEngine` hooks) been given back, the allocation must still have
 * failed. Memory withheld in place is as unusable as memory taken off the
 * lists: the guest reclaims for it all the same.
 */
import { FREE_HEAD, ISOLATED_HEAD, LIMBO } from '../model/allocator.js';
import { engineWithholds, IDLE } from '../model/vcpu.js';
import type { Invariant } from '../model/types.js';

export const noFakeOom: Invariant = {
  id: 'no-fake-oom',
  number: 7,
  short: '7 oom',
  title: 'No allocation fails only because the hint engine holds free memory',
  why: 'An allocation that fails while free memory is merely being hinted sends a healthy guest into reclaim or the OOM killer.',
  applies: () => true,
  precondition: 'an allocation fails while the hint engine holds free blocks',
  bind: (m) => {
    const f = m.f;
    const n = m.cfg.pages;
    return {
      edge: (_before, after, action) => {
        if (after[f.evFakeOom] === 0) return null;
        return `${m.actors[action.actor]}'s allocation of order ${action.args.order} failed while the hint engine held enough free memory to satisfy it`;
      },
      events: ['fakeOom'],
      // The check's antecedent: a failed allocation (the one vCPU step that leaves it idle) while the engine holds some block (isolated, in merge limbo, or withheld on its list), the memory the check would give back.
      reached: {
        edge: (before, after, action) => {
          if (after[f.evFakeOom] !== 0) return true;
          const c = action.actor;
          if (c >= m.cfg.cpus || before[f.vPhase + c] !== IDLE || after[f.vPhase + c] !== IDLE) return false;
          for (let p = 0; p < n; p++) {
            const owner = before[f.owner + p];
            if (owner === ISOLATED_HEAD || owner === LIMBO) return true;
            if (owner === FREE_HEAD && engineWithholds(m, before, p, before[f.order + p])) return true;
          }
          return false;
        },
      },
    };
  },
};
