/**
 * The one-thread search: one Engine, driven level by level until the states
 * run out, every invariant is violated, or a budget (states, seconds,
 * memory, an interrupt) stops it. Only `exhausted` makes a search complete.
 */
import type { Model } from '../../model/types.js';
import { StoreFull } from '../store.js';
import { mib } from '../units.js';
import { Engine } from './engine.js';
import { NO_REDUCTIONS, type ExploreOptions, type SearchResult, type StopReason } from './types.js';

/**
 * The search, as a generator: with `slices`, it yields every SLICE_MS so
 * that an asynchronous caller can let the event loop run (a signal handler
 * that sets the interrupt word, say) and resume it where it was.
 */
function* search(m: Model, opts: ExploreOptions, slices: boolean): Generator<void, SearchResult> {
  const reduce = opts.reduce ?? NO_REDUCTIONS;
  const e = new Engine(m, { invariants: opts.invariants, reduce, ...(opts.memoryLimit !== undefined ? { memoryLimit: opts.memoryLimit } : {}) });
  e.maxStates = opts.maxStates ?? Infinity;
  const maxMs = (opts.maxSeconds ?? Infinity) * 1000;
  const progressMs = opts.progressMs ?? 1000;
  const limit = opts.memoryLimit ?? Infinity;
  const interrupt = opts.interrupt;
  const t0 = performance.now();
  let lastProgress = t0;
  let sliceStart = t0;
  let sliced = false;
  let stoppedBy: StopReason = 'exhausted';
  let note: string | undefined;
  const stop = (): boolean => {
    if (e.violations.size === e.total && e.total > 0) {
      stoppedBy = 'all-violated';
      return true;
    }
    if (interrupt !== undefined && Atomics.load(interrupt, 0) !== 0) {
      stoppedBy = 'interrupted';
      return true;
    }
    const now = performance.now();
    if (now - t0 > maxMs) {
      stoppedBy = 'max-seconds';
      return true;
    }
    if (opts.onProgress !== undefined && now - lastProgress >= progressMs) {
      lastProgress = now;
      opts.onProgress({ states: e.store.count, transitions: e.transitions, queue: e.level.length - e.next + e.upcoming.length, depth: e.depth, seconds: (now - t0) / 1000 });
    }
    if (slices && now - sliceStart >= SLICE_MS) {
      sliced = true;
      return true;
    }
    return false;
  };
  try {
    e.start();
    if (e.store.count >= e.maxStates) e.stopNow = true;
    for (;;) {
      if (e.stopNow) {
        stoppedBy = 'max-states';
        break;
      }
      if (!e.expandLevel(stop)) {
        if (sliced) {
          // Only a pause: the level goes on from the state it stopped before.
          sliced = false;
          yield;
          sliceStart = performance.now();
          continue;
        }
        if (e.stopNow && stoppedBy === 'exhausted') stoppedBy = 'max-states';
        break;
      }
      if (e.violations.size === e.total && e.total > 0 && e.upcoming.length > 0) {
        stoppedBy = 'all-violated';
        break;
      }
      const need = e.nextLevelBytes();
      if (need > limit) {
        // Stop between levels, before the tables grow past the limit, rather than fail inside one.
        stoppedBy = 'memory-limit';
        note = `the next level would take the search to about ${mib(need)} MiB (the frontier grew ×${e.frontierGrowth().toFixed(2)} over the last level), past the memory limit of ${mib(limit)} MiB`;
        break;
      }
      if (!e.advance()) break;
      e.store.reserve = e.queued();
    }
  } catch (err) {
    if (!(err instanceof StoreFull)) throw err;
    stoppedBy = err.reason === 'memory-limit' ? 'memory-limit' : 'store-full';
    note = err.message;
  }
  let depth = e.depth;
  if (e.upcoming.length > 0) depth++;
  const seconds = (performance.now() - t0) / 1000;
  return {
    complete: stoppedBy === 'exhausted',
    stoppedBy,
    states: e.store.count,
    transitions: e.transitions,
    depth,
    seconds,
    bytes: e.bytes(),
    violations: e.violations,
    store: e.store,
    fired: e.fired,
    reachedDepth: e.reachedDepth,
    reachedFrom: e.reachedFrom,
    reduce,
    ...(note !== undefined ? { note } : {}),
    ...(e.canonActive() ? { represented: e.represented } : {}),
  };
}

/** How long the asynchronous search runs before it lets the event loop in. */
const SLICE_MS = 100;

/** The search on this thread, start to end. */
export function explore(m: Model, opts: ExploreOptions): SearchResult {
  const g = search(m, opts, false);
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

/**
 * The same search, letting the event loop run every tenth of a second: a
 * SIGINT handler can then set `opts.interrupt`, and the search stops within
 * one slice with what it has.
 */
export async function exploreAsync(m: Model, opts: ExploreOptions): Promise<SearchResult> {
  const g = search(m, opts, true);
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
