/**
 * A check by random, PCT or swarm exploration (explorers/random.ts): the
 * same model and invariants as check(), verdicts `violated` (with a shrunk,
 * replayable counterexample) or `unknown` (random walks prove nothing), and
 * coverage: how often each action fired, and whether each invariant's
 * precondition was ever reached.
 */
import type { Invariant } from '../model/types.js';
import { coverageOf, type Coverage } from './coverage.js';
import { resolveRun } from './options.js';
import { UsageError, type Config } from '../model/config.js';
import type { Design, Model } from '../model/types.js';
import type { DesignRef } from '../explorers/source.js';
import { afterWorkers, designSource } from './load/design-ref.js';
import { Planner, type RandomKind, type RunPlan } from '../explorers/random/plan.js';
import { defaultRandomWorkers, runRandom, type RunResult } from '../explorers/random/random.js';
import { encodeToken, replayCommand, scheduleOf } from '../explorers/replay.js';
import { shrinkSchedule, type ScheduleShape } from '../explorers/shrink.js';
import { describePath, messageAt, type Trace } from '../explorers/trace.js';
import { Walker } from '../explorers/random/walk.js';

export interface RandomResult {
  readonly invariant: string;
  readonly verdict: 'violated' | 'unknown';
  readonly accepted?: string;
  readonly message?: string;
  /** The walk that found it, and (swarm) its member. */
  readonly run?: number;
  readonly member?: number;
  /** Steps of the (shrunk) counterexample. */
  readonly depth?: number;
  readonly trace?: Trace;
  readonly token?: string;
  /** The command that replays it (with --design-file for a design from a file). */
  readonly replay?: string;
  readonly shrink?: { readonly from: ScheduleShape; readonly to: ScheduleShape; readonly replays: number };
  /** A verdict beside which the invariant's precondition was never reached. */
  readonly unreached?: boolean;
  /** With --witness: a walk prefix that reaches the precondition. */
  readonly witness?: Trace;
}

export interface RandomReport {
  readonly design: string;
  readonly config: Config;
  readonly explorer: RandomKind;
  readonly seed: number;
  readonly depth: number;
  readonly pctDepth?: number;
  readonly members?: number;
  readonly shard?: { readonly index: number; readonly count: number };
  /** Walks the run was asked for (for a swarm: over all shards). */
  readonly plannedRuns: number;
  /** Walks taken. */
  readonly runs: number;
  readonly steps: number;
  readonly seconds: number;
  readonly workers: number;
  readonly stoppedBy: RunResult['stoppedBy'];
  readonly results: readonly RandomResult[];
  readonly coverage: Coverage;
}

export interface RandomCheckOptions {
  readonly explorer: RandomKind;
  readonly config?: Partial<Config>;
  readonly invariants?: readonly string[];
  readonly runs?: number;
  readonly depth?: number;
  readonly seed?: number;
  readonly pctDepth?: number;
  readonly members?: number;
  readonly shard?: { readonly index: number; readonly count: number };
  readonly workers?: number;
  readonly source?: DesignRef;
  readonly maxSeconds?: number;
  /** Shrink counterexamples (default true). */
  readonly shrink?: boolean;
  /** Invariants to give a precondition witness for. */
  readonly witness?: readonly string[];
  readonly onRound?: (walks: number, steps: number, seconds: number) => void;
  /** Once this word is nonzero the run stops after the round in progress, and its counterexamples are shown as found. */
  readonly interrupt?: Int32Array;
}

export const RANDOM_DEFAULTS = { runs: 1000, depth: 200, seed: 1, pctDepth: 3, members: 16 } as const;

/** A bad option of a random run: one line, exit code 2. */
function usage(cond: boolean, message: string): void {
  if (!cond) throw new UsageError(message);
}

export async function checkRandom(design: Design, opts: RandomCheckOptions): Promise<RandomReport> {
  const { cfg, invs, m } = resolveRun(design, opts.config, opts.invariants);
  const plan: RunPlan = {
    explorer: opts.explorer,
    seed: (opts.seed ?? RANDOM_DEFAULTS.seed) >>> 0,
    runs: opts.runs ?? RANDOM_DEFAULTS.runs,
    depth: opts.depth ?? RANDOM_DEFAULTS.depth,
    pctDepth: opts.pctDepth ?? RANDOM_DEFAULTS.pctDepth,
    members: opts.members ?? RANDOM_DEFAULTS.members,
    ...(opts.shard !== undefined ? { shard: opts.shard } : {}),
  };
  usage(plan.runs >= 1, `--runs ${plan.runs}: accepted a whole number >= 1`);
  usage(plan.depth >= 1, `--depth ${plan.depth}: accepted a whole number >= 1`);
  usage(plan.pctDepth >= 1, `--pct-depth ${plan.pctDepth}: accepted a whole number >= 1`);
  usage(plan.members >= 1, `--members ${plan.members}: accepted a whole number >= 1`);
  if (opts.shard !== undefined) {
    usage(opts.explorer === 'swarm', `--shard applies to --explorer swarm only`);
    usage(opts.shard.count >= 1 && opts.shard.index >= 0 && opts.shard.index < opts.shard.count, `--shard ${opts.shard.index}/${opts.shard.count}: accepted k/N with 0 <= k < N`);
  }
  for (const w of opts.witness ?? []) {
    usage(invs.some((i) => i.id === w), `--witness ${w}: not an invariant of this check: accepted ${invs.map((i) => i.id).join(', ')}`);
  }
  const r = await runRandom({
    model: m,
    invariants: invs,
    plan,
    workers: opts.workers ?? defaultRandomWorkers(),
    ...(opts.source !== undefined ? { source: designSource(opts.source), afterWorkers: afterWorkers(opts.source) } : {}),
    ...(opts.maxSeconds !== undefined ? { maxSeconds: opts.maxSeconds } : {}),
    ...(opts.onRound !== undefined ? { onRound: opts.onRound } : {}),
    ...(opts.interrupt !== undefined ? { interrupt: opts.interrupt } : {}),
  });
  const planner = new Planner(m, plan);
  const coverage = coverageOf(m, invs, r.fired, (k) => (r.reachedWalk[k] >= 0 ? { run: r.reachedWalk[k], step: r.reachedStep[k] } : undefined));
  const results: RandomResult[] = invs.map((inv, k) => {
    const unreached = coverage.invariants[k].reached ? {} : { unreached: true as const };
    const witness = opts.witness?.includes(inv.id) && r.reachedWalk[k] >= 0 ? { witness: witnessOf(m, invs, planner, r.reachedWalk[k], r.reachedStep[k]) } : {};
    const v = r.first.get(inv.id);
    if (v === undefined) return { invariant: inv.id, verdict: 'unknown', ...unreached, ...witness };
    let ids = v.actions;
    let shrink: RandomResult['shrink'];
    // An interrupted run reports at once: its counterexamples as found, not shrunk.
    if ((opts.shrink ?? true) && r.stoppedBy !== 'interrupted') {
      const s = shrinkSchedule(m, inv, ids);
      ids = s.actions;
      shrink = { from: s.before, to: s.after, replays: s.replays };
    }
    const accepted = design.accepts?.[inv.id];
    const token = encodeToken(scheduleOf(m, ids, { invariant: inv.id, explorer: plan.explorer, seed: plan.seed, run: v.walk }));
    return {
      invariant: inv.id,
      verdict: 'violated',
      ...(accepted !== undefined ? { accepted } : {}),
      // Said of the trace it is printed with: shrinking may have moved the violation to another actor.
      message: messageAt(m, inv, ids),
      run: v.walk,
      ...(plan.explorer === 'swarm' ? { member: planner.memberOf(v.walk) } : {}),
      depth: ids.length,
      trace: describePath(m, ids),
      token,
      replay: replayCommand(token, m.design.source),
      ...(shrink !== undefined ? { shrink } : {}),
      ...witness,
    };
  });
  return {
    design: design.id,
    config: cfg,
    explorer: plan.explorer,
    seed: plan.seed,
    depth: plan.depth,
    ...(plan.explorer === 'pct' ? { pctDepth: plan.pctDepth } : {}),
    ...(plan.explorer === 'swarm' ? { members: plan.members } : {}),
    ...(plan.shard !== undefined ? { shard: plan.shard } : {}),
    plannedRuns: plan.runs,
    runs: r.runs,
    steps: r.steps,
    seconds: r.seconds,
    workers: r.workers,
    stoppedBy: r.stoppedBy,
    results,
    coverage,
  };
}

/** The steps of walk `walk` up to `step`, where an invariant's precondition first held. */
function witnessOf(m: Model, invs: readonly Invariant[], planner: Planner, walk: number, step: number): Trace {
  const w = new Walker(m, invs);
  const ids = w.walkIds(walk, planner.spec(walk)).slice(0, step);
  return describePath(m, ids);
}
