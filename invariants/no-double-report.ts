/**
 * 6. no-double-report.
 *
 * Every report costs an exit, a virtqueue round trip and a walk over the
 * range on the host. Reporting memory the host already took back, and that
 * the guest has not touched since, is pure overhead: the host discards a
 * page that is already gone. Some designs accept it as the price of a simple
 * flag rule (D5: a reported block split by an allocation and merged back is
 * reported whole again), so a design may declare this one accepted: it is
 * then reported, not counted as a failure.
 *
 * Checked on every step that hints: no page of the range may be one the
 * host does not back, because an earlier hint already gave it back and the
 * guest has not touched it since, or because the guest never touched it (a
 * report of memory the host never had is just as wasted; with poisoning off
 * that is what an initial flush of a fresh guest does). A host that skips
 * discards (skip-if-poisoned) takes nothing back, so there it cannot see a
 * second report.
 */
import type { Invariant } from '../model/types.js';

export const noDoubleReport: Invariant = {
  id: 'no-double-report',
  number: 6,
  short: '6 double',
  title: 'No memory is reported that the host already took back (or never backed)',
  why: 'A report of memory the host does not back is an exit and a discard for nothing.',
  applies: () => true,
  precondition: 'a hint issued',
  bind: (m) => {
    const f = m.f;
    return {
      edge: (_before, after, action) => {
        const page = after[f.evRereported];
        if (page === 0) return null;
        return `${m.actors[action.actor]} reported page ${page - 1}, which the host does not back: it was given back before, or never touched`;
      },
      events: ['rereported'],
      // Only a step that hints can report anything twice (the re-report event is raised by the hint itself).
      reached: { edge: (_before, after) => after[f.evHintBy] !== 0 || after[f.evRereported] !== 0 },
    };
  },
};
