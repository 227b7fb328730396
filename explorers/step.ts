/**
 * One step as every explorer takes it, for the code that replays paths
 * (traces, witnesses, shrinking, replay): on a copy of the state, with the
 * previous step's events cleared, as the exhaustive search's successors
 * start from an unpacked state whose events are all zero. The search's and
 * the walker's hot loops do the same in place, on buffers of their own.
 */
import { DesignError, designError as designErrorAt, inDesign, InternalError } from '../model/errors.js';
import type { Invariant } from '../model/types.js';
import { bindInvariant, eventsBroken, raisedAny, type BoundInvariant } from '../invariants/bind.js';
import type { Action, Model, State } from '../model/types.js';
import { stepText } from '../model/describe.js';

/** A design error naming the design (and its file), the step and the state it was taken from, in one line. */
export function designError(m: Model, a: Action, s: State, problem: string): DesignError {
  const step = stepText(m.actors[a.actor], a.name, a.args);
  return designErrorAt({ design: m.design.id, ...(m.design.source !== undefined ? { file: m.design.source } : {}), step }, `step ${step} ${problem}; in state ${JSON.stringify(m.layout.view(s))}`);
}

/** What a step threw, as the design's error: a hook of its own that failed has said which; else the step did. */
export function stepThrew(m: Model, a: Action, s: State, e: unknown): DesignError {
  const step = stepText(m.actors[a.actor], a.name, a.args);
  if (e instanceof DesignError) return inDesign(new DesignError(`${e.message} (in step ${step})`, e.where), { design: m.design.id, ...(m.design.source !== undefined ? { file: m.design.source } : {}), step });
  return designError(m, a, s, `threw ${e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]}` : String(e)}`);
}

/** Take step `a` on `s` in place: whether it was taken. What the step throws, or a value out of its fields' domains, is the design's error. */
export function applyStep(m: Model, s: State, a: Action): boolean {
  const before = s.slice();
  let taken: unknown;
  try {
    taken = a.apply(s);
  } catch (e) {
    throw stepThrew(m, a, before, e);
  }
  if (taken !== true) {
    if (taken !== false) throw designError(m, a, before, `returned ${String(taken)}; a step returns true (taken) or false (not enabled)`);
    return false;
  }
  const bad = m.layout.firstInvalid(s);
  if (bad >= 0) throw designError(m, a, before, `wrote ${s[bad]} outside its field's domain (${m.layout.validate(s)})`);
  return true;
}

/** The state after step `a` from `s`, or undefined when the step is not enabled there. `s` is left alone. */
export function stepFrom(m: Model, s: State, a: Action): State | undefined {
  const n = s.slice();
  n.fill(0, m.layout.transients);
  return applyStep(m, n, a) ? n : undefined;
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
    if (n === undefined) throw new InternalError(`step ${i + 1} (${m.actions[id].name}) is not enabled on replay`);
    s = n;
  });
  return s;
}

/** Whether the step into `s` raised an event. */
export function eventsRaised(m: Model, s: State): boolean {
  for (let i = m.layout.transients; i < s.length; i++) if (s[i] !== 0) return true;
  return false;
}

/** Invariants bound to one model, to check states and steps off the hot loops. */
export type BoundChecks = readonly BoundInvariant[];

export function bindAll(m: Model, invariants: readonly Invariant[]): BoundChecks {
  return invariants.map((inv) => bindInvariant(m, inv));
}

/**
 * What invariant `b` says of the state `after` (or of the step `a` into it
 * from `before`): null, or what is wrong. An edge check that declares
 * events is asked about every step too, and one that fails on a step that
 * raised none of them has broken its promise: an error, never a verdict.
 */
export function verdictOf(m: Model, b: BoundInvariant, before: State | undefined, after: State, a: Action | undefined): string | null {
  const ms = b.state?.(after) ?? null;
  if (ms !== null) return ms;
  if (before === undefined || a === undefined || b.edge === undefined) return null;
  const me = b.edge(before, after, a);
  if (me !== null && b.events !== null && !raisedAny(b.events, after)) throw eventsBroken(m, b, me);
  return me;
}

/**
 * The first of the invariants that the state `after` (or the step `a` into
 * it from `before`) violates, with what is wrong; undefined if none.
 * Without `before` it is the initial state, and only state checks apply.
 */
export function violationOf(m: Model, bound: BoundChecks, before: State | undefined, after: State, a: Action | undefined): { readonly invariant: string; readonly message: string } | undefined {
  for (const b of bound) {
    const msg = verdictOf(m, b, before, after, a);
    if (msg !== null) return { invariant: b.inv.id, message: msg };
  }
  return undefined;
}
