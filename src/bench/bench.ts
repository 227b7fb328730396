/**
 * `npm run bench`: throughput and memory of the exhaustive explorer on
 * configurations from small to the largest that finishes in about a minute,
 * against the naive baseline on the configurations it can finish, on the
 * same machine in the same run. Each cell is the median of several runs.
 * Prints a Markdown table for docs/benchmarks.md.
 *
 *   npm run bench                 all rows, 3 runs each
 *   npm run bench -- --quick      small rows only, 1 run each
 */
import os from 'node:os';
import { explore } from '../explorers/exhaustive.js';
import { invariantsFor } from '../invariants/index.js';
import { describeConfig, type Config } from '../model/config.js';
import { findDesign } from '../model/designs/index.js';
import { buildModel, resolveConfig } from '../model/system.js';
import { naiveExplore } from './naive.js';

interface Row {
  readonly design: string;
  readonly config: Partial<Config>;
  /** Run the naive baseline too (only where it finishes in reasonable time). */
  readonly baseline: boolean;
  readonly quick: boolean;
}

const ROWS: readonly Row[] = [
  { design: 'd5-page-reporting', config: { cpus: 2, pages: 4 }, baseline: true, quick: true },
  { design: 'd5-page-reporting', config: { cpus: 3, pages: 4 }, baseline: true, quick: false },
  { design: 'd5-page-reporting', config: {}, baseline: false, quick: true },
  { design: 'd5-page-reporting', config: { cpus: 3 }, baseline: false, quick: false },
  { design: 'd5-page-reporting', config: { cpus: 2, pages: 16, maxOrder: 3, reportOrder: 2 }, baseline: false, quick: false },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function main(): void {
  const quick = process.argv.includes('--quick');
  const runs = quick ? 1 : 3;
  const lines: string[] = [];
  lines.push(`Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}.`);
  lines.push(`Command: \`npm run bench${quick ? ' -- --quick' : ''}\` (median of ${runs} run${runs === 1 ? '' : 's'} per cell, one core, all invariants checked).`);
  lines.push('');
  lines.push('| design | bounds | states | transitions | hintcheck s | states/s | bytes/state | baseline s | baseline states/s | baseline bytes/state | speed-up |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of ROWS) {
    if (quick && !row.quick) continue;
    const d = findDesign(row.design);
    const cfg = resolveConfig(d, row.config);
    const invs = invariantsFor(d, cfg);
    const secs: number[] = [];
    let states = 0;
    let transitions = 0;
    let bytes = 0;
    for (let k = 0; k < runs; k++) {
      const m = buildModel(d, cfg);
      const r = explore(m, { invariants: invs });
      if (!r.complete && r.stoppedBy !== 'all-violated') throw new Error(`bench: ${row.design} did not finish (${r.stoppedBy})`);
      secs.push(r.seconds);
      states = r.states;
      transitions = r.transitions;
      bytes = r.bytes / r.states;
    }
    const s = median(secs);
    let base = '| - | - | - | - |';
    if (row.baseline) {
      const bs: number[] = [];
      let bb = 0;
      for (let k = 0; k < runs; k++) {
        const b = naiveExplore(buildModel(d, cfg));
        if (b.states !== states || b.transitions !== transitions) {
          throw new Error(`bench: baseline disagrees on ${row.design}: ${b.states}/${b.transitions} vs ${states}/${transitions}`);
        }
        bs.push(b.seconds);
        bb = b.bytesPerState;
      }
      const b = median(bs);
      base = `| ${b.toFixed(2)} | ${fmt(states / b)} | ${fmt(bb)} | ${(b / s).toFixed(1)}x |`;
    }
    lines.push(`| ${row.design} | ${describeConfig(cfg)} | ${fmt(states)} | ${fmt(transitions)} | ${s.toFixed(2)} | ${fmt(states / s)} | ${bytes.toFixed(1)} ${base}`);
    process.stderr.write(`${lines[lines.length - 1]}\n`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

main();
