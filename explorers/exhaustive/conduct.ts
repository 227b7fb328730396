/**
 * Checks of the design's own conduct, run by the engine on a sample of the
 * states it expands: a step must be a function of the state (taken twice
 * from one state it gives one result), and a step that says it was not
 * enabled must not have written anything. A design that breaks either is a
 * design error, never a verdict: the search's states would mean nothing.
 */
import type { Model, State } from '../../model/types.js';
import { designError } from '../step.js';

/** Takes every step twice from `cur` and throws the design error a step's conduct earns. */
export function sampleCheck(m: Model, cur: State): void {
  for (const a of m.actions) {
    const x = cur.slice();
    const y = cur.slice();
    let rx: unknown;
    let ry: unknown;
    try {
      rx = a.apply(x);
      ry = a.apply(y);
    } catch {
      continue; // the main loop reports the exception with its context
    }
    let same = rx === ry;
    for (let i = 0; same && i < x.length; i++) if (x[i] !== y[i]) same = false;
    if (!same) throw designError(m, a, cur, 'is not deterministic: taken twice from the same state it gave different results');
    if (rx === false) {
      for (let i = 0; i < x.length; i++) {
        if (x[i] !== cur[i]) throw designError(m, a, cur, 'returned false (not enabled) but changed the state: a guard must fail before the step writes anything');
      }
    }
  }
}
