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
import type { Invariant, Model } from '../../model/types.js';
import { runnable, type DesignSource } from '../source.js';
import { Planner, ROUND, runWalks, walkIndices, type RoundResult, type RunPlan, type WalkRecord } from './plan.js';
import type { WalkWorkerInit, WalkWorkerReply } from './protocol.js';
import { Walker, type WalkViolation } from './walk.js';

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

export interface RunOptions {
  readonly model: Model;
  readonly invariants: readonly Invariant[];
  readonly plan: RunPlan;
  readonly workers: number;
  /** Where workers find the design; without it the run stays on this thread. */
  readonly source?: DesignSource;
  /** Run once the workers are gone (e.g. to remove what a design file's load left behind). */
  readonly afterWorkers?: () => void;
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

  constructor(
    n: number,
    init: WalkWorkerInit,
    private readonly afterWorkers: (() => void) | undefined,
  ) {
    this.workers = Array.from({ length: n }, () => new Worker(runnable(new URL('./worker.js', import.meta.url)), { workerData: init }));
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
    this.afterWorkers?.();
  }
}

export async function runRandom(opts: RunOptions): Promise<RunResult> {
  const m = opts.model;
  const planner = new Planner(m, opts.plan);
  const indices = walkIndices(opts.plan);
  const rounds = Math.ceil(indices.length / ROUND);
  // A worker costs a model build and a thread start (a few tenths of a second): small runs stay here.
  const n = opts.source === undefined || indices.length < 2 * ROUND ? 1 : Math.max(1, opts.workers);
  const pool = n > 1 ? new Pool(n, { design: opts.source!, config: m.cfg, invariants: opts.invariants.map((i) => i.id), plan: opts.plan }, opts.afterWorkers) : undefined;
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
