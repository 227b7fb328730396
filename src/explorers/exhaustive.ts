/**
 * Breadth-first exhaustive search over every interleaving of the model's
 * actors. States are stored whole (see store.ts), so a search that runs out
 * of states proves its invariants within the configuration's bounds; a
 * search cut short by a budget proves nothing about the invariants it did
 * not see violated.
 *
 * Breadth-first order makes the first violation of each invariant a shortest
 * counterexample. The loop allocates nothing per state: two working vectors
 * and two word buffers are reused for every state and successor. Model
 * functions only ever get the private successor copy to change.
 */
import type { Checks, Invariant } from '../invariants/types.js';
import type { Model } from '../model/types.js';
import { StateStore } from './store.js';

export interface ExploreOptions {
  readonly invariants: readonly Invariant[];
  /** Stop (incomplete) once this many distinct states are stored. */
  readonly maxStates?: number;
  /** Stop (incomplete) after this many seconds. */
  readonly maxSeconds?: number;
  /** Called at most once per `progressMs` with the search's counters. */
  readonly onProgress?: (p: Progress) => void;
  readonly progressMs?: number;
}

export interface Progress {
  readonly states: number;
  readonly transitions: number;
  readonly queue: number;
  readonly depth: number;
  readonly seconds: number;
}

/** Where a violation was seen: a state (the end of the trace) or a step out of a state. */
export interface Violation {
  readonly invariant: Invariant;
  readonly message: string;
  /** Length of the shortest counterexample. */
  readonly depth: number;
  /** The violating state, for state invariants. */
  readonly state?: number;
  /** The state the violating step leaves, and the step, for edge invariants. */
  readonly from?: number;
  readonly action?: number;
}

export type StopReason = 'exhausted' | 'max-states' | 'max-seconds' | 'all-violated';

export interface SearchResult {
  readonly complete: boolean;
  readonly stoppedBy: StopReason;
  readonly states: number;
  /** Successors computed, duplicates included (SPIN's and Rumur's "transitions"/"rules fired"). */
  readonly transitions: number;
  /** Deepest BFS level reached. */
  readonly depth: number;
  readonly seconds: number;
  readonly bytes: number;
  readonly violations: ReadonlyMap<string, Violation>;
  readonly store: StateStore;
  /** First state id of each BFS level. */
  readonly levels: readonly number[];
}

interface Active {
  readonly inv: Invariant;
  readonly checks: Checks;
}

export function explore(m: Model, opts: ExploreOptions): SearchResult {
  const L = m.layout;
  const store = new StateStore(L.segments);
  const words = new Uint32Array(store.words);
  const nextWords = new Uint32Array(store.words);
  const cur = new Uint8Array(L.size);
  const next = new Uint8Array(L.size);
  const A = m.actions.length;
  const guardAt = Int32Array.from(m.actions, (a) => a.guardAt);
  const guardIs = Int32Array.from(m.actions, (a) => a.guardIs);
  const guard2At = Int32Array.from(m.actions, (a) => a.guard2At ?? -1);
  const guard2Is = Int32Array.from(m.actions, (a) => a.guard2Is ?? 0);
  const apply = m.actions.map((a) => a.apply);
  const maxStates = opts.maxStates ?? Infinity;
  const maxMs = (opts.maxSeconds ?? Infinity) * 1000;
  const progressMs = opts.progressMs ?? 1000;

  const violations = new Map<string, Violation>();
  const active: Active[] = opts.invariants.map((inv) => ({ inv, checks: inv.bind(m) }));
  let stateChecks = active.filter((a) => a.checks.state !== undefined);
  let edgeChecks = active.filter((a) => a.checks.edge !== undefined);
  const total = active.length;

  const record = (inv: Invariant, v: Violation): void => {
    violations.set(inv.id, v);
    stateChecks = stateChecks.filter((a) => a.inv !== inv);
    edgeChecks = edgeChecks.filter((a) => a.inv !== inv);
  };

  const checkState = (s: Uint8Array, id: number, depth: number): void => {
    for (let i = 0; i < stateChecks.length; i++) {
      const a = stateChecks[i];
      const msg = a.checks.state!(s);
      if (msg !== null) {
        record(a.inv, { invariant: a.inv, message: msg, depth, state: id });
        i--;
      }
    }
  };

  const t0 = performance.now();
  let lastProgress = t0;
  const init = m.initial();
  L.pack(init, words, 0);
  store.insert(words);
  checkState(init, 0, 0);

  const levels: number[] = [0];
  let levelEnd = store.count;
  let depth = 0;
  let transitions = 0;
  let stoppedBy: StopReason = 'exhausted';
  let id = 0;

  search: while (id < store.count) {
    if (violations.size === total && total > 0) {
      stoppedBy = 'all-violated';
      break;
    }
    if (id === levelEnd) {
      depth++;
      levels.push(id);
      levelEnd = store.count;
    }
    if ((id & 0x3ff) === 0) {
      const now = performance.now();
      if (now - t0 > maxMs) {
        stoppedBy = 'max-seconds';
        break;
      }
      if (opts.onProgress !== undefined && now - lastProgress >= progressMs) {
        lastProgress = now;
        opts.onProgress({ states: store.count, transitions, queue: store.count - id, depth, seconds: (now - t0) / 1000 });
      }
    }
    store.get(id, words);
    L.unpack(words, 0, cur);
    // A step whose guard fails leaves its copy untouched, so the copy is
    // only refreshed after a step that was taken.
    next.set(cur);
    for (let a = 0; a < A; a++) {
      const g = guardAt[a];
      if (g >= 0 && cur[g] !== guardIs[a]) continue;
      const g2 = guard2At[a];
      if (g2 >= 0 && cur[g2] !== guard2Is[a]) continue;
      if (!apply[a](next)) continue;
      transitions++;
      for (let i = 0; i < edgeChecks.length; i++) {
        const e = edgeChecks[i];
        const msg = e.checks.edge!(cur, next, m.actions[a]);
        if (msg !== null) {
          record(e.inv, { invariant: e.inv, message: msg, depth: depth + 1, from: id, action: a });
          i--;
        }
      }
      L.pack(next, nextWords, 0);
      const sid = store.insert(nextWords);
      if (store.fresh) {
        if (stateChecks.length > 0) checkState(next, sid, depth + 1);
        if (store.count >= maxStates) {
          id++;
          stoppedBy = 'max-states';
          break search;
        }
      }
      next.set(cur);
    }
    id++;
  }
  // States found beyond the level being expanded form one more (partial) level.
  if (store.count > levelEnd && levels[levels.length - 1] !== levelEnd) levels.push(levelEnd);
  depth = levels.length - 1;
  const seconds = (performance.now() - t0) / 1000;
  return {
    complete: stoppedBy === 'exhausted',
    stoppedBy,
    states: store.count,
    transitions,
    depth,
    seconds,
    bytes: store.bytes(),
    violations,
    store,
    levels,
  };
}
