/**
 * What a check is asked to do, resolved once before any search: the
 * configuration, the invariants, the reductions and the memory limit. The
 * one-engine, parallel and random checks all start here.
 */
import { totalmem } from 'node:os';
import { UsageError, type Config } from '../model/config.js';
import { buildModel, resolveConfig } from '../model/system.js';
import type { Design, Invariant, Model } from '../model/types.js';
import { invariantsFor, knownInvariants } from '../invariants/index.js';
import type { ExploreOptions, Progress, Reductions } from '../explorers/exhaustive/types.js';
import type { DesignRef } from '../explorers/source.js';
import { validateDesign } from './load/validate.js';

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

/** What any explorer checks: the configuration, the invariants that apply there, and the model. */
export function resolveRun(design: Design, config: Partial<Config> | undefined, ids: readonly string[] | undefined): { cfg: Config; invs: Invariant[]; m: Model } {
  const cfg = resolveConfig(design, config);
  const invs = selectInvariants(design, cfg, ids);
  return { cfg, invs, m: buildModel(design, cfg) };
}

/** A check resolved once: its configuration, invariants, model, reductions and the search's options. */
export interface Prepared {
  readonly cfg: Config;
  readonly invs: readonly Invariant[];
  readonly m: Model;
  readonly reduce: Reductions;
  readonly memoryLimit: number;
  /** The options of a search on one engine. */
  readonly explore: ExploreOptions;
}

/** Resolve what a check runs, on any explorer: every bad option is a usage error here, before a search starts. */
export function prepare(design: Design, opts: CheckOptions): Prepared {
  const { cfg, invs, m } = resolveRun(design, opts.config, opts.invariants);
  const reduce = resolveReductions(m, opts.reduce);
  const memoryLimit = opts.memoryLimit ?? defaultMemoryLimit();
  return {
    cfg,
    invs,
    m,
    reduce,
    memoryLimit,
    explore: {
      invariants: invs,
      reduce,
      memoryLimit,
      ...(opts.maxStates !== undefined ? { maxStates: opts.maxStates } : {}),
      ...(opts.maxSeconds !== undefined ? { maxSeconds: opts.maxSeconds } : {}),
      ...(opts.onProgress !== undefined ? { onProgress: opts.onProgress } : {}),
      ...(opts.interrupt !== undefined ? { interrupt: opts.interrupt } : {}),
    },
  };
}
