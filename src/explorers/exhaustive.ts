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
import { DesignError } from '../load.js';
import type { Action, State } from '../model/types.js';
import { PairQueue } from './queue.js';
import { StateStore, StoreFull } from './store.js';

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

/** A stored state: its two segment ids and the BFS depth it was first reached at. */
export interface StateRef {
  readonly a: number;
  readonly b: number;
  readonly depth: number;
}

/** Where a violation was seen: a state (the end of the trace) or a step out of a state. */
export interface Violation {
  readonly invariant: Invariant;
  readonly message: string;
  /** Length of the shortest counterexample. */
  readonly depth: number;
  /** The violating state, for state invariants. */
  readonly state?: StateRef;
  /** The state the violating step leaves, and the step, for edge invariants. */
  readonly from?: StateRef;
  readonly action?: number;
}

export type StopReason = 'exhausted' | 'max-states' | 'max-seconds' | 'all-violated' | 'store-full';

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
  /** Why the store stopped the search, when it did. */
  readonly note?: string;
}

interface Active {
  readonly inv: Invariant;
  readonly checks: Checks;
  /** The one storage segment the state check reads, or -1. */
  readonly segment: number;
  /** Segment ids already checked and found fine (1 per id). */
  seen: Uint8Array;
}

function onlySegment(m: Model, reads: readonly string[] | undefined): number {
  if (reads === undefined || reads.length === 0) return -1;
  const segs = new Set(reads.map((g) => m.layout.segmentOf(g)));
  return segs.size === 1 ? [...segs][0] : -1;
}

/**
 * Steps grouped by their pre-guard (an offset, typically an actor's phase,
 * and the value it must hold), in CSR form: for guard offset at[d] and value
 * v, the step ids are ids[start[d * 257 + v] .. start[d * 257 + v + 1]).
 * Unguarded steps sit under offset -1, value 0. A state then only tries the
 * steps its actors' phases allow.
 */
function dispatchTable(m: Model): { at: Int32Array; start: Int32Array; ids: Int32Array } {
  const offsets = [...new Set(m.actions.map((a) => a.guardAt))].sort((x, y) => x - y);
  const start = new Int32Array(offsets.length * 257 + 1);
  const ids: number[] = [];
  offsets.forEach((g, d) => {
    for (let v = 0; v < 256; v++) {
      start[d * 257 + v] = ids.length;
      for (const a of m.actions) if (a.guardAt === g && (g < 0 ? v === 0 : a.guardIs === v)) ids.push(a.id);
    }
    start[d * 257 + 256] = ids.length;
  });
  start[offsets.length * 257] = ids.length;
  return { at: Int32Array.from(offsets), start, ids: Int32Array.from(ids) };
}

function describeArgs(a: Action): string {
  const parts = Object.entries(a.args).map(([k, v]) => `${k}=${v}`);
  return parts.length ? `(${parts.join(', ')})` : '';
}

/** A design error naming the design (and its file), the step and the state it was taken from. */
export function designError(m: Model, a: Action, s: State, problem: string): DesignError {
  const where = m.design.source !== undefined ? `${m.design.id} (${m.design.source})` : m.design.id;
  return new DesignError(`design ${where}: step ${m.actors[a.actor]} ${a.name}${describeArgs(a)} ${problem}\n  in state ${JSON.stringify(m.layout.view(s))}`);
}

function sampleCheck(m: Model, cur: State): void {
  for (const a of m.actions) {
    const x = cur.slice();
    const y = cur.slice();
    let rx: unknown;
    let ry: unknown;
    try {
      rx = a.apply(x);
      ry = a.apply(y);
    } catch {
      continue; // the main loop reports the exception with its context
    }
    let same = rx === ry;
    for (let i = 0; same && i < x.length; i++) if (x[i] !== y[i]) same = false;
    if (!same) throw designError(m, a, cur, 'is not deterministic: taken twice from the same state it gave different results');
    if (rx === false) {
      for (let i = 0; i < x.length; i++) {
        if (x[i] !== cur[i]) throw designError(m, a, cur, 'returned false (not enabled) but changed the state: a guard must fail before the step writes anything');
      }
    }
  }
}

export function explore(m: Model, opts: ExploreOptions): SearchResult {
  const L = m.layout;
  const store = new StateStore(L.segments);
  const words = new Uint32Array(store.words);
  const nextWords = new Uint32Array(store.words);
  const pair = new Uint32Array(2);
  const cur = new Uint8Array(L.size);
  const next = new Uint8Array(L.size);
  const guard2At = Int32Array.from(m.actions, (a) => a.guard2At ?? -1);
  const guard2Is = Int32Array.from(m.actions, (a) => a.guard2Is ?? 0);
  const apply = m.actions.map((a) => a.apply);
  const { at: dispatchAt, start: dispatchStart, ids: dispatchIds } = dispatchTable(m);
  const D = dispatchAt.length;
  const events = L.transients;
  const maxStates = opts.maxStates ?? Infinity;
  const maxMs = (opts.maxSeconds ?? Infinity) * 1000;
  const progressMs = opts.progressMs ?? 1000;

  const violations = new Map<string, Violation>();
  const active: Active[] = opts.invariants.map((inv) => {
    const checks = inv.bind(m);
    return { inv, checks, segment: onlySegment(m, checks.reads), seen: new Uint8Array(1024) };
  });
  let stateChecks = active.filter((a) => a.checks.state !== undefined);
  let edgeChecks = active.filter((a) => a.checks.edge !== undefined);
  const total = active.length;

  const record = (inv: Invariant, v: Violation): void => {
    violations.set(inv.id, v);
    stateChecks = stateChecks.filter((a) => a.inv !== inv);
    edgeChecks = edgeChecks.filter((a) => a.inv !== inv);
  };

  const checkState = (s: Uint8Array, depth: number): void => {
    for (let i = 0; i < stateChecks.length; i++) {
      const c = stateChecks[i];
      // A check that reads one segment gives the same answer for every state sharing it.
      const seg = c.segment === 0 ? store.a : c.segment === 1 ? store.b : -1;
      if (seg >= 0 && seg < c.seen.length && c.seen[seg] === 1) continue;
      const msg = c.checks.state!(s);
      if (msg !== null) {
        record(c.inv, { invariant: c.inv, message: msg, depth, state: { a: store.a, b: store.b, depth } });
        i--;
      } else if (seg >= 0) {
        if (seg >= c.seen.length) {
          const grown = new Uint8Array(Math.max(seg + 1, c.seen.length * 2));
          grown.set(c.seen);
          c.seen = grown;
        }
        c.seen[seg] = 1;
      }
    }
  };

  const t0 = performance.now();
  let lastProgress = t0;
  const init = m.initial();
  L.pack(init, words, 0);
  store.insert(words, 0);
  checkState(init, 0);

  let level = new PairQueue();
  level.push(store.a, store.b);
  let upcoming = new PairQueue();
  let depth = 0;
  let transitions = 0;
  let stoppedBy: StopReason = 'exhausted';
  let note: string | undefined;
  let i = 0;
  let expanded = 0;
  let queueBytes = 0;

  try {
    search: for (;;) {
      if (i === level.length) {
        if (upcoming.length === 0) break;
        queueBytes = Math.max(queueBytes, level.bytes() + upcoming.bytes());
        level = upcoming;
        upcoming = new PairQueue();
        i = 0;
        depth++;
      }
      if (violations.size === total && total > 0) {
        stoppedBy = 'all-violated';
        break;
      }
      if ((expanded & 0x3ff) === 0) {
        const now = performance.now();
        if (now - t0 > maxMs) {
          stoppedBy = 'max-seconds';
          break;
        }
        if (opts.onProgress !== undefined && now - lastProgress >= progressMs) {
          lastProgress = now;
          opts.onProgress({ states: store.count, transitions, queue: level.length - i + upcoming.length, depth, seconds: (now - t0) / 1000 });
        }
        level.release(i);
      }
      level.read(i, pair);
      const pa = pair[0];
      const pb = pair[1];
      i++;
      expanded++;
      store.decode(pa, pb, words);
      L.unpack(words, 0, cur);
      // On a sample of states, check what the explorer otherwise trusts: every step is a function of the state, and a step that is not taken leaves its copy alone.
      if (expanded <= 256 || (expanded & 1023) === 0) sampleCheck(m, cur);
      // A step whose guard fails leaves its copy untouched, so the copy is
      // only refreshed after a step that was taken.
      next.set(cur);
      for (let d = 0; d < D; d++) {
        const g = dispatchAt[d];
        const row = d * 257 + (g >= 0 ? cur[g] : 0);
        for (let j = dispatchStart[row]; j < dispatchStart[row + 1]; j++) {
        const a = dispatchIds[j];
        const g2 = guard2At[a];
        if (g2 >= 0 && cur[g2] !== guard2Is[a]) continue;
        let taken: unknown;
        try {
          taken = apply[a](next);
        } catch (e) {
          throw designError(m, m.actions[a], cur, `threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
        }
        if (taken !== true) {
          if (taken !== false) throw designError(m, m.actions[a], cur, `returned ${String(taken)}; a step returns true (taken) or false (not enabled)`);
          continue;
        }
        transitions++;
        const bad = L.firstInvalid(next);
        if (bad >= 0) throw designError(m, m.actions[a], cur, `wrote ${next[bad]} outside its field's domain (${L.validate(next)})`);
        // Edge invariants read the step's events; most steps raise none.
        if (edgeChecks.length > 0) {
          let raised = false;
          for (let e = events; e < next.length; e++) if (next[e] !== 0) raised = true;
          if (raised) {
            for (let k = 0; k < edgeChecks.length; k++) {
              const c = edgeChecks[k];
              const msg = c.checks.edge!(cur, next, m.actions[a]);
              if (msg !== null) {
                record(c.inv, { invariant: c.inv, message: msg, depth: depth + 1, from: { a: pa, b: pb, depth }, action: a });
                k--;
              }
            }
          }
        }
        L.pack(next, nextWords, 0);
        if (store.insert(nextWords, depth + 1)) {
          upcoming.push(store.a, store.b);
          if (stateChecks.length > 0) checkState(next, depth + 1);
          if (store.count >= maxStates) {
            stoppedBy = 'max-states';
            break search;
          }
        }
        next.set(cur);
        }
      }
    }
  } catch (e) {
    if (!(e instanceof StoreFull)) throw e;
    stoppedBy = 'store-full';
    note = e.message;
  }
  if (upcoming.length > 0) depth++;
  const seconds = (performance.now() - t0) / 1000;
  return {
    complete: stoppedBy === 'exhausted',
    stoppedBy,
    states: store.count,
    transitions,
    depth,
    seconds,
    bytes: store.bytes() + Math.max(queueBytes, level.bytes() + upcoming.bytes()),
    violations,
    store,
    ...(note !== undefined ? { note } : {}),
  };
}
