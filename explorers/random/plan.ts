/**
 * What the walks of a run are: the run's plan, each walk's seed, depth and
 * scheduler (a swarm member's weights included), and taking a share of the
 * walks on one walker, on this thread or in a worker.
 */
import type { Model } from '../../model/types.js';
import { mixSeed, Rng } from './rng.js';
import type { WalkSpec } from './scheduler.js';
import type { Walker, WalkOutcome } from './walk.js';

export const EXPLORERS = ['exhaustive', 'random', 'pct', 'swarm'] as const;
export type ExplorerKind = (typeof EXPLORERS)[number];
export type RandomKind = Exclude<ExplorerKind, 'exhaustive'>;

/** Walks per round: the unit of work dealt to workers and of stopping. */
export const ROUND = 64;

export interface RunPlan {
  readonly explorer: RandomKind;
  readonly seed: number;
  /** Walks in the whole run (for a swarm: over every member, before sharding). */
  readonly runs: number;
  readonly depth: number;
  readonly pctDepth: number;
  /** Swarm: members (diversified searches); runs are split evenly among them. */
  readonly members: number;
  /** Swarm: run only the members of shard `index` of `count` (0-based). */
  readonly shard?: { readonly index: number; readonly count: number };
}

/** What a swarm member varies: its scheduler, depth, PCT depth and action weights. */
export interface Member {
  readonly index: number;
  readonly scheduler: WalkSpec['scheduler'];
  readonly depth: number;
  readonly pctDepth: number;
  /** Weight per action group (actor kind and action name), for a weighted member. */
  readonly weights?: Readonly<Record<string, number>>;
}

/** The action group a weight applies to: vCPUs share theirs (`vcpu alloc_pages`). */
export function actionGroup(m: Model, id: number): string {
  const a = m.actions[id];
  return `${m.actors[a.actor].replace(/\d+$/, '')} ${a.name}`;
}

/**
 * Member i of a swarm, a function of the seed and i alone: as SPIN's swarm
 * varies search options per job, each member draws a scheduler, a depth
 * bound up to the run's, a PCT depth, and per action group a weight, some
 * of them 0 (the group is then only taken when nothing else is enabled).
 */
export function swarmMember(m: Model, plan: RunPlan, i: number): Member {
  const rng = new Rng(mixSeed(plan.seed ^ 0x5a5a5a5a, i));
  const r = rng.unit();
  const scheduler = r < 0.3 ? 'uniform' : r < 0.7 ? 'weighted' : 'pct';
  const depth = Math.max(1, Math.round(plan.depth * [0.25, 0.5, 0.75, 1][rng.below(4)]));
  const pctDepth = 1 + rng.below(5);
  if (scheduler !== 'weighted') return { index: i, scheduler, depth, pctDepth };
  const weights: Record<string, number> = {};
  for (let id = 0; id < m.actions.length; id++) {
    const g = actionGroup(m, id);
    if (g in weights) continue;
    const x = rng.unit();
    weights[g] = x < 0.15 ? 0 : x < 0.4 ? 0.2 : x < 0.75 ? 1 : 5;
  }
  return { index: i, scheduler, depth, pctDepth, weights };
}

/**
 * The global indices of the walks this run takes, in order, without listing
 * them (a run of 10^8 walks would spend seconds and gigabytes on the list):
 * `slice(from, to)` gives the indices of the run's walks from..to-1.
 */
export interface WalkIndices {
  readonly length: number;
  slice(from: number, to: number): number[];
}

export function walkIndices(plan: RunPlan): WalkIndices {
  if (plan.explorer !== 'swarm' || plan.shard === undefined) {
    return { length: plan.runs, slice: (from, to) => Array.from({ length: Math.max(0, Math.min(to, plan.runs) - from) }, (_, k) => from + k) };
  }
  // A shard takes whole members: member mem's walks are mem*per .. mem*per+per-1.
  const per = Math.ceil(plan.runs / plan.members);
  const spans: { first: number; count: number; at: number }[] = [];
  let length = 0;
  for (let mem = plan.shard.index; mem < plan.members; mem += plan.shard.count) {
    const count = Math.max(0, Math.min(per, plan.runs - mem * per));
    spans.push({ first: mem * per, count, at: length });
    length += count;
  }
  return {
    length,
    slice: (from, to) => {
      const out: number[] = [];
      for (const sp of spans) {
        for (let k = Math.max(from, sp.at); k < Math.min(to, sp.at + sp.count, length); k++) out.push(sp.first + k - sp.at);
      }
      return out;
    },
  };
}

/** Walk i's spec: a function of the plan and i alone. */
export class Planner {
  private readonly members = new Map<number, Member>();
  private readonly weights = new Map<number, number[]>();

  constructor(
    private readonly m: Model,
    readonly plan: RunPlan,
  ) {}

  member(i: number): Member {
    let mem = this.members.get(i);
    if (mem === undefined) {
      mem = swarmMember(this.m, this.plan, i);
      this.members.set(i, mem);
    }
    return mem;
  }

  /** The swarm member a walk belongs to (0 outside a swarm). */
  memberOf(walk: number): number {
    return this.plan.explorer === 'swarm' ? Math.floor(walk / Math.ceil(this.plan.runs / this.plan.members)) : 0;
  }

  spec(walk: number): WalkSpec {
    const p = this.plan;
    if (p.explorer === 'random') return { seed: mixSeed(p.seed, walk), depth: p.depth, scheduler: 'uniform' };
    if (p.explorer === 'pct') return { seed: mixSeed(p.seed, walk), depth: p.depth, scheduler: 'pct', pctDepth: p.pctDepth };
    const mem = this.member(this.memberOf(walk));
    const seed = mixSeed(mixSeed(p.seed, mem.index), walk);
    if (mem.scheduler !== 'weighted') return { seed, depth: mem.depth, scheduler: mem.scheduler, pctDepth: mem.pctDepth };
    let w = this.weights.get(mem.index);
    if (w === undefined) {
      w = this.m.actions.map((_, id) => mem.weights![actionGroup(this.m, id)] ?? 1);
      this.weights.set(mem.index, w);
    }
    return { seed, depth: mem.depth, scheduler: 'weighted', weights: w };
  }
}

export interface WalkRecord extends WalkOutcome {
  readonly index: number;
}

/** Coverage of a set of walks, keyed so that shards can be added up. */
export interface RoundResult {
  readonly outcomes: readonly WalkRecord[];
  /** Per action id. */
  readonly fired: Float64Array;
  /** Per invariant (in the run's order): first walk and step its precondition held, or -1. */
  readonly reachedWalk: Float64Array;
  readonly reachedStep: Float64Array;
  readonly steps: number;
}

/** Take walks `indices` on one walker (this thread, or inside a worker). */
export function runWalks(walker: Walker, planner: Planner, indices: readonly number[]): RoundResult {
  const before = walker.steps;
  walker.fired.fill(0);
  const outcomes: WalkRecord[] = [];
  for (const i of indices) {
    const o = walker.walk(i, planner.spec(i));
    outcomes.push({ index: i, ...o });
  }
  return { outcomes, fired: walker.fired.slice(), reachedWalk: walker.reachedWalk.slice(), reachedStep: walker.reachedStep.slice(), steps: walker.steps - before };
}

