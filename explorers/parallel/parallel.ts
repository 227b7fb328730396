/**
 * Breadth-first search on several cores. Each worker thread runs an Engine
 * that owns the states whose partition key (a few fields, chosen so that
 * most steps leave it alone: see partition.ts) hashes to it: it stores them,
 * checks them and expands them; a successor owned by another worker is
 * batched and posted to that worker, which takes it in between two of its
 * own states. Levels stay in step: a worker that has expanded its share of
 * a level tells every peer so, drains what they send until each has said
 * the same, and reports to the coordinator here, which starts the next
 * level or stops. Every worker moves to the next level, even one that owns
 * none of its states, so that what it takes in is stored at the right
 * depth. So the search visits the same states as one engine, in the same
 * breadth-first levels, and a violation's depth is still a shortest
 * counterexample's length.
 *
 * The store stays in the workers; a counterexample is rebuilt by one engine
 * searching as deep as the violation (see check.ts).
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { Config } from '../../model/config.js';
import type { Model } from '../../model/types.js';
import { deserializeError, InternalError, serializeError } from '../../model/errors.js';
import { buildModel } from '../../model/system.js';
import type { Reductions, SearchLimits, StopReason, SearchCoverage, SearchTotals } from '../exhaustive/types.js';
import { choosePartition, namedPartition, type Partition } from './partition.js';
import { mib } from '../units.js';
import { designOfSource, runnable, type DesignSource } from '../source.js';
import { CTRL_ARRIVALS, CTRL_STOP, STATS, STAT_COUNT, STAT_QUEUE, STAT_TRANSITIONS, type LevelReport, type WorkerCommand, type WorkerInit, type WorkerReply } from './protocol.js';

export interface ParallelOptions extends SearchLimits {
  readonly design: DesignSource;
  readonly config: Config;
  /** Run once the workers are gone (e.g. to remove what a design file's load left behind). */
  readonly afterWorkers?: () => void;
  /** The model the workers build, if the caller has it (else it is built from the design). */
  readonly model?: Model;
  /** The partition key's fields (group.field), instead of the one a sample chooses. */
  readonly partition?: readonly string[];
  /** Invariant ids, already selected and validated. */
  readonly invariants: readonly string[];
  readonly reduce: Reductions;
  readonly workers: number;
}

export interface ParallelViolation {
  readonly message: string;
  readonly depth: number;
}

export interface ParallelResult extends SearchTotals, SearchCoverage {
  readonly bytes: number;
  readonly violations: ReadonlyMap<string, ParallelViolation>;
  readonly workers: number;
  /** How states were split between the workers. */
  readonly partition: Partition;
}

/** The default number of search workers: one per core. */
export function defaultWorkers(): number {
  return availableParallelism();
}

export async function exploreParallel(opts: ParallelOptions): Promise<ParallelResult> {
  const n = Math.max(2, opts.workers);
  const t0 = performance.now();
  const ctrl = new Int32Array(new SharedArrayBuffer(4 * (CTRL_ARRIVALS + n)));
  const stats = new Float64Array(new SharedArrayBuffer(8 * STATS * n));
  const limit = opts.memoryLimit ?? Infinity;
  const deadline = opts.maxSeconds !== undefined ? Date.now() + opts.maxSeconds * 1000 : Number.MAX_SAFE_INTEGER;
  const url = runnable(new URL('./worker.js', import.meta.url));
  const workers = Array.from({ length: n }, (_, index) => {
    const init: WorkerInit = {
      design: opts.design,
      config: opts.config,
      invariants: opts.invariants,
      reduce: opts.reduce,
      memoryLimit: limit === Infinity ? Number.MAX_SAFE_INTEGER : Math.floor(limit / n),
      index,
      count: n,
      ctrl: ctrl.buffer as SharedArrayBuffer,
      stats: stats.buffer as SharedArrayBuffer,
      deadline,
    };
    return new Worker(url, { workerData: init });
  });
  // One channel per pair of workers: batches go straight from owner to owner.
  const ports: (MessagePort | null)[][] = workers.map(() => workers.map(() => null));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const ch = new MessageChannel();
      ports[i][j] = ch.port1;
      ports[j][i] = ch.port2;
    }
  }
  let failure: Error | undefined;
  const waiting: ((r: WorkerReply) => void)[] = [];
  const replies: Promise<WorkerReply>[] = [];
  const expect = (): Promise<WorkerReply[]> => {
    replies.length = 0;
    // A worker that fails does not finish its share, and its peers would wait for it: the first error is the answer.
    let failed!: (r: WorkerReply) => void;
    const first = new Promise<WorkerReply[]>((resolve) => (failed = (r) => resolve([r])));
    for (let i = 0; i < n; i++) {
      replies.push(
        new Promise((resolve) => {
          waiting[i] = (r) => {
            if (r.kind === 'error') {
              Atomics.store(ctrl, CTRL_STOP, 1);
              failed(r);
            }
            resolve(r);
          };
        }),
      );
    }
    return Promise.race([Promise.all(replies), first]);
  };
  workers.forEach((w, i) => {
    w.on('message', (r: WorkerReply) => waiting[i]?.(r));
    w.on('error', (e) => {
      failure ??= e;
      Atomics.store(ctrl, CTRL_STOP, 1);
      waiting[i]?.({ kind: 'error', error: serializeError(e) });
    });
    w.on('exit', (code) => {
      if (code !== 0) waiting[i]?.({ kind: 'error', error: serializeError(new InternalError(`search worker ${i} exited with code ${code}`)) });
    });
  });

  let stoppedBy: StopReason = 'exhausted';
  let note: string | undefined;
  const violations = new Map<string, ParallelViolation>();
  let depth = 0;
  let states = 0;
  let transitions = 0;
  let bytes = 0;
  let represented = 0;
  let fired = new Float64Array(0);
  let reachedDepth = new Float64Array(0);
  let lastProgress = t0;
  const progressMs = opts.progressMs ?? 1000;
  const sum = (k: number): number => {
    let t = 0;
    for (let i = 0; i < n; i++) t += stats[i * STATS + k];
    return t;
  };
  // Budgets that act within a level: the workers see the stop word between two states.
  let interrupted = false;
  const timer = setInterval(() => {
    if (opts.interrupt !== undefined && Atomics.load(opts.interrupt, 0) !== 0 && !interrupted) {
      interrupted = true;
      Atomics.store(ctrl, CTRL_STOP, 1);
    }
    const count = sum(STAT_COUNT);
    if (opts.maxStates !== undefined && count >= opts.maxStates) Atomics.store(ctrl, CTRL_STOP, 1);
    const now = performance.now();
    if (opts.onProgress !== undefined && now - lastProgress >= progressMs) {
      lastProgress = now;
      opts.onProgress({ states: count, transitions: sum(STAT_TRANSITIONS), queue: sum(STAT_QUEUE), depth, seconds: (now - t0) / 1000 });
    }
  }, Math.min(progressMs, 50));

  /** Post to every worker and wait for all their reports; a worker's error fails the search. */
  const collect = async (post: (w: Worker, i: number) => void): Promise<LevelReport[]> => {
    const got = expect();
    workers.forEach(post);
    const rs = await got;
    const bad = rs.find((r) => r.kind === 'error');
    if (bad !== undefined && bad.kind === 'error') throw deserializeError(bad.error);
    return rs as LevelReport[];
  };
  const round = (cmd: WorkerCommand): Promise<LevelReport[]> => collect((w) => w.postMessage(cmd));

  let partition: Partition | undefined;
  try {
    {
      // Chosen while the workers start.
      const m = opts.model ?? buildModel(await designOfSource(opts.design), opts.config);
      const chosen = opts.partition !== undefined ? namedPartition(m, opts.partition) : choosePartition(m, n, opts.reduce.symmetry ? m.design.symmetry?.(m).canon : undefined);
      partition = chosen;
      const rs = await collect((w, i) => w.postMessage({ kind: 'ports', ports: ports[i], partition: chosen.offsets } satisfies WorkerCommand, ports[i].filter((p): p is MessagePort => p !== null)));
      absorbReports(rs, false);
    }
    let advance = false;
    for (;;) {
      if (stoppedBy !== 'exhausted') break;
      if (interrupted || (opts.interrupt !== undefined && Atomics.load(opts.interrupt, 0) !== 0)) {
        stoppedBy = 'interrupted';
        break;
      }
      const total = opts.invariants.length;
      if (total > 0 && violations.size === total) {
        stoppedBy = 'all-violated';
        break;
      }
      if (opts.maxStates !== undefined && states >= opts.maxStates) {
        stoppedBy = 'max-states';
        break;
      }
      const rs = await round({ kind: 'level', advance });
      if (advance) depth++;
      advance = true;
      absorbReports(rs, false);
      const upcoming = rs.reduce((t, r) => t + r.upcoming, 0);
      // As one engine counts it: the deepest level holding a state.
      if (upcoming > 0 && (stoppedBy !== 'exhausted' || (total > 0 && violations.size === total))) depth++;
      if (stoppedBy !== 'exhausted' || upcoming === 0) break;
      if (total > 0 && violations.size === total) {
        stoppedBy = 'all-violated';
        break;
      }
      const need = rs.reduce((t, r) => t + r.nextBytes, 0);
      if (need > limit) {
        stoppedBy = 'memory-limit';
        note = `the next level would take the search to about ${mib(need)} MiB, past the memory limit of ${mib(limit)} MiB`;
        depth++;
        break;
      }
    }
    const last = await round({ kind: 'finish' });
    absorbReports(last, true);
  } finally {
    clearInterval(timer);
    await Promise.all(workers.map((w) => w.terminate()));
    opts.afterWorkers?.();
  }
  if (failure !== undefined) throw failure;

  function absorbReports(rs: readonly LevelReport[], final: boolean): void {
    states = rs.reduce((t, r) => t + r.count, 0);
    transitions = rs.reduce((t, r) => t + r.transitions, 0);
    bytes = rs.reduce((t, r) => t + r.bytes, 0);
    represented = rs.reduce((t, r) => t + r.represented, 0);
    fired = new Float64Array(rs[0]?.fired.length ?? 0);
    reachedDepth = new Float64Array(rs[0]?.reached.length ?? 0).fill(-1);
    for (const r of rs) {
      r.fired.forEach((x, a) => (fired[a] += x));
      r.reached.forEach((d, k) => {
        if (d >= 0 && (reachedDepth[k] < 0 || d < reachedDepth[k])) reachedDepth[k] = d;
      });
    }
    for (const r of rs) {
      for (const v of r.violations) {
        const old = violations.get(v.id);
        if (old === undefined || v.depth < old.depth) violations.set(v.id, { message: v.message, depth: v.depth });
      }
      if (r.stoppedBy !== undefined && stoppedBy === 'exhausted' && !final) {
        stoppedBy = r.stoppedBy;
        note ??= r.note;
      }
      if (!r.done && stoppedBy === 'exhausted' && !final) {
        stoppedBy = interrupted ? 'interrupted' : Date.now() >= deadline ? 'max-seconds' : 'max-states';
      }
    }
  }

  const seconds = (performance.now() - t0) / 1000;
  return {
    complete: stoppedBy === 'exhausted',
    stoppedBy,
    states,
    transitions,
    depth,
    seconds,
    bytes,
    violations,
    reduce: opts.reduce,
    ...(opts.reduce.symmetry ? { represented } : {}),
    ...(note !== undefined ? { note } : {}),
    workers: n,
    partition: partition!,
    fired,
    reachedDepth,
  };
}
