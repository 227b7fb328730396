/**
 * One check: a design at one configuration, explored exhaustively against
 * the selected invariants, turned into verdicts. This is the library entry
 * point the CLI, the matrix and the tests share.
 */
import { invariantsFor, knownInvariants } from './invariants/index.js';
import type { Invariant } from './invariants/types.js';
import { UsageError, type Config } from './model/config.js';
import { buildModel, resolveConfig } from './model/system.js';
import type { Design, Model, State } from './model/types.js';
import { explore, type Progress, type Reductions, type SearchResult, type StopReason } from './explorers/exhaustive.js';
import { counterexample, storeParents, type Trace } from './explorers/trace.js';

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
  readonly results: readonly InvariantResult[];
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
}

export function selectInvariants(design: Design, cfg: Config, ids: readonly string[] | undefined): Invariant[] {
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
      return {
        invariant: inv.id,
        verdict: 'violated',
        ...(accepted !== undefined ? { accepted } : {}),
        message: v.message,
        depth: v.depth,
        ...(traces ? { trace: counterexample(m, storeParents(m, r.store, canonOf(m, r.reduce)), v, v.words, canonOf(m, r.reduce)) } : {}),
      };
    }
    return { invariant: inv.id, verdict: r.complete ? 'holds' : 'unknown' };
  });
}

export function check(design: Design, opts: CheckOptions = {}): CheckReport {
  const cfg = resolveConfig(design, opts.config);
  const invs = selectInvariants(design, cfg, opts.invariants);
  const m = buildModel(design, cfg);
  const r = explore(m, {
    invariants: invs,
    ...(opts.maxStates !== undefined ? { maxStates: opts.maxStates } : {}),
    ...(opts.maxSeconds !== undefined ? { maxSeconds: opts.maxSeconds } : {}),
    ...(opts.onProgress !== undefined ? { onProgress: opts.onProgress } : {}),
  });
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
    results: verdicts(m, invs, r, opts.traces ?? true),
  };
}
