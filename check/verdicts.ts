/**
 * A search turned into verdicts: holds, violated (with the shortest
 * counterexample, its replay token and command) or unknown, and what every
 * exhaustive check adds to them (coverage, unreached, witnesses, fewer
 * preemptions).
 */
import { InternalError } from '../model/errors.js';
import { UsageError, type Config } from '../model/config.js';
import type { Invariant, Model, State } from '../model/types.js';
import { bindInvariant } from '../invariants/bind.js';
import type { Reductions, SearchResult, SearchTotals } from '../explorers/exhaustive/types.js';
import type { Partition } from '../explorers/parallel/partition.js';
import { concretize, counterexample, describePath, messageAt, pathTo, storeParents, type Trace } from '../explorers/trace.js';
import { minimizePreemptions, scheduleShape, type ScheduleShape } from '../explorers/shrink.js';
import { encodeToken, replayCommand, scheduleOf } from '../explorers/replay.js';
import { stateAfter, stepFrom } from '../explorers/step.js';
import { coverageOf, type Coverage } from './coverage.js';
import type { CheckOptions } from './options.js';

export type Verdict = 'holds' | 'violated' | 'unknown';

export interface InvariantResult {
  readonly invariant: string;
  readonly verdict: Verdict;
  /** A violation the design accepts (see Design.accepts), with its reason: reported, not a failure. */
  readonly accepted?: string;
  /** For a violation: what was wrong, and the shortest counterexample. */
  readonly message?: string;
  readonly depth?: number;
  readonly trace?: Trace;
  /** With `minimizePreemptions`: the counterexample's shape before and after. */
  readonly preemptions?: { readonly from: ScheduleShape; readonly to: ScheduleShape };
  /** The search never reached the invariant's precondition: a `holds` here proves nothing. */
  readonly unreached?: boolean;
  /** With `witness`: a shortest path to a state (or step) meeting the precondition. */
  readonly witness?: Trace;
  /** The counterexample as a replay token (`hintcheck replay <token>`). */
  readonly token?: string;
  /** The command that replays it (with --design-file for a design from a file). */
  readonly replay?: string;
}

export interface CheckReport extends SearchTotals {
  readonly design: string;
  readonly config: Config;
  readonly statesPerSecond: number;
  readonly bytesPerState: number;
  /** With symmetry: `represented` over `states`. */
  readonly symmetryFactor?: number;
  /** Search threads: 1 for one engine, more for a parallel search. */
  readonly workers: number;
  /** In a parallel search: the fields whose values decide a state's worker, and what the sample said of them (see explorers/partition.ts). */
  readonly partition?: Pick<Partition, 'fields' | 'changeRate' | 'balance'>;
  readonly results: readonly InvariantResult[];
  readonly coverage: Coverage;
}

/** The fields of a report every exhaustive search fills in alike, one engine or several. */
export function totalsOf(r: SearchTotals & { readonly bytes: number }, seconds = r.seconds): Pick<CheckReport, keyof SearchTotals | 'statesPerSecond' | 'bytesPerState' | 'symmetryFactor'> {
  return {
    complete: r.complete,
    stoppedBy: r.stoppedBy,
    states: r.states,
    transitions: r.transitions,
    depth: r.depth,
    seconds,
    statesPerSecond: seconds > 0 ? r.states / seconds : 0,
    bytesPerState: r.bytes / r.states,
    ...(r.note !== undefined ? { note: r.note } : {}),
    reduce: r.reduce,
    ...(r.represented !== undefined ? { represented: r.represented, symmetryFactor: r.represented / r.states } : {}),
  };
}

/** The canonical-form function a search used, if it reduced by symmetry. */
export function canonOf(m: Model, reduce: Reductions): ((s: State) => void) | undefined {
  return reduce.symmetry ? m.design.symmetry?.(m).canon : undefined;
}

export function verdicts(m: Model, invs: readonly Invariant[], r: SearchResult, traces = true): InvariantResult[] {
  return invs.map((inv) => {
    const v = r.violations.get(inv.id);
    if (v !== undefined) {
      const accepted = m.design.accepts?.[inv.id];
      const trace = traces ? counterexample(m, storeParents(m, r.store, canonOf(m, r.reduce)), v, v.words, canonOf(m, r.reduce)) : undefined;
      return {
        invariant: inv.id,
        verdict: 'violated',
        ...(accepted !== undefined ? { accepted } : {}),
        // Said of the trace it is printed with (under symmetry the search saw a canonical state).
        message: trace !== undefined ? messageAt(m, inv, trace.steps.map((st) => st.id)) : v.message,
        depth: v.depth,
        ...(trace !== undefined ? { trace } : {}),
      };
    }
    return { invariant: inv.id, verdict: r.complete ? 'holds' : 'unknown' };
  });
}

/**
 * What every exhaustive check adds to its verdicts: coverage, `unreached`
 * beside verdicts whose precondition never held, witnesses on request, and
 * counterexamples reordered to fewer preemptions on request.
 */
export function finish(
  m: Model,
  invs: readonly Invariant[],
  results: readonly InvariantResult[],
  fired: Float64Array,
  reachedDepth: Float64Array,
  opts: CheckOptions,
  witness: ((k: number) => Trace) | undefined,
): { results: InvariantResult[]; coverage: Coverage } {
  for (const w of opts.witness ?? []) {
    if (!invs.some((i) => i.id === w)) throw new UsageError(`--witness ${w}: not an invariant of this check: accepted ${invs.map((i) => i.id).join(', ')}`);
  }
  const coverage = coverageOf(m, invs, fired, (k) => (reachedDepth[k] >= 0 ? { depth: reachedDepth[k] } : undefined));
  const out = results.map((x, k) => {
    let r: InvariantResult = x;
    if (x.verdict !== 'violated' && !coverage.invariants[k].reached) r = { ...r, unreached: true };
    if (opts.witness?.includes(x.invariant) && reachedDepth[k] >= 0 && witness !== undefined) r = { ...r, witness: witness(k) };
    if (opts.minimizePreemptions && x.trace !== undefined) {
      const ids = x.trace.steps.map((st) => st.id);
      const min = minimizePreemptions(m, invs[k], ids).actions;
      const from = scheduleShape(m, ids);
      const to = scheduleShape(m, min);
      r = { ...r, preemptions: { from, to }, ...(to.preemptions < from.preemptions || to.switches < from.switches ? { trace: describePath(m, min), message: messageAt(m, invs[k], min) } : {}) };
    }
    if (r.trace !== undefined) {
      const token = encodeToken(scheduleOf(m, r.trace.steps.map((st) => st.id), { invariant: x.invariant, explorer: 'exhaustive' }));
      r = { ...r, token, replay: replayCommand(token, m.design.source) };
    }
    return r;
  });
  return { results: out, coverage };
}

/** A shortest path to where invariant k's precondition first held, and the step that met it. */
export function witnessTrace(m: Model, r: SearchResult, k: number, inv: Invariant): Trace {
  const from = r.reachedFrom[k];
  if (from === undefined) return describePath(m, []);
  const canon = canonOf(m, r.reduce);
  const words = new Uint32Array(r.store.words);
  r.store.decode(from.a, from.b, words);
  const path = pathTo(storeParents(m, r.store, canon), words, from.depth);
  const ids = canon === undefined ? path.actions : concretize(m, path.states, canon);
  const s = stateAfter(m, ids);
  const pre = bindInvariant(m, inv);
  for (const a of m.actions) {
    const n = stepFrom(m, s, a);
    if (n !== undefined && ((pre.reachedEdge !== undefined && pre.reachedEdge(s, n, a)) || (pre.reachedState !== undefined && pre.reachedState(n)))) return describePath(m, [...ids, a.id]);
  }
  throw new InternalError(`no step from the witness path meets the precondition of ${inv.id}`);
}
