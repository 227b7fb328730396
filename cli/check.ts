/** `hintcheck check`: one design, a verdict per invariant (the random explorers: cli/random.ts). */
import { resolve } from 'node:path';
import { checkParallel } from '../check/check.js';
import { REDUCE_MODES, type ReduceMode } from '../check/options.js';
import { UsageError } from '../model/config.js';
import type { Progress } from '../explorers/exhaustive/types.js';
import { onInterrupt } from './interrupt.js';
import { configOverrides, parseFlags, pickDesign, type FlagKind, type Io } from './args.js';
import { verdictExit } from './exit.js';
import { explorerOf, RANDOM_FLAGS, runRandomCheck } from './random.js';
import { writeCheckTraces } from './traces.js';
import { formatCheck, num, secs } from '../report/format.js';
import { checkJson } from '../report/json.js';

export const CHECK_FLAGS: Record<string, FlagKind> = {
  '--design': 'string',
  '--design-file': 'string',
  '--cpus': 'int',
  '--pages': 'int',
  '--max-order': 'int',
  '--report-order': 'int',
  '--capacity': 'int',
  '--watermark-min': 'int',
  '--migratetypes': 'string',
  '--poison': 'string',
  '--host': 'string',
  '--mutant': 'string',
  '--invariant': 'list',
  '--max-states': 'int',
  '--max-seconds': 'number',
  '--max-memory': 'bytes',
  '--reduce': 'string',
  '--workers': 'int',
  '--json': 'bool',
  '--progress': 'bool',
  '--explorer': 'string',
  '--trace-out': 'string',
  '--minimize': 'string',
  ...RANDOM_FLAGS,
};

function progressPrinter(io: Io, enabled: boolean, label = ''): ((p: Progress) => void) | undefined {
  if (!enabled) return undefined;
  return (p) => {
    const rate = p.seconds > 0 ? p.states / p.seconds : 0;
    const line = `${label}states ${num(p.states)} (${num(rate)}/s), transitions ${num(p.transitions)}, queue ${num(p.queue)}, depth ${p.depth}, ${secs(p.seconds)} s`;
    io.err(io.errIsTty ? `\r\x1b[K${line}` : `${line}\n`);
  };
}

function reduceMode(v: string): ReduceMode {
  const mode = REDUCE_MODES.find((x) => x === v);
  if (mode === undefined) throw new UsageError(`--reduce ${v} is unknown: accepted ${REDUCE_MODES.join(', ')}`);
  return mode;
}

export async function runCheck(argv: readonly string[], io: Io): Promise<number> {
  const p = parseFlags('check', argv, CHECK_FLAGS);
  const explorer = explorerOf(p);
  const design = await pickDesign(p);
  if (explorer !== 'exhaustive') return runRandomCheck(p, design, explorer, io);
  const minimize = p['--minimize'] as string | undefined;
  if (minimize !== undefined && minimize !== 'preemptions') throw new UsageError(`--minimize ${minimize} is unknown: accepted preemptions`);
  const showProgress = Boolean(p['--progress']) || io.errIsTty;
  const file = p['--design-file'] as string | undefined;
  if (p['--workers'] === 0) throw new UsageError('check: --workers 0 is out of range: accepted 1 or more');
  const stop = onInterrupt(io.err);
  const report = await checkParallel(design, {
    interrupt: stop.word,
    source: file !== undefined ? { id: design.id, file: resolve(file), shownAs: file } : { id: design.id },
    ...(p['--workers'] !== undefined ? { workers: p['--workers'] as number } : {}),
    config: configOverrides(p),
    invariants: (p['--invariant'] as string[] | undefined) ?? [],
    ...(p['--max-states'] !== undefined ? { maxStates: p['--max-states'] as number } : {}),
    ...(p['--max-seconds'] !== undefined ? { maxSeconds: p['--max-seconds'] as number } : {}),
    ...(p['--max-memory'] !== undefined ? { memoryLimit: p['--max-memory'] as number } : {}),
    ...(p['--reduce'] !== undefined ? { reduce: reduceMode(p['--reduce'] as string) } : {}),
    ...(showProgress ? { onProgress: progressPrinter(io, true)! } : {}),
    ...(minimize === 'preemptions' ? { minimizePreemptions: true } : {}),
    ...(p['--witness'] !== undefined ? { witness: p['--witness'] as string[] } : {}),
  }).finally(stop.release);
  if (showProgress && io.errIsTty) io.err('\r\x1b[K');
  if (p['--trace-out'] !== undefined) writeCheckTraces(p['--trace-out'] as string, design, report, io);
  if (p['--json']) {
    io.out(JSON.stringify(checkJson(report), null, 2) + '\n');
  } else {
    io.out(formatCheck(report, design.title) + '\n');
  }
  return verdictExit(report.results, report.complete);
}
