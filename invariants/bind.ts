/**
 * An invariant bound to one model, as every explorer runs it. Binding
 * checks what the invariant declares (its events, the groups it reads)
 * against the model's layout, and wraps its functions so that what they
 * throw, or a value that is neither null nor a sentence, is reported as
 * the mistake of whoever wrote the invariant: the design's error for a
 * design's own invariant, hintcheck's for a shared one.
 */
import { DesignError, designError, firstLine, inDesign, InternalError, type DesignWhere } from '../model/errors.js';
import type { Action, Model, State } from '../model/types.js';
import type { Checks, Invariant } from '../model/types.js';

const CHECK_FIELDS = ['state', 'edge', 'events', 'reads', 'reached'];

export interface BoundInvariant {
  readonly inv: Invariant;
  readonly state?: (s: State) => string | null;
  readonly edge?: (before: State, after: State, a: Action) => string | null;
  /**
   * The byte offsets of the events `edge` declares it reads (every element
   * of each field): it is run only on steps that raise one of them. Null
   * when it declares none: it runs on every transition.
   */
  readonly events: Int32Array | null;
  readonly reads?: readonly string[];
  readonly reachedState?: (s: State) => boolean;
  readonly reachedEdge?: (before: State, after: State, a: Action) => boolean;
  /** No precondition declared: every state is one the invariant has something to say about. */
  readonly unconditional: boolean;
}

/** Whether the design declares the invariant (else it is one of the shared catalogue). */
export function isDesignOwned(m: Model, inv: Invariant): boolean {
  return (m.design.invariants ?? []).includes(inv);
}

function whereOf(m: Model, inv: Invariant): DesignWhere {
  return { design: m.design.id, ...(m.design.source !== undefined ? { file: m.design.source } : {}), invariant: inv.id };
}

/** Whether any of these bytes of `s` is nonzero: whether the step into `s` raised one of the events. */
export function raisedAny(events: Int32Array, s: State): boolean {
  for (let i = 0; i < events.length; i++) if (s[events[i]] !== 0) return true;
  return false;
}

export function bindInvariant(m: Model, inv: Invariant): BoundInvariant {
  const owned = isDesignOwned(m, inv);
  const where = whereOf(m, inv);
  /** The invariant's author made a mistake: the design's error, or ours. */
  const fault = (problem: string): Error => (owned ? designError(where, `invariant ${inv.id}: ${problem}`) : new InternalError(`invariant ${inv.id} on design ${m.design.id}: ${problem}`));
  const rethrow = (e: unknown, what: string): Error => {
    // A design's function that failed inside the check (its idle(), say) has said so already.
    if (e instanceof DesignError) return inDesign(e, owned ? where : { design: where.design!, ...(where.file !== undefined ? { file: where.file } : {}) });
    return fault(`${what} threw ${e instanceof Error ? `${e.name}: ${firstLine(e)}` : String(e)}`);
  };
  let checks: Checks;
  try {
    checks = inv.bind(m);
  } catch (e) {
    throw rethrow(e, 'bind(m)');
  }
  if (typeof checks !== 'object' || checks === null) throw fault('bind(m) did not return its checks ({ state?, edge?, events?, reads?, reached? })');
  for (const k of Object.keys(checks)) if (!CHECK_FIELDS.includes(k)) throw fault(`bind(m) returned an unknown field '${k}': accepted ${CHECK_FIELDS.join(', ')}`);
  const { state, edge, reached } = checks;
  if (state !== undefined && typeof state !== 'function') throw fault('its state check is not a function of the state');
  if (edge !== undefined && typeof edge !== 'function') throw fault('its edge check is not a function of (before, after, action)');
  if (state === undefined && edge === undefined) throw fault('bind(m) returned neither a state nor an edge check: it would check nothing');

  let events: Int32Array | null = null;
  if (checks.events !== undefined) {
    if (edge === undefined) throw fault('declares events but has no edge check to read them');
    if (!Array.isArray(checks.events) || checks.events.length === 0) throw fault('events is not a list of event names (leave it out to run the edge check on every step)');
    const offsets: number[] = [];
    const known = m.layout.eventNames();
    for (const name of checks.events as readonly unknown[]) {
      const full = typeof name === 'string' ? (name.includes('.') ? name : `events.${name}`) : '';
      const span = m.layout.eventSpan(full);
      if (span === undefined) throw fault(`declares the event ${JSON.stringify(name)}, which the model does not have: accepted ${known.join(', ')}`);
      for (let i = 0; i < span.length; i++) offsets.push(span.offset + i);
    }
    events = Int32Array.from(offsets);
  }
  if (checks.reads !== undefined) {
    if (state === undefined) throw fault('declares reads but has no state check');
    if (!Array.isArray(checks.reads)) throw fault('reads is not a list of group names');
    const groups = m.layout.groups.map((g) => g.name);
    for (const g of checks.reads as readonly unknown[]) {
      if (typeof g !== 'string' || !groups.includes(g)) throw fault(`reads names the group ${JSON.stringify(g)}, which the state does not have: accepted ${groups.join(', ')}`);
    }
  }
  if (reached !== undefined) {
    if (typeof reached !== 'object' || reached === null) throw fault('reached is not { state?, edge? }');
    for (const k of Object.keys(reached)) if (k !== 'state' && k !== 'edge') throw fault(`reached has an unknown field '${k}': accepted state, edge`);
    if (reached.state !== undefined && typeof reached.state !== 'function') throw fault('reached.state is not a function of the state');
    if (reached.edge !== undefined && typeof reached.edge !== 'function') throw fault('reached.edge is not a function of (before, after, action)');
  }

  const verdict = (r: unknown, what: string): string | null => {
    if (r === null || (typeof r === 'string' && r !== '')) return r as string | null;
    throw fault(`${what} returned ${r === '' ? 'an empty string' : String(r)}; a check returns null when it holds, or a sentence saying what is wrong`);
  };
  const yes = (r: unknown, what: string): boolean => {
    if (typeof r === 'boolean') return r;
    throw fault(`${what} returned ${String(r)}; a precondition returns true or false`);
  };
  const rs = reached?.state;
  const re = reached?.edge;
  return {
    inv,
    ...(state !== undefined
      ? {
          state: (s: State) => {
            let r: unknown;
            try {
              r = state(s);
            } catch (e) {
              throw rethrow(e, 'its state check');
            }
            return r === null ? null : verdict(r, 'its state check');
          },
        }
      : {}),
    ...(edge !== undefined
      ? {
          edge: (before: State, after: State, a: Action) => {
            let r: unknown;
            try {
              r = edge(before, after, a);
            } catch (e) {
              throw rethrow(e, 'its edge check');
            }
            return r === null ? null : verdict(r, 'its edge check');
          },
        }
      : {}),
    events,
    ...(checks.reads !== undefined ? { reads: checks.reads } : {}),
    ...(rs !== undefined
      ? {
          reachedState: (s: State) => {
            let r: unknown;
            try {
              r = rs(s);
            } catch (e) {
              throw rethrow(e, 'reached.state');
            }
            return yes(r, 'reached.state');
          },
        }
      : {}),
    ...(re !== undefined
      ? {
          reachedEdge: (before: State, after: State, a: Action) => {
            let r: unknown;
            try {
              r = re(before, after, a);
            } catch (e) {
              throw rethrow(e, 'reached.edge');
            }
            return yes(r, 'reached.edge');
          },
        }
      : {}),
    unconditional: rs === undefined && re === undefined,
  };
}

/**
 * The invariant declares events, yet its edge check failed on a step that
 * raised none of them: the explorers, which skip such steps, would have
 * missed it. Found on the sample of states where every check runs on every
 * step.
 */
export function eventsBroken(m: Model, b: BoundInvariant, message: string): Error {
  const names = m.layout.eventNames().filter((n) => {
    const span = m.layout.eventSpan(n)!;
    for (let i = 0; i < span.length; i++) if (b.events!.includes(span.offset + i)) return true;
    return false;
  });
  const problem = `its edge check declares that it reads only the events ${names.join(', ')}, yet it failed on a step that raised none of them ("${message}"): declare every event it depends on, or leave events out to run it on every step`;
  return isDesignOwned(m, b.inv) ? designError(whereOf(m, b.inv), `invariant ${b.inv.id}: ${problem}`) : new InternalError(`invariant ${b.inv.id} on design ${m.design.id}: ${problem}`);
}

/** As eventsBroken, for a state check whose `reads` left out a group it reads. */
export function readsBroken(m: Model, b: BoundInvariant, message: string): Error {
  const problem = `its state check declares that it reads only ${b.reads!.join(', ')}, yet two states alike in those groups got different verdicts ("${message}"): declare every group it reads, or leave reads out`;
  return isDesignOwned(m, b.inv) ? designError(whereOf(m, b.inv), `invariant ${b.inv.id}: ${problem}`) : new InternalError(`invariant ${b.inv.id} on design ${m.design.id}: ${problem}`);
}
