/**
 * The breadth-first engine: one search's visited set, levels and counters,
 * expanding every interleaving of the model's actors. States are stored
 * whole (see store.ts), so a search that runs out of states proves its
 * invariants within the configuration's bounds; a search cut short by a
 * budget proves nothing about the invariants it did not see violated.
 * driver.ts runs one engine; the parallel search runs one per worker.
 *
 * Breadth-first order makes the first violation of each invariant a shortest
 * counterexample. The loop allocates nothing per state: two working vectors
 * and two word buffers are reused for every state and successor. Model
 * functions only ever get the private successor copy to change.
 */
import { bindInvariant, eventsBroken, raisedAny, readsBroken, type BoundInvariant } from '../../invariants/bind.js';
import type { Action, Invariant, Model, State } from '../../model/types.js';
import { ChunkPool, PairQueue } from '../queue.js';
import { designError, stepThrew } from '../step.js';
import { StateStore } from '../store.js';
import { sampleCheck } from './conduct.js';
import type { Reductions, Violation } from './types.js';

interface Active {
  readonly inv: Invariant;
  readonly checks: BoundInvariant;
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

interface EngineOptions {
  readonly invariants: readonly Invariant[];
  readonly reduce: Reductions;
  readonly memoryLimit?: number;
  /** In a parallel search: which states this engine owns, and where the others go. */
  readonly share?: Share;
}

/** One engine's share of a parallel search (see partition.ts). */
export interface Share {
  /** This engine's index among the workers. */
  readonly me: number;
  /** The owner of a state, by its packed words. */
  readonly owner: (w: Uint32Array) => number;
  /** Whether a step left the partition key alone (packed words before and after): then the successor's owner is its parent's. */
  readonly kept: (from: Uint32Array, to: Uint32Array) => boolean;
  /** Hand a packed successor to its owner. */
  readonly foreign: (w: Uint32Array, owner: number) => void;
}

/**
 * One breadth-first search's state: the visited set, the current and next
 * level, the counters and the violations found. explore() drives one engine
 * alone; a parallel search drives one per worker, each owning a hash
 * partition of the states and handing the others over at each level's end.
 */
export class Engine {
  readonly store: StateStore;
  readonly violations = new Map<string, Violation>();
  private readonly pool = new ChunkPool();
  level = new PairQueue(this.pool);
  upcoming = new PairQueue(this.pool);
  /** Index of the next state of `level` to expand. */
  next = 0;
  depth = 0;
  transitions = 0;
  expanded = 0;
  queueBytes = 0;
  represented = 0;
  readonly total: number;
  /** Coverage: per action id, the transitions that took it. */
  readonly fired: Float64Array;
  /**
   * Coverage: per invariant (in the order given), the BFS depth at which its
   * precondition first held, or -1; and where, to rebuild a witness: the
   * state one level up and whether the step from it, or the state the step
   * led to, met it (-1 for the initial state).
   */
  readonly reachedDepth: Float64Array;
  readonly reachedFrom: ({ readonly a: number; readonly b: number; readonly depth: number } | undefined)[];
  private pending: { readonly k: number; readonly state?: (s: State) => boolean; readonly edge?: (before: State, after: State, a: Action) => boolean }[];

  private readonly m: Model;
  private readonly words: Uint32Array;
  private readonly nextWords: Uint32Array;
  private readonly pair = new Uint32Array(2);
  private readonly cur: Uint8Array;
  private readonly succ: Uint8Array;
  private readonly guard2At: Int32Array;
  private readonly guard2Is: Int32Array;
  private readonly apply: ((s: State) => boolean)[];
  private readonly dispatchAt: Int32Array;
  private readonly dispatchStart: Int32Array;
  private readonly dispatchIds: Int32Array;
  private stateChecks: Active[];
  private edgeChecks: Active[];
  /** Whether some edge check declares no events, and so runs on every transition. */
  private edgeAlways = false;
  /** Whether the state being expanded (reduced search) is one of the sample. */
  private sampled = false;
  private readonly canon: ((s: State) => void) | undefined;
  private readonly orbit: ((s: State) => number) | undefined;
  private readonly por: boolean;
  private readonly local: (((s: State) => boolean) | undefined)[];
  private readonly actorOf: Int32Array;
  /** POR: the successors of one state, packed, with the step that made them. */
  private readonly succWords: Uint32Array;
  private readonly succStep: Int32Array;
  private readonly succState: Uint8Array;
  private readonly share: Share | undefined;
  private readonly absorbWords: Uint32Array;
  private readonly absorbState: Uint8Array;

  constructor(m: Model, opts: EngineOptions) {
    this.m = m;
    const L = m.layout;
    this.store = new StateStore(L.segments);
    if (opts.memoryLimit !== undefined) this.store.limit = opts.memoryLimit;
    this.words = new Uint32Array(this.store.words);
    this.nextWords = new Uint32Array(this.store.words);
    this.cur = new Uint8Array(L.size);
    this.succ = new Uint8Array(L.size);
    this.guard2At = Int32Array.from(m.actions, (a) => a.guard2At ?? -1);
    this.guard2Is = Int32Array.from(m.actions, (a) => a.guard2Is ?? 0);
    this.apply = m.actions.map((a) => a.apply);
    const t = dispatchTable(m);
    this.dispatchAt = t.at;
    this.dispatchStart = t.start;
    this.dispatchIds = t.ids;
    const active: Active[] = opts.invariants.map((inv) => {
      const checks = bindInvariant(m, inv);
      return { inv, checks, segment: onlySegment(m, checks.reads), seen: new Uint8Array(1024) };
    });
    this.stateChecks = active.filter((a) => a.checks.state !== undefined);
    this.edgeChecks = active.filter((a) => a.checks.edge !== undefined);
    this.edgeAlways = this.edgeChecks.some((c) => c.checks.events === null);
    this.total = active.length;
    this.fired = new Float64Array(m.actions.length);
    this.reachedDepth = new Float64Array(active.length).fill(-1);
    this.reachedFrom = active.map(() => undefined);
    this.pending = [];
    active.forEach((x, k) => {
      const c = x.checks;
      // Without a precondition every state is one the invariant speaks of, the initial one first.
      if (c.unconditional) this.reachedDepth[k] = 0;
      else this.pending.push({ k, ...(c.reachedState !== undefined ? { state: c.reachedState } : {}), ...(c.reachedEdge !== undefined ? { edge: c.reachedEdge } : {}) });
    });
    const sym = opts.reduce.symmetry ? m.design.symmetry?.(m) : undefined;
    this.canon = sym?.canon;
    this.orbit = sym?.orbit;
    this.por = opts.reduce.por;
    this.local = m.actions.map((a) => a.local);
    this.actorOf = Int32Array.from(m.actions, (a) => a.actor);
    const A = m.actions.length + 1;
    this.succWords = new Uint32Array(A * this.store.words);
    this.succStep = new Int32Array(A);
    this.succState = new Uint8Array(A * L.size);
    this.share = opts.share;
    this.absorbWords = new Uint32Array(this.store.words);
    this.absorbState = new Uint8Array(L.size);
  }

  private record(inv: Invariant, v: Violation): void {
    this.violations.set(inv.id, v);
    this.stateChecks = this.stateChecks.filter((a) => a.inv !== inv);
    this.edgeChecks = this.edgeChecks.filter((a) => a.inv !== inv);
    this.edgeAlways = this.edgeChecks.some((c) => c.checks.events === null);
  }

  private checkState(s: Uint8Array, depth: number): void {
    const store = this.store;
    for (let i = 0; i < this.stateChecks.length; i++) {
      const c = this.stateChecks[i];
      // A check that reads one segment gives the same answer for every state sharing it.
      const seg = c.segment === 0 ? store.a : c.segment === 1 ? store.b : -1;
      if (seg >= 0 && seg < c.seen.length && c.seen[seg] === 1) {
        // On a sample, check the promise that lets it be skipped: the verdict is the segment's.
        if ((store.count & 1023) === 0) {
          const again = c.checks.state!(s);
          if (again !== null) throw readsBroken(this.m, c.checks, again);
        }
        continue;
      }
      const msg = c.checks.state!(s);
      if (msg !== null) {
        const words = new Uint32Array(store.words);
        store.decode(store.a, store.b, words);
        this.record(c.inv, { invariant: c.inv, message: msg, depth, state: { a: store.a, b: store.b, depth }, words });
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
  }

  /** Store the initial state (if this engine owns it). */
  start(): void {
    const init = this.m.initial();
    this.pending = this.pending.filter((p) => {
      if (p.state === undefined || !p.state(init)) return true;
      this.reachedDepth[p.k] = 0;
      return false;
    });
    this.canon?.(init);
    this.m.layout.pack(init, this.words, 0);
    if (this.share !== undefined && this.share.owner(this.words) !== this.share.me) return;
    this.admit(init, this.words, 0);
  }

  /** A successor owned here: store it; a new one joins the next level and is checked. Whether it was new. */
  private admit(s: Uint8Array, w: Uint32Array, depth: number): boolean {
    const store = this.store;
    if (!store.insert(w, depth)) return false;
    (depth === this.depth ? this.level : this.upcoming).push(store.a, store.b);
    if (this.orbit !== undefined) this.represented += this.orbit(s);
    if (this.stateChecks.length > 0) this.checkState(s, depth);
    return true;
  }

  /** Successors handed over by other engines (packed, `count` of them), reached at the next depth. */
  absorb(buf: Uint32Array, count: number): void {
    const W = this.store.words;
    // Its own scratch: absorb runs between two states of an expansion.
    const w = this.absorbWords;
    const s = this.absorbState;
    const L = this.m.layout;
    const store = this.store;
    const upcoming = this.upcoming;
    const depth = this.depth + 1;
    const unpack = this.orbit !== undefined || this.stateChecks.length > 0;
    for (let k = 0; k < count; k++) {
      if (store.insertAt(buf, k * W, depth)) {
        upcoming.push(store.a, store.b);
        if (unpack) {
          for (let i = 0; i < W; i++) w[i] = buf[k * W + i];
          L.unpack(w, 0, s);
          if (this.orbit !== undefined) this.represented += this.orbit(s);
          if (this.stateChecks.length > 0) this.checkState(s, this.depth + 1);
        }
      }
    }
  }

  /**
   * Move to the next level; false when there is none. In a parallel search
   * every engine moves with the others (`always`), even one that owns none of
   * the next level's states: its depth is the depth of what it takes in.
   */
  advance(always = false): boolean {
    if (this.upcoming.length === 0 && !always) return false;
    this.queueBytes = Math.max(this.queueBytes, this.queued());
    this.level.drop();
    this.level = this.upcoming;
    this.upcoming = new PairQueue(this.pool);
    this.next = 0;
    this.depth++;
    return true;
  }

  /**
   * Expand the current level's states until it is done (true) or `stop`
   * says so (false); `stop` is asked every 1,024 states and after each new
   * state when `everyState` is set.
   */
  expandLevel(stop: () => boolean): boolean {
    if (this.por) {
      const level = this.level;
      while (this.next < level.length) {
        if ((this.expanded & 0x3ff) === 0) {
          if (stop()) return false;
          level.release(this.next);
        }
        level.read(this.next, this.pair);
        this.next++;
        this.expanded++;
        this.expandReduced(this.pair[0], this.pair[1]);
        if (this.stopNow) return false;
      }
      return true;
    }
    return this.expandLevelFull(stop);
  }

  /**
   * The hot loop without partial-order reduction: everything it touches is
   * held in locals, and the step's checks are inline, so that V8 keeps them
   * in registers; it allocates nothing.
   */
  private expandLevelFull(stop: () => boolean): boolean {
    const m = this.m;
    const L = m.layout;
    const store = this.store;
    const level = this.level;
    const pair = this.pair;
    const words = this.words;
    const nextWords = this.nextWords;
    const cur = this.cur;
    const next = this.succ;
    const apply = this.apply;
    const guard2At = this.guard2At;
    const guard2Is = this.guard2Is;
    const dispatchAt = this.dispatchAt;
    const dispatchStart = this.dispatchStart;
    const dispatchIds = this.dispatchIds;
    const D = dispatchAt.length;
    const events = L.transients;
    const size = next.length;
    const canon = this.canon;
    const share = this.share;
    const me = share?.me ?? 0;
    const depth = this.depth;
    while (this.next < level.length) {
      if ((this.expanded & 0x3ff) === 0) {
        if (stop()) return false;
        level.release(this.next);
      }
      level.read(this.next, pair);
      this.next++;
      this.expanded++;
      const pa = pair[0];
      const pb = pair[1];
      store.decode(pa, pb, words);
      L.unpack(words, 0, cur);
      // On a sample of states, check what the explorer otherwise trusts: every step is a function of the state, a step that is not taken leaves its copy alone, and an edge check runs on every step.
      const sampled = this.expanded <= 256 || (this.expanded & 1023) === 0;
      if (sampled) sampleCheck(m, cur);
      // A step whose guard fails leaves its copy untouched, so the copy is only refreshed after a step that was taken.
      next.set(cur);
      for (let d = 0; d < D; d++) {
        const g = dispatchAt[d];
        const row = d * 257 + (g >= 0 ? cur[g] : 0);
        const end = dispatchStart[row + 1];
        for (let j = dispatchStart[row]; j < end; j++) {
          const a = dispatchIds[j];
          const g2 = guard2At[a];
          if (g2 >= 0 && cur[g2] !== guard2Is[a]) continue;
          let taken: unknown;
          try {
            taken = apply[a](next);
          } catch (e) {
            throw stepThrew(m, m.actions[a], cur, e);
          }
          if (taken !== true) {
            if (taken !== false) throw designError(m, m.actions[a], cur, `returned ${String(taken)}; a step returns true (taken) or false (not enabled)`);
            continue;
          }
          this.transitions++;
          this.fired[a]++;
          if (this.pending.length > 0) this.notePreconditions(cur, next, a, pa, pb);
          const bad = L.firstInvalid(next);
          if (bad >= 0) throw designError(m, m.actions[a], cur, `wrote ${next[bad]} outside its field's domain (${L.validate(next)})`);
          // Edge checks that declare their events run only on steps that raise one; most steps raise none.
          if (this.edgeChecks.length > 0) {
            let raised = this.edgeAlways || sampled;
            for (let e = events; e < size && !raised; e++) if (next[e] !== 0) raised = true;
            if (raised) this.edgeCheck(cur, next, a, pa, pb, sampled);
          }
          if (canon !== undefined) canon(next);
          L.pack(next, nextWords, 0);
          let owner = me;
          if (share !== undefined && !share.kept(words, nextWords) && (owner = share.owner(nextWords)) !== me) {
            share.foreign(nextWords, owner);
          } else if (store.insert(nextWords, depth + 1)) {
            this.upcoming.push(store.a, store.b);
            if (this.orbit !== undefined) this.represented += this.orbit(next);
            if (this.stateChecks.length > 0) this.checkState(next, depth + 1);
            if (store.count >= this.maxStates) {
              this.stopNow = true;
              return false;
            }
          }
          next.set(cur);
        }
      }
    }
    return true;
  }

  /** Coverage: the preconditions the step from cur (ids pa, pb) to next meets for the first time. */
  private notePreconditions(cur: State, next: State, a: number, pa: number, pb: number): void {
    const act = this.m.actions[a];
    let hit = false;
    for (let i = 0; i < this.pending.length; i++) {
      const p = this.pending[i];
      if (!((p.edge !== undefined && p.edge(cur, next, act)) || (p.state !== undefined && p.state(next)))) continue;
      this.reachedDepth[p.k] = this.depth + 1;
      this.reachedFrom[p.k] = { a: pa, b: pb, depth: this.depth };
      hit = true;
    }
    // The list only shrinks, and only here: the hot loop allocates nothing while it stays the same.
    if (hit) this.pending = this.pending.filter((p) => this.reachedDepth[p.k] < 0);
  }

  /**
   * Run the edge invariants on a step: each that declares events only if the
   * step raised one (on a sampled state, every one, to check that promise);
   * record() drops a violated one from the list.
   */
  private edgeCheck(cur: State, next: State, a: number, pa: number, pb: number, sampled: boolean): void {
    for (let k = 0; k < this.edgeChecks.length; k++) {
      const c = this.edgeChecks[k];
      const ev = c.checks.events;
      if (ev !== null && !raisedAny(ev, next)) {
        if (sampled) {
          const msg = c.checks.edge!(cur, next, this.m.actions[a]);
          if (msg !== null) throw eventsBroken(this.m, c.checks, msg);
        }
        continue;
      }
      const msg = c.checks.edge!(cur, next, this.m.actions[a]);
      if (msg !== null) {
        const words = new Uint32Array(this.store.words);
        this.store.decode(pa, pb, words);
        this.record(c.inv, { invariant: c.inv, message: msg, depth: this.depth + 1, from: { a: pa, b: pb, depth: this.depth }, action: a, words });
        k--;
      }
    }
  }

  /** Set by expansion when a budget that must act at once (max states) is reached. */
  stopNow = false;
  maxStates = Infinity;

  /** Take step `a` on a copy of cur in succ; whether it was taken. Checks the step's conduct and its events. */
  private step(a: number, pa: number, pb: number): boolean {
    const m = this.m;
    const cur = this.cur;
    const next = this.succ;
    let taken: unknown;
    try {
      taken = this.apply[a](next);
    } catch (e) {
      throw stepThrew(m, m.actions[a], cur, e);
    }
    if (taken !== true) {
      if (taken !== false) throw designError(m, m.actions[a], cur, `returned ${String(taken)}; a step returns true (taken) or false (not enabled)`);
      return false;
    }
    this.transitions++;
    this.fired[a]++;
    if (this.pending.length > 0) this.notePreconditions(cur, next, a, pa, pb);
    const L = m.layout;
    const bad = L.firstInvalid(next);
    if (bad >= 0) throw designError(m, m.actions[a], cur, `wrote ${next[bad]} outside its field's domain (${L.validate(next)})`);
    // Edge checks that declare their events run only on steps that raise one; most steps raise none.
    if (this.edgeChecks.length > 0) {
      let raised = this.edgeAlways || this.sampled;
      for (let e = L.transients; e < next.length && !raised; e++) if (next[e] !== 0) raised = true;
      if (raised) this.edgeCheck(cur, next, a, pa, pb, this.sampled);
    }
    this.canon?.(next);
    return true;
  }

  private load(pa: number, pb: number): void {
    this.store.decode(pa, pb, this.words);
    this.m.layout.unpack(this.words, 0, this.cur);
    // On a sample of states, check what the explorer otherwise trusts: every step is a function of the state, a step that is not taken leaves its copy alone, and an edge check runs on every step.
    this.sampled = this.expanded <= 256 || (this.expanded & 1023) === 0;
    if (this.sampled) sampleCheck(this.m, this.cur);
  }

  /**
   * Hand a packed successor of the state being expanded to its owner:
   * stored here, or queued for another engine. Whether it was new here
   * (false for one sent away: its owner decides).
   */
  private route(s: Uint8Array, w: Uint32Array): boolean {
    const share = this.share;
    if (share !== undefined && !share.kept(this.words, w)) {
      const owner = share.owner(w);
      if (owner !== share.me) {
        share.foreign(w, owner);
        return false;
      }
    }
    const fresh = this.admit(s, w, this.depth + 1);
    if (fresh && this.store.count >= this.maxStates) this.stopNow = true;
    return fresh;
  }

  /**
   * Ample sets: compute every successor, then, if some actor's enabled
   * steps are all local here, store only that actor's successors, unless one
   * of them was already visited (the cycle proviso for breadth-first
   * search), in which case store them all.
   */
  private expandReduced(pa: number, pb: number): void {
    this.load(pa, pb);
    const cur = this.cur;
    const next = this.succ;
    const L = this.m.layout;
    const W = this.store.words;
    const S = L.size;
    const D = this.dispatchAt.length;
    let n = 0;
    next.set(cur);
    for (let d = 0; d < D; d++) {
      const g = this.dispatchAt[d];
      const row = d * 257 + (g >= 0 ? cur[g] : 0);
      for (let j = this.dispatchStart[row]; j < this.dispatchStart[row + 1]; j++) {
        const a = this.dispatchIds[j];
        const g2 = this.guard2At[a];
        if (g2 >= 0 && cur[g2] !== this.guard2Is[a]) continue;
        if (!this.step(a, pa, pb)) continue;
        L.pack(next, this.succWords, n * W);
        this.succState.set(next, n * S);
        this.succStep[n] = a;
        n++;
        next.set(cur);
      }
    }
    // The first actor whose every enabled step is local in this state.
    let ample = -1;
    for (let k = 0; k < n && ample < 0; k++) {
      const actor = this.actorOf[this.succStep[k]];
      let all = true;
      for (let q = 0; q < n && all; q++) {
        const b = this.succStep[q];
        if (this.actorOf[b] !== actor) continue;
        const local = this.local[b];
        if (local === undefined || !local(cur)) all = false;
      }
      if (all) ample = actor;
    }
    const w = this.nextWords;
    let allFresh = ample >= 0;
    if (ample >= 0) {
      for (let k = 0; k < n; k++) {
        if (this.actorOf[this.succStep[k]] !== ample) continue;
        for (let i = 0; i < W; i++) w[i] = this.succWords[k * W + i];
        next.set(this.succState.subarray(k * S, k * S + S));
        if (!this.route(next, w)) allFresh = false;
        if (this.stopNow) return;
      }
    }
    if (allFresh) return;
    for (let k = 0; k < n; k++) {
      if (ample >= 0 && this.actorOf[this.succStep[k]] === ample) continue;
      for (let i = 0; i < W; i++) w[i] = this.succWords[k * W + i];
      next.set(this.succState.subarray(k * S, k * S + S));
      this.route(next, w);
      if (this.stopNow) return;
    }
  }

  /** Bytes of both levels' queues, with the chunks they hold for reuse. */
  queued(): number {
    return this.level.bytes() + this.upcoming.bytes() + this.pool.bytes();
  }

  bytes(): number {
    return this.store.bytes() + Math.max(this.queueBytes, this.queued());
  }

  /** How many times larger the level about to be expanded is than the one just expanded. */
  frontierGrowth(): number {
    return this.level.length > 0 ? this.upcoming.length / this.level.length : 1;
  }

  /**
   * Bytes the search would hold after expanding the next level, if the
   * frontier grows by the same factor again: the visited set grows by
   * its present bytes per state for each new state, the queues hold both
   * levels. An estimate, made between levels so a search that would not
   * fit stops before it allocates.
   */
  nextLevelBytes(): number {
    const count = this.store.count;
    if (count === 0) return this.bytes();
    const g = this.frontierGrowth();
    const fresh = this.upcoming.length * Math.max(g, 1);
    const perState = this.store.bytes() / count;
    return this.store.bytes() + fresh * perState + (this.upcoming.length + fresh) * 8;
  }

  /** Whether symmetry reduction is on (so `represented` means something). */
  canonActive(): boolean {
    return this.orbit !== undefined;
  }
}
