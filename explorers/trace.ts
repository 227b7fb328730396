/**
 * Counterexamples. The search keeps no parent links, so the path to a state
 * at depth d is rebuilt backwards: the first state of level d-1 (in id
 * order) with a step leading to it is exactly the parent a parent link would
 * have recorded, since that is the state whose expansion first stored it.
 * Then the path is replayed forwards to describe every step.
 */
import { InternalError } from '../model/errors.js';
import type { Change, StateView } from '../model/layout.js';
import { bindInvariant } from '../invariants/bind.js';
import type { Invariant } from '../model/types.js';
import type { Model, State } from '../model/types.js';
import { describeChanges } from '../model/describe.js';
import type { Violation } from './exhaustive/types.js';
import { stateAfter, stepFrom, verdictOf } from './step.js';
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
 * Where a search's states live, for rebuilding a path: a parent one level up
 * of a (canonical, packed) state, and the step from it. One store answers
 * directly; a parallel search asks its workers.
 */
export interface ParentSource {
  readonly words: number;
  parentOf(want: Uint32Array, depth: number): { readonly words: Uint32Array; readonly action: number } | undefined;
}

/** The parents of one store's states: the first state one level up, in table order, with a step to the wanted one. */
export function storeParents(m: Model, store: StateStore, canon?: (s: State) => void): ParentSource {
  const L = m.layout;
  const w = new Uint32Array(store.words);
  const nw = new Uint32Array(store.words);
  const cur = new Uint8Array(L.size);
  const next = new Uint8Array(L.size);
  return {
    words: store.words,
    parentOf: (want, depth) => {
      let found: { words: Uint32Array; action: number } | undefined;
      const up = depth - 1;
      store.forEach((a, b, d) => {
        if (found !== undefined || d !== up) return;
        store.decode(a, b, w);
        L.unpack(w, 0, cur);
        for (const act of m.actions) {
          next.set(cur);
          if (!act.apply(next)) continue;
          canon?.(next);
          L.pack(next, nw, 0);
          let same = true;
          for (let i = 0; i < store.words; i++) if (nw[i] !== want[i]) same = false;
          if (same) {
            found = { words: w.slice(), action: act.id };
            return;
          }
        }
      });
      return found;
    },
  };
}

/**
 * The states (packed, canonical) from the initial one to `target` at
 * `depth`, and the steps between them: for each level, a parent one level
 * up. Every state at depth d has one at depth d - 1, so the path is a
 * shortest one.
 */
export function pathTo(src: ParentSource, target: Uint32Array, depth: number): { states: Uint32Array[]; actions: number[] } {
  const states: Uint32Array[] = [target.slice()];
  const actions: number[] = [];
  let t: Uint32Array = target.slice();
  for (let d = depth; d > 0; d--) {
    const p = src.parentOf(t, d);
    if (p === undefined) throw new InternalError(`no parent found for a state at depth ${d}`);
    actions.push(p.action);
    states.push(p.words);
    t = p.words;
  }
  return { states: states.reverse(), actions: actions.reverse() };
}

/**
 * Concrete steps for a path of canonical states: from the concrete initial
 * state, at each level the first step whose successor has the next state's
 * canonical form. Symmetric states have symmetric steps, so one exists.
 */
export function concretize(m: Model, states: readonly Uint32Array[], canon: (s: State) => void): number[] {
  const L = m.layout;
  const W = L.words;
  const nw = new Uint32Array(W);
  let s: State = m.initial();
  const out: number[] = [];
  for (let i = 1; i < states.length; i++) {
    let chosen = -1;
    for (const a of m.actions) {
      const next = stepFrom(m, s, a);
      if (next === undefined) continue;
      const c = next.slice();
      canon(c);
      L.pack(c, nw, 0);
      let same = true;
      for (let k = 0; k < W; k++) if (nw[k] !== states[i][k]) same = false;
      if (same) {
        chosen = a.id;
        s = next;
        break;
      }
    }
    if (chosen < 0) throw new InternalError(`no concrete step to canonical state ${i}`);
    out.push(chosen);
  }
  return out;
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
    const next = stepFrom(m, s, a);
    if (next === undefined) throw new InternalError(`step ${i + 1} (${a.name}) is not enabled on replay`);
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

/**
 * The shortest counterexample for a violation a search found: the path to
 * the violating state, or to the state the violating step leaves and then
 * that step (with symmetry, the concrete step that raises the same
 * violation).
 */
export function counterexample(m: Model, src: ParentSource, v: Violation, at: Uint32Array, canon?: (s: State) => void): Trace {
  const path = pathTo(src, at, v.state !== undefined ? v.depth : v.depth - 1);
  const ids = canon === undefined ? path.actions : concretize(m, path.states, canon);
  if (v.state !== undefined) return describePath(m, ids);
  if (canon === undefined) return describePath(m, [...ids, v.action!]);
  // The violating step from the concrete state the path reaches.
  const b = bindInvariant(m, v.invariant);
  const s = stateAfter(m, ids);
  for (const a of m.actions) {
    const n = stepFrom(m, s, a);
    if (n !== undefined && verdictOf(m, b, s, n, a) !== null) return describePath(m, [...ids, a.id]);
  }
  throw new InternalError(`no concrete step raises ${v.invariant.id} again`);
}

/**
 * What the invariant says at the end of a concrete trace: the message a
 * report prints beside it. Under symmetry the search found the violation
 * in a canonical state, whose vCPUs may be numbered otherwise than the
 * trace's; the message is taken again from the trace's own last step, so
 * that every actor it names is one that acts there.
 */
export function messageAt(m: Model, inv: Invariant, ids: readonly number[]): string {
  const b = bindInvariant(m, inv);
  const before = ids.length > 0 ? stateAfter(m, ids.slice(0, -1)) : undefined;
  const a = ids.length > 0 ? m.actions[ids[ids.length - 1]] : undefined;
  const after = a !== undefined ? stepFrom(m, before!, a)! : m.initial();
  const msg = verdictOf(m, b, before, after, a);
  if (msg === null) throw new InternalError(`the counterexample rebuilt for ${inv.id} on ${m.design.id} does not violate it`);
  return msg;
}
