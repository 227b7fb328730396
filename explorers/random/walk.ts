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
 * Schedulers:
 *  - uniform: each enabled step alike;
 *  - weighted: each enabled step in proportion to its action's weight (the
 *    swarm's diversified runs; a weight of 0 leaves the step out unless
 *    nothing else is enabled);
 *  - pct: probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi,
 *    Nagarakatte, ASPLOS 2010): actors get distinct random priorities, the
 *    highest-priority enabled actor runs, and at d-1 random steps the
 *    running actor drops below every other. A bug that needs d ordering
 *    constraints is found with probability at least 1/(n k^(d-1)). Since
 *    our actors loop rather than end, an actor that has taken its share of
 *    the walk (depth / actors steps) ranks below all others from then on.
 */
import type { Invariant } from '../../model/types.js';
import type { Action, Model, State } from '../../model/types.js';
import { bindInvariant, eventsBroken, raisedAny, type BoundInvariant } from '../../invariants/bind.js';
import { bindAll, designError, stepFrom, stepThrew, violationOf } from '../step.js';

/** A small, fast PRNG (sfc32) seeded through splitmix32, so that nearby seeds give unrelated streams. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, n). */
  below(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }

  /** Uniform in [0, 1). */
  unit(): number {
    return this.u32() / 4294967296;
  }
}

/** A seed for item `i` of a stream seeded `seed` (walk i of a run, member i of a swarm). */
export function mixSeed(seed: number, i: number): number {
  let h = Math.imul((seed ^ 0x5bd1e995) >>> 0, 0x01000193) ^ Math.imul(i + 1, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return (h ^ (h >>> 15)) >>> 0;
}

export type Scheduler = 'uniform' | 'weighted' | 'pct';

export interface WalkSpec {
  readonly seed: number;
  readonly depth: number;
  readonly scheduler: Scheduler;
  /** pct: the bug depth d (d - 1 priority change points). */
  readonly pctDepth?: number;
  /** weighted: one weight per action id. */
  readonly weights?: readonly number[];
}

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
  /** PCT: the running actor's enabled steps. */
  private readonly mine: Int32Array;
  private readonly priority: Float64Array;
  /** PCT: steps each actor has taken in this walk. */
  private readonly ran: Float64Array;
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
    this.mine = new Int32Array(m.actions.length);
    this.priority = new Float64Array(m.actors.length);
    this.ran = new Float64Array(m.actors.length);
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
    const pct = spec.scheduler === 'pct' ? this.pctPlan(rng, spec) : undefined;
    const before = this.before;
    for (let step = 0; step < spec.depth; step++) {
      const n = this.enabledIn(s, this.enabled);
      if (n === 0) return { steps: step, end: 'deadlock', violations };
      const a = m.actions[this.choose(rng, spec, n, step, pct)];
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

  /** PCT: distinct initial priorities d..d+n-1 in random order, and d-1 change points among the depth's steps. */
  private pctPlan(rng: Rng, spec: WalkSpec): { changeAt: Map<number, number> } {
    const d = Math.max(1, spec.pctDepth ?? 3);
    const n = this.m.actors.length;
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = rng.below(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let i = 0; i < n; i++) this.priority[order[i]] = d + i;
    this.ran.fill(0);
    const changeAt = new Map<number, number>();
    for (let i = 1; i < d; i++) {
      const at = rng.below(Math.max(1, spec.depth));
      // Two change points on one step: the later one's (lower) priority wins, as if one step apart.
      changeAt.set(at, d - i);
    }
    return { changeAt };
  }

  private choose(rng: Rng, spec: WalkSpec, n: number, step: number, pct: { changeAt: Map<number, number> } | undefined): number {
    const en = this.enabled;
    const acts = this.m.actions;
    if (pct !== undefined) {
      // PCT assumes threads that end; ours loop (a vCPU allocates and frees for ever), and the
      // first in line would starve the rest. So an actor that has had its share of the walk
      // (depth / actors steps) has ended, as far as priorities go: it runs only when no other can.
      const share = Math.max(1, Math.floor(spec.depth / this.m.actors.length));
      const rank = (actor: number): number => (this.ran[actor] >= share ? this.priority[actor] - 1e9 : this.priority[actor]);
      const top = (): number => {
        let best = -1;
        for (let i = 0; i < n; i++) {
          const actor = acts[en[i]].actor;
          if (best < 0 || rank(actor) > rank(best)) best = actor;
        }
        return best;
      };
      let actor = top();
      const lower = pct.changeAt.get(step);
      if (lower !== undefined) {
        this.priority[actor] = lower;
        actor = top();
      }
      // Among the running actor's enabled steps (an allocation's choice of block, say), uniformly.
      let k = 0;
      for (let i = 0; i < n; i++) if (acts[en[i]].actor === actor) this.mine[k++] = en[i];
      this.ran[actor]++;
      return this.mine[rng.below(k)];
    }
    if (spec.scheduler === 'weighted' && spec.weights !== undefined) {
      const w = spec.weights;
      let total = 0;
      for (let i = 0; i < n; i++) total += w[en[i]];
      if (total > 0) {
        let r = rng.unit() * total;
        for (let i = 0; i < n; i++) {
          r -= w[en[i]];
          if (r < 0) return en[i];
        }
        for (let i = n - 1; i >= 0; i--) if (w[en[i]] > 0) return en[i];
      }
    }
    return en[rng.below(n)];
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
