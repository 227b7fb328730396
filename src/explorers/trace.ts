/**
 * Counterexamples. The search keeps no parent links, so the path to a state
 * at depth d is rebuilt backwards: the first state of level d-1 (in id
 * order) with a step leading to it is exactly the parent a parent link would
 * have recorded, since that is the state whose expansion first stored it.
 * Then the path is replayed forwards to describe every step.
 */
import type { Change, StateView } from '../model/layout.js';
import type { Model, State } from '../model/types.js';
import { describeChanges } from '../report/format.js';
import type { SearchResult, Violation } from './exhaustive.js';

export interface TraceStep {
  /** 1-based step number. */
  readonly step: number;
  readonly actor: string;
  readonly action: string;
  readonly kernel: string;
  readonly args: Readonly<Record<string, number | string>>;
  /** Action id in the model's action table (what a replay needs). */
  readonly id: number;
  readonly changes: readonly Change[];
  /** The changes as a kernel engineer reads them: `pages 0-3: free-head(2) -> allocated`. */
  readonly summary: readonly string[];
}

export interface Trace {
  readonly steps: readonly TraceStep[];
  /** The readable state the trace starts from and the one it ends in. */
  readonly initial: StateView;
  readonly final: StateView;
}

function levelOf(levels: readonly number[], id: number): number {
  let lo = 0;
  let hi = levels.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (levels[mid] <= id) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Action ids leading from the initial state to state `target`. */
export function pathTo(m: Model, r: SearchResult, target: number): number[] {
  const L = m.layout;
  const store = r.store;
  const want = new Uint32Array(store.words);
  const w = new Uint32Array(store.words);
  const nw = new Uint32Array(store.words);
  const cur = new Uint8Array(L.size);
  const next = new Uint8Array(L.size);
  const path: number[] = [];
  let t = target;
  for (let d = levelOf(r.levels, t); d > 0; d--) {
    store.get(t, want);
    const lo = r.levels[d - 1];
    const hi = r.levels[d];
    let found = -1;
    for (let id = lo; id < hi && found < 0; id++) {
      store.get(id, w);
      L.unpack(w, 0, cur);
      for (const a of m.actions) {
        next.set(cur);
        if (!a.apply(next)) continue;
        L.pack(next, nw, 0);
        let same = true;
        for (let i = 0; i < store.words; i++) if (nw[i] !== want[i]) same = false;
        if (same) {
          path.push(a.id);
          found = id;
          break;
        }
      }
    }
    if (found < 0) throw new Error(`[hintcheck internal bug] no parent found for state ${t} at depth ${d}`);
    t = found;
  }
  return path.reverse();
}

/** Replay action ids from the initial state, describing each step. */
export function describePath(m: Model, ids: readonly number[]): Trace {
  const L = m.layout;
  let s: State = m.initial();
  const initial = L.view(s);
  let before = initial;
  const steps: TraceStep[] = [];
  ids.forEach((id, i) => {
    const a = m.actions[id];
    const next = s.slice();
    if (!a.apply(next)) throw new Error(`[hintcheck internal bug] step ${i + 1} (${a.name}) is not enabled on replay`);
    const after = L.view(next);
    const changes = L.diff(s, next);
    steps.push({
      step: i + 1,
      actor: m.actors[a.actor],
      action: a.name,
      kernel: a.kernel,
      args: a.args,
      id,
      changes,
      summary: describeChanges(changes, before, after),
    });
    s = next;
    before = after;
  });
  return { steps, initial, final: before };
}

/** The shortest counterexample for a violation found by the search. */
export function counterexample(m: Model, r: SearchResult, v: Violation): Trace {
  if (v.state !== undefined) return describePath(m, pathTo(m, r, v.state));
  return describePath(m, [...pathTo(m, r, v.from!), v.action!]);
}
