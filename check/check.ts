/**
 * One check: a design at one configuration, explored exhaustively against
 * the selected invariants, turned into verdicts, on one engine or on
 * several cores. This is the library entry point the CLI, the matrix and
 * the tests share; the options are resolved in options.ts, the verdicts
 * made in verdicts.ts.
 */
import { DesignError } from '../model/errors.js';
import type { Design, Invariant, Model } from '../model/types.js';
import { explore, exploreAsync } from '../explorers/exhaustive/driver.js';
import type { SearchResult } from '../explorers/exhaustive/types.js';
import { defaultWorkers, exploreParallel } from '../explorers/parallel/parallel.js';
import { afterWorkers, designSource } from './load/design-ref.js';
import { prepare, type CheckOptions, type ParallelCheckOptions, type Prepared } from './options.js';
import { finish, totalsOf, verdicts, witnessTrace, type CheckReport, type InvariantResult } from './verdicts.js';

export { defaultMemoryLimit, REDUCE_MODES, resolveReductions, selectInvariants, type CheckOptions, type ParallelCheckOptions, type ReduceMode } from './options.js';
export { verdicts, type CheckReport, type InvariantResult, type Verdict } from './verdicts.js';

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

/** One engine's search, turned into the report. */
function reportOf(design: Design, p: Prepared, r: SearchResult, opts: CheckOptions): CheckReport {
  const { cfg, m, invs } = p;
  return {
    design: design.id,
    config: cfg,
    ...totalsOf(r),
    workers: 1,
    ...finish(m, invs, verdicts(m, invs, shortest(m, invs, r), opts.traces ?? true), r.fired, r.reachedDepth, opts, (k) => witnessTrace(m, r, k, invs[k])),
  };
}

export function check(design: Design, opts: CheckOptions = {}): CheckReport {
  const p = prepare(design, opts);
  return reportOf(design, p, explore(p.m, p.explore), opts);
}

/** check() on one engine, letting the event loop run while it searches, so that `opts.interrupt` can be set by a signal handler. */
export async function checkAsync(design: Design, opts: CheckOptions = {}): Promise<CheckReport> {
  const p = prepare(design, opts);
  return reportOf(design, p, await exploreAsync(p.m, p.explore), opts);
}

/** How long one engine tries before a parallel check starts its workers. */
const QUICK_SECONDS = 1;

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
  const { cfg, invs, m, reduce, explore: one } = prepare(design, opts);
  const { invariants: _invariants, reduce: _reduce, ...limits } = one;
  const r = await exploreParallel({
    design: designSource(opts.source),
    afterWorkers: afterWorkers(opts.source),
    config: cfg,
    model: m,
    invariants: invs.map((i) => i.id),
    reduce,
    workers,
    ...limits,
    // The engine's first try spent part of the budget.
    ...(limits.maxSeconds !== undefined ? { maxSeconds: limits.maxSeconds - before } : {}),
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
    // The time the user waited: the engine's first try included.
    ...totalsOf(r, before + r.seconds),
    workers: r.workers,
    partition: { fields: r.partition.fields, changeRate: r.partition.changeRate, balance: r.partition.balance },
    ...finish(m, invs, results, r.fired, r.reachedDepth, opts, undefined),
  };
}
