/**
 * Runs of many random walks (walk.ts): uniform walks, PCT, and swarms of
 * diversified searches, on one thread or spread over worker threads.
 *
 * Walks run in rounds of ROUND, in index order. A round's walks are dealt
 * to the workers (walk i to worker i mod n) and their outcomes combined in
 * index order, so everything a run reports (the first violation of each
 * invariant, the coverage) is the same for any number of workers. A run of
 * `random` or `pct` ends after the round in which every invariant has been
 * violated; a swarm runs all its walks, so that the shards of a swarm add
 * up to the whole.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { deserializeError, InternalError, serializeError, type SerializedError } from '../../model/errors.js';
import { removeLoadLeftovers } from '../../check/load/load.js';
import type { Invariant } from '../../model/invariant.js';
import type { Config } from '../../model/config.js';
import type { Model } from '../../model/types.js';
import type { DesignRef } from '../parallel/parallel.js';
import { mixSeed, Rng, Walker, type WalkOutcome, type WalkSpec, type WalkViolation } from './walk.js';

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

export interface RunResult {
  /** Walks taken. */
  readonly runs: number;
  readonly steps: number;
  readonly seconds: number;
  readonly workers: number;
  readonly stoppedBy: 'runs' | 'all-violated' | 'max-seconds' | 'interrupted';
  /** Per invariant id: its violation in the lowest-indexed walk that broke it. */
  readonly first: ReadonlyMap<string, WalkViolation & { readonly walk: number }>;
  readonly fired: Float64Array;
  readonly reachedWalk: Float64Array;
  readonly reachedStep: Float64Array;
}

export function defaultRandomWorkers(): number {
  return availableParallelism();
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

export interface WalkWorkerInit {
  readonly design: DesignRef;
  readonly config: Config;
  readonly invariants: readonly string[];
  readonly plan: RunPlan;
}

export type WalkWorkerReply = { readonly kind: 'round'; readonly result: RoundResult } | { readonly kind: 'error'; readonly error: SerializedError };

function workerUrl(): URL {
  const here = new URL('./worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return here;
  return new URL('../../dist/explorers/random/worker.js', import.meta.url);
}

export interface RunOptions {
  readonly model: Model;
  readonly invariants: readonly Invariant[];
  readonly plan: RunPlan;
  readonly workers: number;
  /** Where workers find the design; without it the run stays on this thread. */
  readonly source?: DesignRef;
  readonly maxSeconds?: number;
  readonly onRound?: (walks: number, steps: number, seconds: number) => void;
  /** Once this word is nonzero the run stops after the round in progress: `interrupted`. */
  readonly interrupt?: Int32Array;
}

/** A pool of walk workers, each with its own model, taking one share of a round at a time. */
class Pool {
  private readonly workers: Worker[];
  private readonly waiting: ((r: WalkWorkerReply) => void)[] = [];
  /** A failure that arrived before anyone waited (a worker that could not load the design). */
  private early: SerializedError | undefined;

  private readonly design: WalkWorkerInit['design'];

  constructor(n: number, init: WalkWorkerInit) {
    this.design = init.design;
    this.workers = Array.from({ length: n }, () => new Worker(workerUrl(), { workerData: init }));
    this.workers.forEach((w, i) => {
      const deliver = (r: WalkWorkerReply): void => {
        const wait = this.waiting[i];
        if (wait !== undefined) {
          delete this.waiting[i];
          wait(r);
        } else if (r.kind === 'error') this.early ??= r.error;
      };
      w.on('message', deliver);
      w.on('error', (e) => deliver({ kind: 'error', error: serializeError(e) }));
      w.on('exit', (code) => {
        if (code !== 0) deliver({ kind: 'error', error: serializeError(new InternalError(`walk worker ${i} exited with code ${code}`)) });
      });
    });
  }

  get size(): number {
    return this.workers.length;
  }

  async round(shares: readonly (readonly number[])[]): Promise<RoundResult[]> {
    if (this.early !== undefined) throw deserializeError(this.early);
    const got = shares.map((_, i) => new Promise<WalkWorkerReply>((resolve) => (this.waiting[i] = resolve)));
    shares.forEach((s, i) => this.workers[i].postMessage(s));
    const replies = await Promise.all(got);
    return replies.map((r) => {
      if (r.kind === 'error') throw deserializeError(r.error);
      return r.result;
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    removeLoadLeftovers(this.design.file);
  }
}

export async function runRandom(opts: RunOptions): Promise<RunResult> {
  const m = opts.model;
  const planner = new Planner(m, opts.plan);
  const indices = walkIndices(opts.plan);
  const rounds = Math.ceil(indices.length / ROUND);
  // A worker costs a model build and a thread start (a few tenths of a second): small runs stay here.
  const n = opts.source === undefined || indices.length < 2 * ROUND ? 1 : Math.max(1, opts.workers);
  const pool = n > 1 ? new Pool(n, { design: opts.source!, config: m.cfg, invariants: opts.invariants.map((i) => i.id), plan: opts.plan }) : undefined;
  const walker = pool === undefined ? new Walker(m, opts.invariants) : undefined;
  const I = opts.invariants.length;
  const fired = new Float64Array(m.actions.length);
  const reachedWalk = new Float64Array(I).fill(-1);
  const reachedStep = new Float64Array(I).fill(-1);
  const first = new Map<string, WalkViolation & { walk: number }>();
  const t0 = performance.now();
  let runs = 0;
  let steps = 0;
  let stoppedBy: RunResult['stoppedBy'] = 'runs';
  try {
    for (let r = 0; r < rounds; r++) {
      // Between rounds the event loop runs, so that a signal handler can set the interrupt word.
      if (opts.interrupt !== undefined) {
        if (pool === undefined) await new Promise<void>((resolve) => setImmediate(resolve));
        if (Atomics.load(opts.interrupt, 0) !== 0) {
          stoppedBy = 'interrupted';
          break;
        }
      }
      const batch = indices.slice(r * ROUND, (r + 1) * ROUND);
      let results: RoundResult[];
      if (pool === undefined) results = [runWalks(walker!, planner, batch)];
      else results = await pool.round(Array.from({ length: pool.size }, (_, w) => batch.filter((_, k) => k % pool.size === w)));
      const outcomes: WalkRecord[] = [];
      for (const res of results) {
        outcomes.push(...res.outcomes);
        for (let a = 0; a < fired.length; a++) fired[a] += res.fired[a];
        steps += res.steps;
        for (let k = 0; k < I; k++) {
          const w = res.reachedWalk[k];
          if (w >= 0 && (reachedWalk[k] < 0 || w < reachedWalk[k])) {
            reachedWalk[k] = w;
            reachedStep[k] = res.reachedStep[k];
          }
        }
      }
      outcomes.sort((x, y) => x.index - y.index);
      for (const o of outcomes) for (const v of o.violations) if (!first.has(v.invariant)) first.set(v.invariant, { walk: o.index, ...v });
      runs += batch.length;
      const seconds = (performance.now() - t0) / 1000;
      opts.onRound?.(runs, steps, seconds);
      if (opts.plan.explorer !== 'swarm' && I > 0 && first.size === I) {
        stoppedBy = 'all-violated';
        break;
      }
      if (opts.maxSeconds !== undefined && seconds >= opts.maxSeconds && r + 1 < rounds) {
        stoppedBy = 'max-seconds';
        break;
      }
    }
  } finally {
    await pool?.close();
  }
  return { runs, steps, seconds: (performance.now() - t0) / 1000, workers: n, stoppedBy, first, fired, reachedWalk, reachedStep };
}
