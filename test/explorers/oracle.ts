/**
 * A reference explorer, deliberately naive, to check the real one against:
 * breadth-first over the model's steps, states keyed by their readable view
 * in a Map, no reductions, no event gating, no sampling, no packing, and
 * every invariant evaluated on every state and on every transition. It is
 * slow and uses memory freely; it is meant for a few thousand states.
 */
import type { Invariant, Checks } from '../../model/types.js';
import type { Action, Model, State } from '../../model/types.js';

export interface OracleResult {
  /** Distinct states (their readable views, events left out). */
  readonly states: number;
  readonly transitions: number;
  /** Per invariant: the length of its shortest counterexample, or null when it holds. */
  readonly verdicts: ReadonlyMap<string, number | null>;
}

/** What the design did wrong, as the naive explorer sees it; the real one must report a design error there too. */
export class OracleDesignError extends Error {}

/** One step from `s` on a fresh copy whose events are cleared, as the model defines a step. */
function step(m: Model, s: State, a: Action): State | undefined {
  if (a.guardAt >= 0 && s[a.guardAt] !== a.guardIs) return undefined;
  if (a.guard2At !== undefined && a.guard2At >= 0 && s[a.guard2At] !== a.guard2Is) return undefined;
  const take = (): { n: State; taken: unknown } => {
    const n = s.slice();
    n.fill(0, m.layout.transients);
    let taken: unknown;
    try {
      taken = a.apply(n);
    } catch (e) {
      throw new OracleDesignError(`${a.name} threw ${String(e)}`);
    }
    return { n, taken };
  };
  const { n, taken } = take();
  if (taken !== true && taken !== false) throw new OracleDesignError(`${a.name} returned ${String(taken)}`);
  // The same step from the same state must do the same thing: a model is a function of its state.
  const again = take();
  if (again.taken !== taken || again.n.some((x, i) => x !== n[i])) throw new OracleDesignError(`${a.name} is not deterministic`);
  if (!taken) {
    const cleared = s.slice();
    cleared.fill(0, m.layout.transients);
    if (n.some((x, i) => x !== cleared[i])) throw new OracleDesignError(`${a.name} was not enabled but changed the state`);
    return undefined;
  }
  const bad = m.layout.validate(n);
  if (bad !== null) throw new OracleDesignError(`${a.name} wrote outside a domain: ${bad}`);
  return n;
}

function stateMessage(c: Checks, s: State): string | null {
  return c.state?.(s) ?? null;
}

/** Explore `m` exhaustively and say, per invariant, how short its shortest counterexample is. */
export function naiveExplore(m: Model, invariants: readonly Invariant[], maxStates = 50_000): OracleResult {
  const checks = invariants.map((inv) => inv.bind(m));
  const found = new Map<string, number>();
  const note = (k: number, depth: number, msg: string | null): void => {
    if (msg !== null && !found.has(invariants[k].id)) found.set(invariants[k].id, depth);
  };
  const init = m.initial();
  const seen = new Map<string, State>([[JSON.stringify(m.layout.view(init)), init]]);
  checks.forEach((c, k) => note(k, 0, stateMessage(c, init)));
  let level: State[] = [init];
  let transitions = 0;
  for (let depth = 1; level.length > 0; depth++) {
    const next: State[] = [];
    for (const s of level) {
      for (const a of m.actions) {
        const n = step(m, s, a);
        if (n === undefined) continue;
        transitions++;
        checks.forEach((c, k) => {
          note(k, depth, stateMessage(c, n));
          if (c.edge !== undefined) note(k, depth, c.edge(s, n, a));
        });
        const key = JSON.stringify(m.layout.view(n));
        if (seen.has(key)) continue;
        seen.set(key, n);
        next.push(n);
        if (seen.size > maxStates) throw new Error(`the oracle's bound of ${maxStates} states is too small for ${m.design.id}`);
      }
    }
    level = next;
  }
  return { states: seen.size, transitions, verdicts: new Map(invariants.map((inv) => [inv.id, found.get(inv.id) ?? null])) };
}
