/** `check --explorer random|pct|swarm`: random walks, which can find violations and prove nothing. */
import { resolve } from 'node:path';
import { configOverrides, type FlagKind, type Io, type Parsed } from './args.js';
import { UsageError } from '../model/config.js';
import { buildModel } from '../model/system.js';
import type { Design } from '../model/types.js';
import { EXPLORERS, type ExplorerKind, type RandomKind } from '../explorers/random/plan.js';
import { scheduleOf } from '../explorers/replay.js';
import { onInterrupt } from './interrupt.js';
import { checkRandom } from '../check/random.js';
import { formatRandom, randomJson } from '../report/random.js';
import { num, secs } from '../report/format.js';
import { verdictExit } from './exit.js';
import { writeTraces } from './traces.js';

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
  return verdictExit(report.results, false);
}
