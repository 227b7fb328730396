/**
 * Coverage: how often each actor's actions fired, and whether each
 * invariant's precondition was ever reached. A `holds` (or a random run's
 * `unknown`) over a search that never saw a hint in flight says nothing
 * about hints in flight; the report says so beside the verdict.
 */
import type { Invariant } from '../model/types.js';
import type { Model } from '../model/types.js';

export interface ActionCoverage {
  readonly actor: string;
  readonly action: string;
  readonly count: number;
}

export interface InvariantCoverage {
  readonly invariant: string;
  readonly precondition?: string;
  /** Whether the precondition held in some state (or step) the run saw. */
  readonly reached: boolean;
  /** Where first: the walk, and the step within it (random runs); the BFS depth (exhaustive search). */
  readonly run?: number;
  readonly step?: number;
  readonly depth?: number;
}

export interface Coverage {
  /** Per actor and action (arguments summed), in the model's order. */
  readonly actions: readonly ActionCoverage[];
  /** `actor action` of those that never fired. */
  readonly neverFired: readonly string[];
  readonly invariants: readonly InvariantCoverage[];
}

/** How often each actor's actions fired, and the preconditions reached. */
export function coverageOf(m: Model, invs: readonly Invariant[], fired: Float64Array, reached: (k: number) => { run?: number; step?: number; depth?: number } | undefined): Coverage {
  const byKey = new Map<string, { actor: string; action: string; count: number }>();
  for (const a of m.actions) {
    const actor = m.actors[a.actor];
    const key = `${actor} ${a.name}`;
    const e = byKey.get(key) ?? { actor, action: a.name, count: 0 };
    e.count += fired[a.id];
    byKey.set(key, e);
  }
  const actions = [...byKey.values()];
  return {
    actions,
    neverFired: actions.filter((e) => e.count === 0).map((e) => `${e.actor} ${e.action}`),
    invariants: invs.map((inv, k) => {
      const r = reached(k);
      return { invariant: inv.id, ...(inv.precondition !== undefined ? { precondition: inv.precondition } : {}), reached: r !== undefined, ...(r ?? {}) };
    }),
  };
}

