/** `hintcheck merge <report.json...>`: a swarm's shard reports as one verdict and coverage. */
import { readFileSync } from 'node:fs';
import { UsageError } from '../model/config.js';
import { DESIGNS } from '../model/designs/index.js';
import { asShardReport, formatRandom, mergeReports, type RandomReportJson } from '../report/random.js';
import { parseFlags, type Io } from './args.js';
import { verdictExit } from './exit.js';

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
  return verdictExit(merged.results, false);
}
