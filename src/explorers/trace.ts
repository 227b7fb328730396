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
import type { StateRef, Violation } from './exhaustive.js';
import type { StateStore } from './store.js';

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
  /** The step's events (transient fields it set), e.g. `hintBy: 'reporter'`. */
  readonly events: Readonly<Record<string, string | number | boolean>>;
}

export interface Trace {
  readonly steps: readonly TraceStep[];
  /** The readable state the trace starts from and the one it ends in. */
  readonly initial: StateView;
  readonly final: StateView;
}

/**
 * Action ids leading from the initial state to `target`: for each level,
 * the first state one level up (in table order) with a step to the current
 * one. Every state at depth d has such a parent at depth d - 1, so the path
 * is a shortest one.
 */
export function pathTo(m: Model, store: StateStore, target: StateRef): number[] {
  const L = m.layout;
  const want = new Uint32Array(store.words);
  const w = new Uint32Array(store.words);
  const nw = new Uint32Array(store.words);
  const cur = new Uint8Array(L.size);
  const next = new Uint8Array(L.size);
  const path: number[] = [];
  let t = target;
  while (t.depth > 0) {
    store.decode(t.a, t.b, want);
    let found: StateRef | undefined;
    const up = t.depth - 1;
    store.forEach((a, b, depth) => {
      if (found !== undefined || depth !== up) return;
      store.decode(a, b, w);
      L.unpack(w, 0, cur);
      for (const act of m.actions) {
        next.set(cur);
        if (!act.apply(next)) continue;
        L.pack(next, nw, 0);
        let same = true;
        for (let i = 0; i < store.words; i++) if (nw[i] !== want[i]) same = false;
        if (same) {
          path.push(act.id);
          found = { a, b, depth };
          return;
        }
      }
    });
    if (found === undefined) throw new Error(`[hintcheck internal bug] no parent found for a state at depth ${t.depth}`);
    t = found;
  }
  return path.reverse();
}

function stepEvents(all: Record<string, string | number | boolean> | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(all ?? {})) if (v !== 0 && v !== 'none' && v !== false) out[k] = v;
  return out;
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
      events: stepEvents(L.view(next, true).events as Record<string, string | number | boolean>),
    });
    s = next;
    before = after;
  });
  return { steps, initial, final: before };
}

/** The shortest counterexample for a violation found by the search. */
export function counterexample(m: Model, store: StateStore, v: Violation): Trace {
  if (v.state !== undefined) return describePath(m, pathTo(m, store, v.state));
  return describePath(m, [...pathTo(m, store, v.from!), v.action!]);
}
