/**
 * Counterexamples a reader can follow. A random walk that breaks an
 * invariant wanders; it is shrunk before it is shown:
 *
 *  1. fewer steps: the schedule is the input of a fast-check property
 *     ("this schedule does not violate the invariant"), given as its one
 *     example; fast-check's array shrinker then drops steps and lowers
 *     choices while the property still fails. A choice c picks the
 *     (c mod n)-th of the n steps enabled at that point, so every shrunk
 *     array is a schedule the model can run. Since dropping a choice
 *     shifts the meaning of the ones after it, steps are then also
 *     dropped by name (ddmin over action ids).
 *  2. fewer preemptions: where an actor was switched away from while it
 *     could still run, its next step is pulled forward to run first, as a
 *     reader would tell the story; a move is kept when the violation stays
 *     and the trace gets no longer and has fewer preemptions (or, at equal
 *     preemptions, fewer context switches).
 *
 * The second pass never lengthens a trace, so it also applies to the
 * exhaustive search's shortest counterexamples (`--minimize preemptions`).
 */
import { InternalError } from '../model/errors.js';
import fc from 'fast-check';
import type { Invariant } from '../model/types.js';
import type { Action, Model, State } from '../model/types.js';
import { bindAll, enabledIds, stepFrom, violationOf } from './step.js';
import { replayIds } from './random/walk.js';

export interface ScheduleShape {
  readonly steps: number;
  /** Switches away from an actor that could still have run. */
  readonly preemptions: number;
  /** Switches between actors, preempting or not. */
  readonly switches: number;
}

export interface ShrinkResult {
  readonly actions: readonly number[];
  readonly before: ScheduleShape;
  readonly after: ScheduleShape;
  /** Schedules replayed while shrinking. */
  readonly replays: number;
}

/** Steps, preemptions and context switches of a schedule (action ids from the initial state). */
export function scheduleShape(m: Model, ids: readonly number[]): ScheduleShape {
  let s = m.initial();
  let preemptions = 0;
  let switches = 0;
  for (let i = 0; i < ids.length; i++) {
    const a = m.actions[ids[i]];
    if (i > 0) {
      const prev = m.actions[ids[i - 1]].actor;
      if (a.actor !== prev) {
        switches++;
        if (enabledIds(m, s).some((id) => m.actions[id].actor === prev)) preemptions++;
      }
    }
    const n = stepFrom(m, s, a);
    if (n === undefined) throw new InternalError(`step ${i + 1} of a schedule is not enabled`);
    s = n;
  }
  return { steps: ids.length, preemptions, switches };
}

/**
 * Whether `ids` still violates `inv`; if so, the schedule cut at the
 * violating step. A step that is not enabled where it now falls stands for
 * its actor's same step with other arguments, if one is enabled (the
 * reporter isolating the block that is free now rather than the one that
 * was free before a removed step), and is dropped if none is: removals
 * then keep a race's shape.
 */
function stillViolates(m: Model, inv: Invariant, ids: readonly number[]): number[] | undefined {
  const exact = replayIds(m, [inv], ids);
  if (exact !== null) return exact === undefined ? undefined : ids.slice(0, exact.steps);
  const bound = bindAll(m, [inv]);
  let s = m.initial();
  const out: number[] = [];
  for (const id of ids) {
    const want = m.actions[id];
    let taken: Action | undefined;
    let next: State | undefined;
    for (const a of [want, ...m.actions.filter((x) => x.actor === want.actor && x.name === want.name && x.id !== id)]) {
      next = stepFrom(m, s, a);
      if (next !== undefined) {
        taken = a;
        break;
      }
    }
    // Nothing of the kind can run here any more: the step is dropped, as a removal would.
    if (taken === undefined) continue;
    out.push(taken.id);
    if (violationOf(m, bound, s, next!, taken) !== undefined) return out;
    s = next!;
  }
  return undefined;
}

function better(x: ScheduleShape, y: ScheduleShape): boolean {
  if (x.steps !== y.steps) return x.steps < y.steps;
  if (x.preemptions !== y.preemptions) return x.preemptions < y.preemptions;
  return x.switches < y.switches;
}

/**
 * Pass 2: pull an actor's next step forward over a preemption, while that
 * keeps the violation and improves the shape. At most `budget` replays.
 */
export function minimizePreemptions(m: Model, inv: Invariant, ids: readonly number[], budget = 4000): { actions: number[]; replays: number } {
  let cur = [...ids];
  let shape = scheduleShape(m, cur);
  let replays = 0;
  /** Keep `cand` (cut at its violation) if it still violates and has a better shape. */
  const attempt = (cand: number[]): boolean => {
    replays++;
    const cut = stillViolates(m, inv, cand);
    if (cut === undefined) return false;
    const sh = scheduleShape(m, cut);
    if (!better(sh, shape)) return false;
    cur = cut;
    shape = sh;
    return true;
  };
  let improved = true;
  while (improved && replays < budget) {
    improved = false;
    for (let i = 1; i < cur.length && !improved && replays < budget; i++) {
      const prev = m.actions[cur[i - 1]].actor;
      if (m.actions[cur[i]].actor === prev) continue;
      // The preempted actor's next step, run before the steps that cut in.
      const k = cur.findIndex((id, x) => x > i && m.actions[id].actor === prev);
      if (k > 0) improved = attempt([...cur.slice(0, i), cur[k], ...cur.slice(i, k), ...cur.slice(k + 1)]);
      if (improved || k < 0) continue;
      // Or let the actor that cut in wait until the preempted one has no more steps in a row.
      let e = k;
      while (e < cur.length && m.actions[cur[e]].actor === prev) e++;
      improved = attempt([...cur.slice(0, i), ...cur.slice(k, e), ...cur.slice(i, k), ...cur.slice(e)]);
    }
  }
  return { actions: cur, replays };
}

/**
 * Drop steps by name (action ids) rather than by choice index: remove
 * chunks, halving their size down to single steps, keeping each removal
 * after which the rest still runs and still violates (ddmin, Zeller 1999).
 */
export function dropSteps(m: Model, inv: Invariant, ids: readonly number[], budget = 4000): { actions: number[]; replays: number } {
  let cur = [...ids];
  let replays = 0;
  const attempt = (cand: number[]): boolean => {
    replays++;
    const cut = stillViolates(m, inv, cand);
    if (cut === undefined) return false;
    cur = cut;
    return true;
  };
  // An actor's part in a race often comes whole: try without all of it, then without each of its runs of steps.
  const actorOf = (id: number): number => m.actions[id].actor;
  for (const actor of new Set(cur.map(actorOf))) {
    if (replays >= budget) break;
    attempt(cur.filter((id) => actorOf(id) !== actor));
  }
  for (let i = 0; i < cur.length && replays < budget; ) {
    let j = i;
    while (j < cur.length && actorOf(cur[j]) === actorOf(cur[i])) j++;
    if (!attempt([...cur.slice(0, i), ...cur.slice(j)])) i = j;
  }
  for (let size = Math.max(1, cur.length >> 1); size >= 1 && replays < budget; size >>= 1) {
    let i = 0;
    while (i < cur.length && replays < budget) {
      if (!attempt([...cur.slice(0, i), ...cur.slice(i + size)])) i += size;
    }
  }
  return { actions: cur, replays };
}

/** The schedule as choices: at each step, the index of the step taken among those enabled. */
function toChoices(m: Model, ids: readonly number[]): number[] {
  let s = m.initial();
  return ids.map((id) => {
    const en = enabledIds(m, s);
    s = stepFrom(m, s, m.actions[id])!;
    return en.indexOf(id);
  });
}

/** Run choices (each modulo the steps enabled there) until `inv` is violated; the steps taken, or undefined. */
function runChoices(m: Model, inv: Invariant, choices: readonly number[]): number[] | undefined {
  const bound = bindAll(m, [inv]);
  let s = m.initial();
  const ids: number[] = [];
  for (const ch of choices) {
    const en = enabledIds(m, s);
    if (en.length === 0) return undefined;
    const a = m.actions[en[ch % en.length]];
    const n = stepFrom(m, s, a)!;
    ids.push(a.id);
    if (violationOf(m, bound, s, n, a) !== undefined) return ids;
    s = n;
  }
  return undefined;
}

/** Schedules fast-check may replay while shrinking. */
const FAST_CHECK_BUDGET = 3000;

/**
 * Both passes on a violating schedule (then steps dropped once more). Each
 * pass has a budget of replays; `seconds` only guards against a model so
 * slow that the budget would take minutes.
 */
export function shrinkSchedule(m: Model, inv: Invariant, ids: readonly number[], seconds = 60): ShrinkResult {
  const before = scheduleShape(m, ids);
  let replays = 0;
  let best = [...ids];
  if (ids.length > 1) {
    const choices = toChoices(m, ids);
    const maxChoice = Math.max(...choices, 0);
    const found = fc.check(
      fc.property(fc.array(fc.nat({ max: maxChoice }), { maxLength: choices.length }), (xs) => {
        // A budget of replays, not of time, so the result is the same on any machine; past it every
        // candidate passes and fast-check stops at the smallest failure found so far.
        if (++replays > FAST_CHECK_BUDGET) return true;
        return runChoices(m, inv, xs) === undefined;
      }),
      { examples: [[choices]], numRuns: 1, seed: 1, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false },
    );
    if (found.failed && found.counterexample !== null) {
      const ids2 = runChoices(m, inv, found.counterexample[0]);
      if (ids2 !== undefined && ids2.length <= best.length) best = ids2;
    }
  }
  const d = dropSteps(m, inv, best);
  const p = minimizePreemptions(m, inv, d.actions);
  // Reordering can make steps redundant: drop once more.
  const e = dropSteps(m, inv, p.actions);
  replays += d.replays + p.replays + e.replays;
  return { actions: e.actions, before, after: scheduleShape(m, e.actions), replays };
}
