/**
 * The command line of the random explorers: `check --explorer
 * random|pct|swarm`, `replay <file|token>` and `merge <reports...>`, and
 * trace files for any check (`--trace-out`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseFlags, configOverrides, type FlagKind, type Io, type Parsed } from './args.js';
import type { CheckReport } from '../check/check.js';
import { invariantsFor } from '../invariants/index.js';
import { loadDesignFile } from '../check/load/load.js';
import { UsageError, describeConfig } from '../model/config.js';
import { DESIGNS } from '../model/designs/index.js';
import { buildModel, resolveConfig } from '../model/system.js';
import type { Design } from '../model/types.js';
import { EXPLORERS, type ExplorerKind, type RandomKind } from '../explorers/random/plan.js';
import { Diverged, parseSchedule, resolveSchedule, scheduleOf, stepLabel, traceFile, type Schedule } from '../explorers/replay.js';
import { describePath } from '../explorers/trace.js';
import { replayIds } from '../explorers/random/walk.js';
import { onInterrupt } from './interrupt.js';
import { checkRandom } from '../check/random.js';
import { asShardReport, formatRandom, mergeReports, randomJson, stepsJson, type RandomReportJson } from '../report/random.js';
import { formatTrace, num, secs } from '../report/format.js';

/** Flags of `check` that only the random explorers take. */
export const RANDOM_FLAGS: Record<string, FlagKind> = {
  '--runs': 'int',
  '--depth': 'int',
  '--seed': 'int',
  '--pct-depth': 'int',
  '--members': 'int',
  '--shard': 'string',
  '--witness': 'list',
  '--no-shrink': 'bool',
};

/** Flags of `check` that only the exhaustive explorer takes. */
export const EXHAUSTIVE_ONLY = ['--reduce', '--max-states', '--max-memory', '--minimize'];

export function explorerOf(p: Parsed): ExplorerKind {
  const v = (p['--explorer'] as string | undefined) ?? 'exhaustive';
  const e = EXPLORERS.find((x) => x === v);
  if (e === undefined) throw new UsageError(`--explorer ${v} is unknown: accepted ${EXPLORERS.join(', ')}`);
  if (e === 'exhaustive') {
    for (const f of Object.keys(RANDOM_FLAGS)) if (p[f] !== undefined && f !== '--witness') throw new UsageError(`check: ${f} applies to --explorer random, pct or swarm, not to the exhaustive search`);
  } else {
    for (const f of EXHAUSTIVE_ONLY) if (p[f] !== undefined) throw new UsageError(`check: ${f} applies to the exhaustive search, not to --explorer ${e}`);
  }
  if (p['--pct-depth'] !== undefined && e !== 'pct') throw new UsageError(`check: --pct-depth applies to --explorer pct (a swarm draws its own)`);
  if ((p['--members'] !== undefined || p['--shard'] !== undefined) && e !== 'swarm') throw new UsageError(`check: --members and --shard apply to --explorer swarm`);
  return e;
}

function shardOf(v: string | undefined): { index: number; count: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(v);
  if (m === null) throw new UsageError(`--shard ${v}: accepted k/N with 0 <= k < N, e.g. 0/4 (k is the 0-based index of an indexed batch job)`);
  return { index: Number(m[1]), count: Number(m[2]) };
}

function exitOf(results: readonly { verdict: string; accepted?: string }[], complete: boolean): number {
  if (results.some((x) => x.verdict === 'violated' && x.accepted === undefined)) return 1;
  return complete ? 0 : 3;
}

/** Write one trace file per violated invariant: `file` itself when there is one, else `name.<invariant>.json`. */
function writeTraces(file: string, found: readonly { invariant: string; schedule: Schedule; message?: string }[], io: Io): void {
  found.forEach((f) => {
    const path = found.length === 1 ? file : file.replace(/(\.json)?$/, `.${f.invariant}.json`);
    writeFileSync(path, JSON.stringify(traceFile(f.schedule, f.message), null, 2) + '\n');
    io.err(`trace of ${f.invariant} written to ${path}\n`);
  });
}

export async function runRandomCheck(p: Parsed, design: Design, explorer: RandomKind, io: Io): Promise<number> {
  const file = p['--design-file'] as string | undefined;
  if (p['--workers'] === 0) throw new UsageError('check: --workers 0 is out of range: accepted 1 or more');
  const showProgress = Boolean(p['--progress']) || io.errIsTty;
  const stop = onInterrupt(io.err);
  const report = await checkRandom(design, {
    interrupt: stop.word,
    explorer,
    config: configOverrides(p),
    invariants: (p['--invariant'] as string[] | undefined) ?? [],
    source: file !== undefined ? { id: design.id, file: resolve(file), shownAs: file } : { id: design.id },
    ...(p['--workers'] !== undefined ? { workers: p['--workers'] as number } : {}),
    ...(p['--runs'] !== undefined ? { runs: p['--runs'] as number } : {}),
    ...(p['--depth'] !== undefined ? { depth: p['--depth'] as number } : {}),
    ...(p['--seed'] !== undefined ? { seed: p['--seed'] as number } : {}),
    ...(p['--pct-depth'] !== undefined ? { pctDepth: p['--pct-depth'] as number } : {}),
    ...(p['--members'] !== undefined ? { members: p['--members'] as number } : {}),
    ...(p['--shard'] !== undefined ? { shard: shardOf(p['--shard'] as string)! } : {}),
    ...(p['--max-seconds'] !== undefined ? { maxSeconds: p['--max-seconds'] as number } : {}),
    ...(p['--witness'] !== undefined ? { witness: p['--witness'] as string[] } : {}),
    shrink: !p['--no-shrink'],
    ...(showProgress
      ? {
          onRound: (walks: number, steps: number, seconds: number) => {
            const line = `walks ${num(walks)}, steps ${num(steps)} (${num(seconds > 0 ? steps / seconds : 0)}/s), ${secs(seconds)} s`;
            io.err(io.errIsTty ? `\r\x1b[K${line}` : `${line}\n`);
          },
        }
      : {}),
  }).finally(stop.release);
  if (showProgress && io.errIsTty) io.err('\r\x1b[K');
  const json = randomJson(report);
  if (p['--trace-out'] !== undefined) {
    const m = buildModel(design, report.config);
    writeTraces(
      p['--trace-out'] as string,
      report.results.filter((r) => r.trace !== undefined).map((r) => ({
        invariant: r.invariant,
        message: r.message!,
        schedule: scheduleOf(m, r.trace!.steps.map((s) => s.id), { invariant: r.invariant, explorer, seed: report.seed, run: r.run! }),
      })),
      io,
    );
  }
  io.out(p['--json'] ? JSON.stringify(json, null, 2) + '\n' : formatRandom(json, design.title) + '\n');
  return exitOf(report.results, false);
}

/** `--trace-out` for an exhaustive check: its counterexamples as trace files. */
export function writeCheckTraces(file: string, design: Design, report: CheckReport, io: Io): void {
  const m = buildModel(design, report.config);
  writeTraces(
    file,
    report.results.filter((r) => r.trace !== undefined).map((r) => ({
      invariant: r.invariant,
      message: r.message!,
      schedule: scheduleOf(m, r.trace!.steps.map((s) => s.id), { invariant: r.invariant, explorer: 'exhaustive' }),
    })),
    io,
  );
}

const REPLAY_FLAGS: Record<string, FlagKind> = { '--json': 'bool', '--design-file': 'string' };

function readSource(arg: string): { text: string; name: string } {
  if (arg.startsWith('hc1:')) return { text: arg, name: 'the token' };
  try {
    return { text: readFileSync(arg, 'utf8'), name: arg };
  } catch {
    throw new UsageError(`replay: cannot read '${arg}': give a trace file written by --trace-out or a replay token (hc1:...)`);
  }
}

export async function runReplay(argv: readonly string[], io: Io): Promise<number> {
  const positional = argv.filter((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1] === '--design-file'));
  const p = parseFlags('replay', argv.filter((a) => !positional.includes(a)), REPLAY_FLAGS);
  if (positional.length !== 1) throw new UsageError('replay: give one trace file or replay token: hintcheck replay <file|hc1:...> [--json] [--design-file F]');
  const src = readSource(positional[0]);
  const sched = parseSchedule(src.text, src.name);
  // A trace of a design from a file names the file: replayed on it unless told otherwise.
  const file = (p['--design-file'] as string | undefined) ?? sched.file;
  const pool = file !== undefined ? await loadDesignFile(file) : DESIGNS;
  const design = pool.find((d) => d.id === sched.design);
  if (design === undefined) throw new UsageError(`replay: the trace is of design '${sched.design}', which is not ${file !== undefined ? `in ${file}` : 'built in'}: accepted ${pool.map((d) => d.id).join(', ')}${file === undefined ? ' (a design from a file: give it with --design-file)' : ''}`);
  const changed = sched.sourceHash !== undefined && design.sourceHash !== undefined && sched.sourceHash !== design.sourceHash;
  if (changed) io.err(`hintcheck: ${file} has changed since the trace was written (source ${sched.sourceHash}, now ${design.sourceHash}); replaying on the file as it is now\n`);
  const cfg = resolveConfig(design, sched.config);
  const m = buildModel(design, cfg);
  let ids: number[];
  try {
    ids = resolveSchedule(m, sched.steps);
  } catch (e) {
    if (!(e instanceof Diverged)) throw e;
    if (p['--json']) io.out(JSON.stringify({ design: design.id, config: cfg, ...(changed ? { sourceChanged: true } : {}), replayed: e.step - 1, diverged: { step: e.step, wanted: e.wanted, enabled: e.enabled } }, null, 2) + '\n');
    io.err(`hintcheck: ${e.message}\n`);
    return 2;
  }
  // The trace is about the invariant it was recorded for: another one broken on the way (an
  // accepted double report, say) does not cut it short. Without one, the first violation counts.
  const all = invariantsFor(design, cfg);
  const recorded = all.filter((i) => i.id === sched.invariant);
  const v = replayIds(m, recorded.length > 0 ? recorded : all, ids);
  const trace = describePath(m, v ? ids.slice(0, v.steps) : ids);
  if (p['--json']) {
    io.out(JSON.stringify({
      design: design.id,
      config: cfg,
      ...(changed ? { sourceChanged: true } : {}),
      replayed: ids.length,
      ...(sched.invariant !== undefined ? { expected: sched.invariant } : {}),
      ...(v ? { violated: { invariant: v.invariant, message: v.message, step: v.steps } } : {}),
      trace: stepsJson(trace),
    }, null, 2) + '\n');
  } else {
    const lines = [`design: ${design.id} - ${design.title}`, `bounds: ${describeConfig(cfg)}`, `replay: ${ids.length} step${ids.length === 1 ? '' : 's'}${sched.explorer !== undefined ? ` found by ${sched.explorer}${sched.seed !== undefined ? ` seed ${sched.seed}` : ''}${sched.run !== undefined ? ` walk ${sched.run}` : ''}` : ''}`, ''];
    lines.push(...formatTrace(trace));
    lines.push('');
    lines.push(
      v
        ? `${v.invariant} violated at step ${v.steps}: ${v.message}${sched.invariant !== undefined && sched.invariant !== v.invariant ? ` (the trace was recorded for ${sched.invariant})` : ''}`
        : `no invariant is violated along the trace${sched.invariant !== undefined ? ` (it was recorded violating ${sched.invariant}: the model no longer does)` : ''}; last step: ${ids.length > 0 ? stepLabel(sched.steps[ids.length - 1]) : 'none'}`,
    );
    io.out(lines.join('\n') + '\n');
  }
  if (!v) return 0;
  return design.accepts?.[v.invariant] !== undefined ? 0 : 1;
}

export function runMerge(argv: readonly string[], io: Io): number {
  const files = argv.filter((a) => !a.startsWith('--'));
  const flags = parseFlags('merge', argv.filter((a) => a.startsWith('--')), { '--json': 'bool' });
  if (files.length === 0) throw new UsageError('merge: give the JSON reports of a swarm\'s shards: hintcheck merge shard-*.json [--json]');
  const reports: RandomReportJson[] = files.map((f) => {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      throw new UsageError(`merge: cannot read '${f}'`);
    }
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch {
      throw new UsageError(`merge: ${f} is not JSON (write shard reports with check --json)`);
    }
    return asShardReport(o, f);
  });
  const merged = mergeReports(reports);
  const count = reports[0].shard?.count ?? 0;
  const missing = Array.from({ length: count }, (_, k) => k).filter((k) => !merged.shards!.includes(k));
  const design = DESIGNS.find((d) => d.id === merged.design);
  io.out(
    (flags['--json']
      ? JSON.stringify({ ...merged, ...(missing.length > 0 ? { missingShards: missing } : {}) }, null, 2)
      : formatRandom(merged, design?.title ?? merged.design) + (missing.length > 0 ? `\n\nmissing shards: ${missing.map((k) => `${k}/${count}`).join(', ')} (their walks are not in this report)` : '')) + '\n',
  );
  return exitOf(merged.results, false);
}
