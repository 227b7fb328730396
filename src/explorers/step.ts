/**
 * One step as every explorer takes it, for the code that replays paths
 * (traces, witnesses, shrinking, replay): on a copy of the state, with the
 * previous step's events cleared, as the exhaustive search's successors
 * start from an unpacked state whose events are all zero. The search's and
 * the walker's hot loops do the same in place, on buffers of their own.
 */
import type { Invariant } from '../invariants/types.js';
import type { Action, Model, State } from '../model/types.js';

/** The state after step `a` from `s`, or undefined when the step is not enabled there. `s` is left alone. */
export function stepFrom(m: Model, s: State, a: Action): State | undefined {
  const n = s.slice();
  n.fill(0, m.layout.transients);
  return a.apply(n) ? n : undefined;
}

/** The ids of the steps enabled in `s`, in id order. */
export function enabledIds(m: Model, s: State): number[] {
  return m.actions.filter((a) => stepFrom(m, s, a) !== undefined).map((a) => a.id);
}

/** The state the steps `ids` lead to from the initial state (each must be enabled). */
export function stateAfter(m: Model, ids: readonly number[]): State {
  let s = m.initial();
  ids.forEach((id, i) => {
    const n = stepFrom(m, s, m.actions[id]);
    if (n === undefined) throw new Error(`[hintcheck internal bug] step ${i + 1} (${m.actions[id].name}) is not enabled on replay`);
    s = n;
  });
  return s;
}

/** Whether the step into `s` raised an event (edge invariants only look at such steps). */
export function eventsRaised(m: Model, s: State): boolean {
  for (let i = m.layout.transients; i < s.length; i++) if (s[i] !== 0) return true;
  return false;
}

/** Invariants bound to one model, to check states and steps off the hot loops. */
export type BoundChecks = readonly { readonly inv: Invariant; readonly checks: ReturnType<Invariant['bind']> }[];

export function bindAll(m: Model, invariants: readonly Invariant[]): BoundChecks {
  return invariants.map((inv) => ({ inv, checks: inv.bind(m) }));
}

/**
 * The first of the invariants that the state `after` (or the step `a` into
 * it from `before`) violates, with what is wrong; undefined if none.
 * Without `before` it is the initial state, and only state checks apply.
 */
export function violationOf(m: Model, bound: BoundChecks, before: State | undefined, after: State, a: Action | undefined): { readonly invariant: string; readonly message: string } | undefined {
  const raised = eventsRaised(m, after);
  for (const { inv, checks } of bound) {
    const ms = checks.state?.(after) ?? null;
    if (ms !== null) return { invariant: inv.id, message: ms };
    if (raised && before !== undefined && a !== undefined && checks.edge !== undefined) {
      const me = checks.edge(before, after, a);
      if (me !== null) return { invariant: inv.id, message: me };
    }
  }
  return undefined;
}
