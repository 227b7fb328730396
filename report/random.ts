/**
 * The JSON form of a random, PCT or swarm run (`check --explorer ... --json`),
 * the merge of a swarm's shard reports into one, and the text a person
 * reads. Merging works on the JSON, since shards run on other machines.
 */
import { match } from 'ts-pattern';
import { describeConfig, UsageError } from '../model/config.js';
import type { ScheduleShape } from '../explorers/shrink.js';
import type { Trace, TraceStep } from '../explorers/trace.js';
import type { RandomReport, RandomResult } from '../check/random.js';
import { coverageLines, formatTrace, num, secs } from './format.js';

/** A trace step as JSON: what a reader needs, without the raw changes. */
export type TraceStepJson = Pick<TraceStep, 'step' | 'actor' | 'action' | 'args' | 'kernel' | 'summary'>;

export type RandomResultJson = Omit<RandomResult, 'trace' | 'witness'> & {
  readonly trace?: readonly TraceStepJson[];
  readonly witness?: readonly TraceStepJson[];
};

export type RandomReportJson = Omit<RandomReport, 'results'> & {
  /** For a merged report: the shards it was made of. */
  readonly shards?: readonly number[];
  readonly results: readonly RandomResultJson[];
};

export function stepsJson(t: Trace): TraceStepJson[] {
  return t.steps.map((s) => ({ step: s.step, actor: s.actor, action: s.action, args: s.args, kernel: s.kernel, summary: s.summary }));
}

export function randomJson(r: RandomReport): RandomReportJson {
  return {
    design: r.design,
    config: r.config,
    explorer: r.explorer,
    seed: r.seed,
    depth: r.depth,
    ...(r.pctDepth !== undefined ? { pctDepth: r.pctDepth } : {}),
    ...(r.members !== undefined ? { members: r.members } : {}),
    ...(r.shard !== undefined ? { shard: r.shard } : {}),
    plannedRuns: r.plannedRuns,
    runs: r.runs,
    steps: r.steps,
    seconds: Number(r.seconds.toFixed(3)),
    workers: r.workers,
    stoppedBy: r.stoppedBy,
    results: r.results.map((x) => {
      const { trace, witness, ...rest } = x;
      return { ...rest, ...(trace !== undefined ? { trace: stepsJson(trace) } : {}), ...(witness !== undefined ? { witness: stepsJson(witness) } : {}) };
    }),
    coverage: r.coverage,
  };
}

function bad(message: string): never {
  throw new UsageError(`merge: ${message}`);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Check that a parsed JSON value is a swarm shard report, enough to merge it. */
export function asShardReport(x: unknown, name: string): RandomReportJson {
  const o = x as Partial<RandomReportJson> | null;
  if (o === null || typeof o !== 'object' || typeof o.design !== 'string' || !Array.isArray(o.results) || typeof o.coverage !== 'object') {
    bad(`${name} is not a hintcheck report of a random run (check --explorer swarm --shard k/N --json)`);
  }
  if (o.explorer !== 'swarm') bad(`${name} is a ${String(o.explorer)} run: only swarm shards merge`);
  if (o.shard === undefined && o.shards === undefined) bad(`${name} is not a shard (run with --shard k/N)`);
  return o as RandomReportJson;
}

/**
 * One report from the shards of one swarm: walks, steps and action counts
 * add up; each invariant's counterexample is the one from the lowest walk
 * of any shard, which is the one an unsharded run reports; a precondition is
 * reached if any shard reached it (first at the lowest walk).
 */
export function mergeReports(reports: readonly RandomReportJson[]): RandomReportJson {
  if (reports.length === 0) bad('no reports given');
  const r0 = reports[0];
  const count = r0.shard?.count ?? bad('the first report is not a shard');
  const seen = new Set<number>();
  for (const r of reports) {
    const parts = r.shards ?? (r.shard !== undefined ? [r.shard.index] : []);
    for (const k of ['design', 'config', 'explorer', 'seed', 'depth', 'members', 'plannedRuns'] as const) {
      if (!same(r[k], r0[k])) bad(`the reports are not shards of one swarm: ${k} differs (${JSON.stringify(r0[k])} vs ${JSON.stringify(r[k])})`);
    }
    if (r.shard !== undefined && r.shard.count !== count) bad(`shard counts differ (${count} vs ${r.shard.count})`);
    for (const k of parts) {
      if (seen.has(k)) bad(`shard ${k}/${count} is given twice`);
      seen.add(k);
    }
    if (!same(r.results.map((x) => x.invariant), r0.results.map((x) => x.invariant))) bad('the reports check different invariants');
  }
  const shards = [...seen].sort((a, b) => a - b);
  const results = r0.results.map((x, k) => {
    let best: RandomResultJson | undefined;
    for (const r of reports) {
      const y = r.results[k];
      if (y.verdict === 'violated' && (best === undefined || (y.run ?? Infinity) < (best.run ?? Infinity))) best = y;
    }
    return { inv: x.invariant, best };
  });
  const counts = new Map<string, { actor: string; action: string; count: number }>();
  for (const r of reports) {
    for (const a of r.coverage.actions) {
      const key = `${a.actor} ${a.action}`;
      const e = counts.get(key) ?? { actor: a.actor, action: a.action, count: 0 };
      e.count += a.count;
      counts.set(key, e);
    }
  }
  const actions = [...counts.values()];
  const invariants = r0.coverage.invariants.map((c, k) => {
    let first: (typeof c) | undefined;
    for (const r of reports) {
      const y = r.coverage.invariants[k];
      if (y.reached && (first === undefined || (y.run ?? Infinity) < (first.run ?? Infinity) || (y.run === first.run && (y.step ?? 0) < (first.step ?? 0)))) first = y;
    }
    return first ?? { ...c, reached: false };
  });
  const witnessFrom = (k: number): RandomResultJson['witness'] => {
    const c = invariants[k];
    if (!c.reached) return undefined;
    for (const r of reports) if (r.coverage.invariants[k].reached && r.coverage.invariants[k].run === c.run) return r.results[k].witness;
    return undefined;
  };
  return {
    design: r0.design,
    config: r0.config,
    explorer: r0.explorer,
    seed: r0.seed,
    depth: r0.depth,
    ...(r0.members !== undefined ? { members: r0.members } : {}),
    shards,
    plannedRuns: r0.plannedRuns,
    runs: reports.reduce((t, r) => t + r.runs, 0),
    steps: reports.reduce((t, r) => t + r.steps, 0),
    seconds: Number(reports.reduce((t, r) => t + r.seconds, 0).toFixed(3)),
    workers: reports.reduce((t, r) => t + r.workers, 0),
    stoppedBy: reports.some((r) => r.stoppedBy === 'interrupted') ? 'interrupted' : reports.some((r) => r.stoppedBy === 'max-seconds') ? 'max-seconds' : 'runs',
    results: results.map(({ inv, best }, k) => {
      const w = witnessFrom(k);
      const base = best ?? { invariant: inv, verdict: 'unknown' as const };
      const { witness: _w, unreached: _u, ...rest } = base;
      return { ...rest, ...(invariants[k].reached ? {} : { unreached: true }), ...(w !== undefined ? { witness: w } : {}) };
    }),
    coverage: { actions, neverFired: actions.filter((a) => a.count === 0).map((a) => `${a.actor} ${a.action}`), invariants },
  };
}

function shapeText(s: ScheduleShape): string {
  return `${s.steps} step${s.steps === 1 ? '' : 's'}, ${s.preemptions} preemption${s.preemptions === 1 ? '' : 's'}`;
}

function explorerText(r: RandomReportJson): string {
  return match(r.explorer)
    .with('random', () => 'random walks (uniform)')
    .with('pct', () => `PCT walks (bug depth ${r.pctDepth ?? '?'})`)
    .with('swarm', () => `swarm of ${r.members ?? '?'} members${r.shard !== undefined ? `, shard ${r.shard.index}/${r.shard.count}` : ''}${r.shards !== undefined ? `, ${r.shards.length} shards merged` : ''}`)
    .exhaustive();
}

export function formatRandom(r: RandomReportJson, title: string): string {
  const lines: string[] = [];
  lines.push(`design: ${r.design} - ${title}`);
  lines.push(`bounds: ${describeConfig(r.config)}`);
  const why = match(r.stoppedBy)
    .with('runs', () => '')
    .with('all-violated', () => ', stopped once every checked invariant was violated')
    .with('max-seconds', () => ', cut short by --max-seconds')
    .with('interrupted', () => ', cut short (interrupted)')
    .exhaustive();
  lines.push(`search: ${explorerText(r)}, ${num(r.runs)} of ${num(r.plannedRuns)} walks${why}, depth <= ${r.depth}, seed ${r.seed}, ${num(r.steps)} steps, ${secs(r.seconds)} s${r.workers > 1 ? ` on ${r.workers} workers` : ''}`);
  lines.push('  (random walks prove nothing: an invariant they did not violate is unknown)');
  lines.push('');
  const w = Math.max(...r.results.map((x) => x.invariant.length));
  for (const x of r.results) {
    const pre = r.coverage.invariants.find((c) => c.invariant === x.invariant);
    const extra =
      x.verdict === 'violated'
        ? `  (walk ${x.run}${x.member !== undefined ? ` of member ${x.member}` : ''}${x.shrink !== undefined ? `; shrunk from ${shapeText(x.shrink.from)} to ${shapeText(x.shrink.to)}` : `; ${x.depth} steps`}${x.accepted !== undefined ? '; accepted by the design' : ''})`
        : x.unreached
          ? `  unreached: ${pre?.precondition ?? 'its precondition'} never happened`
          : `  (precondition reached: ${pre?.precondition ?? ''})`;
    lines.push(`  ${(x.verdict === 'violated' ? 'VIOLATED' : 'unknown').padEnd(9)} ${x.invariant.padEnd(w)}${extra}`);
  }
  lines.push('');
  lines.push(...coverageLines(r.coverage));
  for (const x of r.results) {
    if (x.verdict !== 'violated') continue;
    lines.push('');
    lines.push(`${x.invariant} violated: ${x.message ?? ''}`);
    if (x.accepted !== undefined) lines.push(`  (accepted by the design: ${x.accepted})`);
    if (x.replay !== undefined) lines.push(`  replay: ${x.replay}`);
    if (x.trace !== undefined) lines.push(...formatTrace({ steps: x.trace }));
  }
  for (const x of r.results) {
    if (x.witness === undefined) continue;
    const pre = r.coverage.invariants.find((c) => c.invariant === x.invariant);
    lines.push('');
    lines.push(`${x.invariant}: a walk that reaches its precondition (${pre?.precondition ?? ''})`);
    lines.push(...formatTrace({ steps: x.witness }));
  }
  return lines.join('\n');
}

