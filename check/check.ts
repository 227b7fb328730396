/**
 * One check: a design at one configuration, explored exhaustively against
 * the selected invariants, turned into verdicts. This is the library entry
 * point the CLI, the matrix and the tests share.
 */
import { InternalError } from '../model/errors.js';
import { totalmem } from 'node:os';
import { DesignError } from '../model/errors.js';
import { validateDesign } from './load/validate.js';
import { bindInvariant } from '../invariants/bind.js';
import { invariantsFor, knownInvariants } from '../invariants/index.js';
import type { Invariant } from '../model/types.js';
import { UsageError, type Config } from '../model/config.js';
import { buildModel, resolveConfig } from '../model/system.js';
import type { Design, Model, State } from '../model/types.js';
import { explore, exploreAsync } from '../explorers/exhaustive/driver.js';
import type { ExploreOptions, Progress, Reductions, SearchResult, StopReason } from '../explorers/exhaustive/types.js';
import { defaultWorkers, exploreParallel } from '../explorers/parallel/parallel.js';
import type { DesignRef } from '../explorers/source.js';
import { afterWorkers, designSource } from './load/design-ref.js';
import type { Partition } from '../explorers/parallel/partition.js';
import { concretize, counterexample, describePath, messageAt, pathTo, storeParents, type Trace } from '../explorers/trace.js';
import { minimizePreemptions, scheduleShape, type ScheduleShape } from '../explorers/shrink.js';
import { coverageOf, type Coverage } from './coverage.js';
import { encodeToken, replayCommand, scheduleOf } from '../explorers/replay.js';
import { stateAfter, stepFrom } from '../explorers/step.js';

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

export interface CheckReport {
  readonly design: string;
  readonly config: Config;
  readonly complete: boolean;
  readonly stoppedBy: StopReason;
  readonly states: number;
  readonly transitions: number;
  readonly depth: number;
  readonly seconds: number;
  readonly statesPerSecond: number;
  readonly bytesPerState: number;
  /** Why the search stopped where it did, when a limit stopped it. */
  readonly note?: string;
  /** The reductions the search applied. */
  readonly reduce: Reductions;
  /**
   * With symmetry: how many concrete states the stored canonical ones stand
   * for (each state's orbit size, summed), and that over `states`.
   */
  readonly represented?: number;
  readonly symmetryFactor?: number;
  /** Search threads: 1 for one engine, more for a parallel search. */
  readonly workers: number;
  /** In a parallel search: the fields whose values decide a state's worker, and what the sample said of them (see explorers/partition.ts). */
  readonly partition?: Pick<Partition, 'fields' | 'changeRate' | 'balance'>;
  readonly results: readonly InvariantResult[];
  readonly coverage: Coverage;
}

/**
 * Three quarters of the machine's memory: the search stops with `unknown`
 * before its tables would grow past it, leaving room for the rest of the
 * process and the system.
 */
export function defaultMemoryLimit(): number {
  return Math.floor(totalmem() * 0.75);
}

/** What `--reduce` accepts. */
export const REDUCE_MODES = ['none', 'symmetry', 'por', 'all'] as const;
export type ReduceMode = (typeof REDUCE_MODES)[number];

/** Whether the design declares any step local (independent of every other actor's). */
export function declaresLocalSteps(m: Model): boolean {
  return m.actions.some((a) => a.local !== undefined);
}

/**
 * The reductions a run applies: the ones the design proved sound for its
 * invariants, unless the caller names some. Asking for a reduction the
 * design has no ground for (no symmetry, no local steps) is a usage error;
 * `all` means every reduction the design supports.
 */
export function resolveReductions(m: Model, mode: ReduceMode | undefined): Reductions {
  const canSym = m.design.symmetry !== undefined;
  const canPor = declaresLocalSteps(m);
  const supported = ['none', ...(canSym ? ['symmetry'] : []), ...(canPor ? ['por'] : []), ...(canSym || canPor ? ['all'] : [])].join(', ');
  if (mode === undefined) {
    return { symmetry: canSym && (m.design.reductions?.symmetry ?? false), por: canPor && (m.design.reductions?.por ?? false) };
  }
  if (mode === 'symmetry' && !canSym) throw new UsageError(`--reduce symmetry: ${m.design.id} declares no symmetry: accepted ${supported}`);
  if (mode === 'por' && !canPor) throw new UsageError(`--reduce por: ${m.design.id} declares no independent steps: accepted ${supported}`);
  if (mode === 'all' && !canSym && !canPor) throw new UsageError(`--reduce all: ${m.design.id} declares no symmetry and no independent steps: accepted ${supported}`);
  return {
    symmetry: (mode === 'symmetry' || mode === 'all') && canSym,
    por: (mode === 'por' || mode === 'all') && canPor,
  };
}

export interface CheckOptions {
  readonly config?: Partial<Config>;
  /** Invariant ids; default: every invariant that applies to the configuration. */
  readonly invariants?: readonly string[];
  readonly maxStates?: number;
  readonly maxSeconds?: number;
  readonly onProgress?: (p: Progress) => void;
  /** Rebuild counterexample traces (default true). */
  readonly traces?: boolean;
  /** Reductions to apply; default: those the design proved sound (see resolveReductions). */
  readonly reduce?: ReduceMode;
  /** Stop with `unknown` rather than let the search's tables grow past this many bytes. */
  readonly memoryLimit?: number;
  /** Reorder each counterexample to the fewest preemptions its length allows. */
  readonly minimizePreemptions?: boolean;
  /** Invariants to give a precondition witness for. */
  readonly witness?: readonly string[];
  /** A word on a SharedArrayBuffer: once nonzero, the search stops with what it has (`interrupted`). */
  readonly interrupt?: Int32Array;
}

/** The invariants a check runs, after the design's own ids and configurations are checked (validate.ts). */
export function selectInvariants(design: Design, cfg: Config, ids: readonly string[] | undefined): Invariant[] {
  validateDesign(design);
  if (ids === undefined || ids.length === 0) return invariantsFor(design, cfg);
  const known = knownInvariants(design);
  return ids.map((id) => {
    const inv = known.find((i) => i.id === id);
    if (inv === undefined) throw new UsageError(`unknown invariant '${id}': accepted ${known.map((i) => i.id).join(', ')}`);
    if (!inv.applies(cfg)) throw new UsageError(`invariant '${id}' says nothing in this configuration: it ${inv.notApplicable ?? 'does not apply'}`);
    const skip = design.skip?.[id];
    if (skip !== undefined) throw new UsageError(`invariant '${id}' says nothing about ${design.id}: ${skip}`);
    return inv;
  });
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
 * Partial-order reduction keeps every reachable violation but not every
 * shortest path to it: a local step it explores alone may come first on
 * the reduced path where the full graph has a shorter one. So a violation
 * it finds is found again without it. That search is bounded: breadth-first
 * over the full graph, it stops once each of those invariants is violated,
 * no deeper than the reduced search found them.
 */
function shortest(m: Model, invs: readonly Invariant[], r: SearchResult): SearchResult {
  if (!r.reduce.por || r.violations.size === 0) return r;
  const again = explore(m, { invariants: invs.filter((i) => r.violations.has(i.id)), reduce: { symmetry: r.reduce.symmetry, por: false } });
  for (const id of r.violations.keys()) {
    // Every state the reduced search reaches is reachable, so this cannot happen unless the model is not a function of its state.
    if (!again.violations.has(id)) throw new DesignError(`${m.design.id}: the reduced search violates ${id} but the full search does not`);
  }
  // The traces are rebuilt from the store of the search that found them.
  return { ...r, violations: again.violations, store: again.store };
}

/** A check's model and search options, before the search. */
function prepare(design: Design, opts: CheckOptions): { cfg: Config; invs: Invariant[]; m: Model; explore: ExploreOptions } {
  const cfg = resolveConfig(design, opts.config);
  const invs = selectInvariants(design, cfg, opts.invariants);
  const m = buildModel(design, cfg);
  const reduce = resolveReductions(m, opts.reduce);
  return {
    cfg,
    invs,
    m,
    explore: {
      invariants: invs,
      reduce,
      memoryLimit: opts.memoryLimit ?? defaultMemoryLimit(),
      ...(opts.maxStates !== undefined ? { maxStates: opts.maxStates } : {}),
      ...(opts.maxSeconds !== undefined ? { maxSeconds: opts.maxSeconds } : {}),
      ...(opts.onProgress !== undefined ? { onProgress: opts.onProgress } : {}),
      ...(opts.interrupt !== undefined ? { interrupt: opts.interrupt } : {}),
    },
  };
}

/** One engine's search, turned into the report. */
function reportOf(design: Design, cfg: Config, m: Model, invs: readonly Invariant[], r: SearchResult, opts: CheckOptions): CheckReport {
  return {
    design: design.id,
    config: cfg,
    complete: r.complete,
    stoppedBy: r.stoppedBy,
    states: r.states,
    transitions: r.transitions,
    depth: r.depth,
    seconds: r.seconds,
    statesPerSecond: r.seconds > 0 ? r.states / r.seconds : 0,
    bytesPerState: r.bytes / r.states,
    ...(r.note !== undefined ? { note: r.note } : {}),
    reduce: r.reduce,
    ...(r.represented !== undefined ? { represented: r.represented, symmetryFactor: r.represented / r.states } : {}),
    workers: 1,
    ...finish(m, invs, verdicts(m, invs, shortest(m, invs, r), opts.traces ?? true), r.fired, r.reachedDepth, opts, (k) => witnessTrace(m, r, k, invs[k])),
  };
}

export function check(design: Design, opts: CheckOptions = {}): CheckReport {
  const p = prepare(design, opts);
  return reportOf(design, p.cfg, p.m, p.invs, explore(p.m, p.explore), opts);
}

/** check() on one engine, letting the event loop run while it searches, so that `opts.interrupt` can be set by a signal handler. */
export async function checkAsync(design: Design, opts: CheckOptions = {}): Promise<CheckReport> {
  const p = prepare(design, opts);
  return reportOf(design, p.cfg, p.m, p.invs, await exploreAsync(p.m, p.explore), opts);
}

/**
 * What every exhaustive check adds to its verdicts: coverage, `unreached`
 * beside verdicts whose precondition never held, witnesses on request, and
 * counterexamples reordered to fewer preemptions on request.
 */
function finish(
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
function witnessTrace(m: Model, r: SearchResult, k: number, inv: Invariant): Trace {
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

/** How long one engine tries before a parallel check starts its workers. */
const QUICK_SECONDS = 1;

export interface ParallelCheckOptions extends CheckOptions {
  /** Search threads; 1 runs one engine on this thread. Default: one per core. */
  readonly workers?: number;
  /**
   * Where the worker threads find the design: its built-in id, or the file
   * it was loaded from. Without it (a design built in memory), the check
   * runs on this thread.
   */
  readonly source?: DesignRef;
  /** Seconds one engine tries on this thread before the workers start (default 1; 0 starts them at once). */
  readonly firstTry?: number;
}

/**
 * check() on several cores. The verdicts and counts are those of check();
 * only the counterexamples come from a second, single-threaded search that
 * stops at the violations' depth, since the parallel search's states are
 * spread over its workers' stores.
 */
export async function checkParallel(design: Design, opts: ParallelCheckOptions = {}): Promise<CheckReport> {
  const workers = opts.workers ?? defaultWorkers();
  // A witness is rebuilt from one engine's store: witnesses keep the check on one thread.
  if (workers <= 1 || opts.source === undefined || (opts.witness?.length ?? 0) > 0) return checkAsync(design, opts);
  // Most checks finish in a fraction of a second, less than starting the workers takes:
  // one engine tries first, and the workers start afresh only if it has not finished.
  const first = opts.firstTry ?? QUICK_SECONDS;
  const quick = first > 0 ? await checkAsync(design, { ...opts, maxSeconds: Math.min(opts.maxSeconds ?? Infinity, first) }) : undefined;
  if (quick !== undefined && (quick.stoppedBy !== 'max-seconds' || (opts.maxSeconds !== undefined && opts.maxSeconds <= first))) return quick;
  const before = quick?.seconds ?? 0;
  const cfg = resolveConfig(design, opts.config);
  const invs = selectInvariants(design, cfg, opts.invariants);
  const m = buildModel(design, cfg);
  const reduce = resolveReductions(m, opts.reduce);
  const r = await exploreParallel({
    design: designSource(opts.source),
    afterWorkers: afterWorkers(opts.source),
    config: cfg,
    model: m,
    invariants: invs.map((i) => i.id),
    reduce,
    workers,
    memoryLimit: opts.memoryLimit ?? defaultMemoryLimit(),
    ...(opts.maxStates !== undefined ? { maxStates: opts.maxStates } : {}),
    ...(opts.maxSeconds !== undefined ? { maxSeconds: opts.maxSeconds - before } : {}),
    ...(opts.onProgress !== undefined ? { onProgress: opts.onProgress } : {}),
    ...(opts.interrupt !== undefined ? { interrupt: opts.interrupt } : {}),
  });
  let results: InvariantResult[];
  if (r.violations.size > 0 && (opts.traces ?? true)) {
    const violated = invs.filter((i) => r.violations.has(i.id));
    const again = explore(m, { invariants: violated, reduce: { symmetry: reduce.symmetry, por: false } });
    for (const [id, v] of r.violations) {
      const w = again.violations.get(id);
      if (w === undefined || (!reduce.por && w.depth !== v.depth)) {
        throw new Error(`${design.id}: the parallel search found ${id} violated at depth ${v.depth}, one engine at ${w?.depth ?? 'no depth'}`);
      }
    }
    const byOne = verdicts(m, violated, again, true);
    results = invs.map((inv) => byOne.find((x) => x.invariant === inv.id) ?? { invariant: inv.id, verdict: r.complete ? 'holds' : 'unknown' });
  } else {
    results = invs.map((inv) => {
      const v = r.violations.get(inv.id);
      if (v === undefined) return { invariant: inv.id, verdict: r.complete ? 'holds' : 'unknown' };
      const accepted = design.accepts?.[inv.id];
      return { invariant: inv.id, verdict: 'violated', ...(accepted !== undefined ? { accepted } : {}), message: v.message, depth: v.depth };
    });
  }
  return {
    design: design.id,
    config: cfg,
    complete: r.complete,
    stoppedBy: r.stoppedBy,
    states: r.states,
    transitions: r.transitions,
    depth: r.depth,
    // The time the user waited: the engine's first try included.
    seconds: before + r.seconds,
    statesPerSecond: r.states / (before + r.seconds),
    bytesPerState: r.bytes / r.states,
    ...(r.note !== undefined ? { note: r.note } : {}),
    reduce: r.reduce,
    ...(r.represented !== undefined ? { represented: r.represented, symmetryFactor: r.represented / r.states } : {}),
    workers: r.workers,
    partition: { fields: r.partition.fields, changeRate: r.partition.changeRate, balance: r.partition.balance },
    ...finish(m, invs, results, r.fired, r.reachedDepth, opts, undefined),
  };
}
