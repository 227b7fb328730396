/**
 * Random walks: the same model, steps and invariants as the exhaustive
 * search, for configurations too large to exhaust. A walk starts at the
 * initial state and takes one enabled step at a time, chosen by its
 * scheduler, until a violation, a state with no step, or its depth bound.
 *
 * A walk is a function of its spec (seed, depth, scheduler), so a walk
 * found on any worker is found again on any other, and a run's result does
 * not depend on how many workers shared it.
 *
 * The schedulers are files of their own: uniform.ts, weighted.ts (a swarm
 * member's) and pct.ts.
 */
import type { Invariant } from '../../model/types.js';
import type { Action, Model, State } from '../../model/types.js';
import { bindInvariant, eventsBroken, raisedAny, type BoundInvariant } from '../../invariants/bind.js';
import { bindAll, designError, stepFrom, stepThrew, violationOf } from '../step.js';
import { Rng } from './rng.js';
import type { Scheduler, StepChooser, WalkSpec } from './scheduler.js';
import { Pct } from './pct.js';
import { Uniform } from './uniform.js';
import { Weighted } from './weighted.js';


export interface WalkViolation {
  readonly invariant: string;
  readonly message: string;
  /** The steps taken, as action ids, the last one being the step into the violating state (none for the initial state). */
  readonly actions: readonly number[];
}

export interface WalkOutcome {
  /** Steps taken. */
  readonly steps: number;
  /** The first violation of each invariant the walk broke, in the order they happened. */
  readonly violations: readonly WalkViolation[];
  /** Why the walk ended: every invariant broken, the depth bound, or no step enabled. */
  readonly end: 'all-violated' | 'depth' | 'deadlock';
}

/**
 * Takes walks on one model and keeps their coverage: how often each action
 * fired, and the first walk and step at which each invariant's precondition
 * held.
 */
export class Walker {
  readonly m: Model;
  readonly invariants: readonly Invariant[];
  /** Per action id: times taken, over every walk of this walker. */
  readonly fired: Float64Array;
  /** Per invariant: the first (walk, step) its precondition held at, or -1. */
  readonly reachedWalk: Float64Array;
  readonly reachedStep: Float64Array;
  /** Steps taken over every walk. */
  steps = 0;

  private readonly bound: readonly BoundInvariant[];
  private readonly s: State;
  private readonly next: State;
  private readonly enabled: Int32Array;
  /** One chooser per strategy, made the first time a walk asks for it. */
  private readonly choosers = new Map<Scheduler, StepChooser>();
  /** The steps of the current walk, and the state before the last one. */
  private readonly taken: number[] = [];
  private readonly before: State;

  constructor(m: Model, invariants: readonly Invariant[]) {
    this.m = m;
    this.invariants = invariants;
    this.bound = invariants.map((inv) => bindInvariant(m, inv));
    this.fired = new Float64Array(m.actions.length);
    this.reachedWalk = new Float64Array(invariants.length).fill(-1);
    this.reachedStep = new Float64Array(invariants.length).fill(-1);
    this.s = new Uint8Array(m.layout.size);
    this.next = new Uint8Array(m.layout.size);
    this.before = new Uint8Array(m.layout.size);
    this.enabled = new Int32Array(m.actions.length);
  }

  /** The ids of the steps enabled in s, in id order, into `out`; returns how many. */
  enabledIn(s: State, out: Int32Array): number {
    const acts = this.m.actions;
    const next = this.next;
    const t = this.m.layout.transients;
    let n = 0;
    next.set(s);
    next.fill(0, t);
    for (let i = 0; i < acts.length; i++) {
      const a = acts[i];
      if (a.guardAt >= 0 && s[a.guardAt] !== a.guardIs) continue;
      if (a.guard2At !== undefined && a.guard2At >= 0 && s[a.guard2At] !== a.guard2Is) continue;
      // A step whose guard fails leaves its copy alone, so the copy is refreshed only after one that was taken.
      let taken: unknown;
      try {
        taken = a.apply(next);
      } catch (e) {
        throw stepThrew(this.m, a, s, e);
      }
      if (taken !== true && taken !== false) throw designError(this.m, a, s, `returned ${String(taken)}; a step returns true (taken) or false (not enabled)`);
      if (taken) {
        out[n++] = i;
        next.set(s);
        next.fill(0, t);
      }
    }
    return n;
  }

  private noteReached(walk: number, step: number, before: State | undefined, after: State, a: Action | undefined): void {
    for (let k = 0; k < this.bound.length; k++) {
      if (this.reachedWalk[k] >= 0) continue;
      const b = this.bound[k];
      // Without a precondition every state is one the invariant speaks of.
      const hit = b.unconditional || (b.reachedState !== undefined && b.reachedState(after)) || (before !== undefined && a !== undefined && b.reachedEdge !== undefined && b.reachedEdge(before, after, a));
      if (hit) {
        this.reachedWalk[k] = walk;
        this.reachedStep[k] = step;
      }
    }
  }

  /**
   * Check the state (and the step into it) against the invariants the walk
   * has not broken yet; record each one broken now. Returns whether every
   * invariant is now broken.
   */
  private check(before: State | undefined, after: State, a: Action | undefined, broken: Uint8Array, out: WalkViolation[]): boolean {
    // As the exhaustive search: on a sample of steps every edge check runs, to check the events it declares.
    const sampled = this.steps <= 256 || (this.steps & 1023) === 0;
    for (let k = 0; k < this.bound.length; k++) {
      if (broken[k] === 1) continue;
      const b = this.bound[k];
      let msg: string | null = null;
      if (b.state !== undefined) msg = b.state(after);
      if (msg === null && before !== undefined && a !== undefined && b.edge !== undefined) {
        const ev = b.events;
        if (ev === null || raisedAny(ev, after)) msg = b.edge(before, after, a);
        else if (sampled) {
          const lie = b.edge(before, after, a);
          if (lie !== null) throw eventsBroken(this.m, b, lie);
        }
      }
      if (msg !== null) {
        broken[k] = 1;
        out.push({ invariant: b.inv.id, message: msg, actions: this.taken.slice() });
      }
    }
    return out.length === this.bound.length;
  }

  /** The steps walk `walk` takes under `spec`, as action ids (to rebuild a witness). */
  walkIds(walk: number, spec: WalkSpec): number[] {
    const o = this.walk(walk, spec);
    return this.taken.slice(0, o.steps);
  }

  /**
   * Walk number `walk` (for coverage) under `spec`. A walk goes on past a
   * violation, as the exhaustive search does, so that one broken invariant
   * does not hide the others; it ends when all are broken.
   */
  walk(walk: number, spec: WalkSpec): WalkOutcome {
    const m = this.m;
    const rng = new Rng(spec.seed);
    const s = this.s;
    s.set(m.initial());
    const taken = this.taken;
    taken.length = 0;
    const broken = new Uint8Array(this.bound.length);
    const violations: WalkViolation[] = [];
    this.noteReached(walk, 0, undefined, s, undefined);
    if (this.check(undefined, s, undefined, broken, violations)) return { steps: 0, end: 'all-violated', violations };
    const chooser = this.chooser(spec.scheduler);
    chooser.start(rng, spec);
    const before = this.before;
    for (let step = 0; step < spec.depth; step++) {
      const n = this.enabledIn(s, this.enabled);
      if (n === 0) return { steps: step, end: 'deadlock', violations };
      const a = m.actions[chooser.choose(rng, spec, this.enabled, n, step)];
      before.set(s);
      s.fill(0, m.layout.transients);
      a.apply(s);
      const bad = m.layout.firstInvalid(s);
      if (bad >= 0) throw designError(m, a, before, `wrote ${s[bad]} outside its field's domain (${m.layout.validate(s)})`);
      taken.push(a.id);
      this.fired[a.id]++;
      this.steps++;
      this.noteReached(walk, step + 1, before, s, a);
      if (this.check(before, s, a, broken, violations)) return { steps: step + 1, end: 'all-violated', violations };
    }
    return { steps: spec.depth, end: 'depth', violations };
  }

  private chooser(kind: Scheduler): StepChooser {
    let c = this.choosers.get(kind);
    if (c === undefined) {
      c = kind === 'pct' ? new Pct(this.m) : kind === 'weighted' ? new Weighted() : new Uniform();
      this.choosers.set(kind, c);
    }
    return c;
  }
}

/**
 * Replay action ids from the initial state: the first violation of the
 * given invariants and the step it happened at, or undefined. Returns null
 * when a step is not enabled where the schedule puts it.
 */
export function replayIds(m: Model, invariants: readonly Invariant[], ids: readonly number[]): { readonly invariant: string; readonly message: string; readonly steps: number } | undefined | null {
  const bound = bindAll(m, invariants);
  let s = m.initial();
  const v0 = violationOf(m, bound, undefined, s, undefined);
  if (v0 !== undefined) return { ...v0, steps: 0 };
  for (let i = 0; i < ids.length; i++) {
    const a = m.actions[ids[i]];
    const next = stepFrom(m, s, a);
    if (next === undefined) return null;
    const v = violationOf(m, bound, s, next, a);
    if (v !== undefined) return { ...v, steps: i + 1 };
    s = next;
  }
  return undefined;
}
