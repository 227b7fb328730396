/**
 * 1. no-hint-under-zone-lock.
 *
 * zone->lock is taken with interrupts off on every allocation and free in
 * the zone. A hint is a hypercall or a virtqueue kick followed by a wait for
 * the host, which may sleep, fault or take milliseconds; doing it under the
 * lock stalls every vCPU that allocates, and a host that touches guest
 * memory meanwhile can deadlock against it. "release lock before waiting on
 * report processing" (mm/page_reporting.c).
 *
 * Checked on every step: the actor that issues a hint must not hold the lock,
 * and when the host processes a hint the actor waiting on it must not hold
 * the lock either (a synchronous hint waited on under the lock). Another
 * actor holding the lock meanwhile is fine: a vCPU may well be inside its
 * own critical section while the host works.
 */
import type { Invariant } from '../model/types.js';

export const noHintUnderZoneLock: Invariant = {
  id: 'no-hint-under-zone-lock',
  number: 1,
  short: '1 lock',
  title: 'No hint is issued, or waited on, by an actor holding the zone lock',
  why: 'A hint exits to the host and waits; under zone->lock that stalls every allocation and free in the zone, with interrupts off.',
  applies: () => true,
  precondition: 'a hint issued or served',
  bind: (m) => {
    const f = m.f;
    return {
      edge: (before, after) => {
        const by = after[f.evHintBy];
        if (by !== 0 && before[f.lock] === by) return `${m.actors[by - 1]} issued a hint while holding the zone lock`;
        const waiter = after[f.evServed];
        if (waiter !== 0 && before[f.lock] === waiter) {
          return `the host processed ${m.actors[waiter - 1]}'s hint while ${m.actors[waiter - 1]} waited holding the zone lock`;
        }
        return null;
      },
      events: ['hintBy', 'served'],
      // The lock is judged only on the steps that issue a hint or have the host process one: without either, no one could have hinted under it.
      reached: { edge: (_before, after) => after[f.evHintBy] !== 0 || after[f.evServed] !== 0 },
    };
  },
};
