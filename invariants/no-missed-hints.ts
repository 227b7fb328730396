/**
 * 5. no-missed-hints.
 *
 * The point of hinting: memory the guest does not use goes back to the
 * host. What a hint engine promises is narrower than "every free block": a
 * free that notifies (page_reporting_notify_free() from __free_one_page(),
 * for a final order >= R; in the older designs, the free that reaches their
 * hook) asks for a hint of the block it leaves, and the engine must not lose
 * that request. So the model keeps a ghost obligation per page:
 *
 *  - a free that notifies leaves every page of its final block owed;
 *  - a hint covering a page discharges it (the engine did what it was asked;
 *    what the host does then is the host's);
 *  - an allocation discharges the whole block it takes from, the halves
 *    expand() puts back included: expand() never notifies, so the kernel never
 *    promised them a hint;
 *  - a merge inherits the obligations of its parts (pages keep their own),
 *    and a putback (FPI_SKIP_REPORT_NOTIFY) owes nothing new.
 *
 * In a quiescent state (every vCPU between operations, the zone lock free,
 * no hint work pending or running, no hint with the host) no free page that
 * is owed a hint may still be backed by the host. A design that drops a
 * request, or strands a block it was told about, fails this at any R; a
 * block split after the walk passed its order does not, since nobody asked
 * for it. The strict statement, every free block of order >= R given back
 * whatever asked for it, is no-backed-free-blocks.
 */
import { FREE_HEAD, FREE_TAIL } from '../model/allocator.js';
import { BACKED } from '../model/host.js';
import type { Model, State } from '../model/types.js';
import { quiescent } from '../model/vcpu.js';
import type { Invariant } from '../model/types.js';

/** The head of the free block page p lies in (p is a free head or tail page). */
function headOf(m: Model, s: State, p: number): number {
  for (let q = p; q >= 0; q--) if (s[m.f.owner + q] === FREE_HEAD && q + (1 << s[m.f.order + q]) > p) return q;
  return p;
}

export const noMissedHints: Invariant = {
  id: 'no-missed-hints',
  number: 5,
  short: '5 missed',
  title: 'When all is quiet, no free page a notifying free left owed a hint is still backed by the host',
  why: 'A hint engine that loses a request it was given, or strands a block it was told about, leaves memory with the host that no later event is sure to reclaim.',
  applies: () => true,
  precondition: 'a backed free page owed a hint',
  bind: (m) => {
    const f = m.f;
    const n = m.cfg.pages;
    const owedFree = (s: State, p: number): boolean => f.owed >= 0 && s[f.owed + p] !== 0 && (s[f.owner + p] === FREE_HEAD || s[f.owner + p] === FREE_TAIL);
    return {
      state: (s) => {
        if (!quiescent(m, s)) return null;
        for (let p = 0; p < n; p++) {
          if (!owedFree(s, p) || s[f.backing + p] !== BACKED) continue;
          const head = headOf(m, s, p);
          return `quiescent, yet page ${p} of the free order-${s[f.order + head]} block at page ${head}, owed a hint since a free put it there, is still backed by the host`;
        }
        return null;
      },
      // What the check has something to say about: a free page owed a hint (in a quiescent state it would be a miss).
      reached: {
        state: (s) => {
          for (let p = 0; p < n; p++) if (owedFree(s, p) && s[f.backing + p] === BACKED) return true;
          return false;
        },
      },
    };
  },
};
