/**
 * `npm run bench`: speed and memory, measured in one run on one machine.
 *
 * Two sections, each printed as Markdown for docs/benchmarks.md:
 *  - core: the exhaustive explorer on d5-page-reporting from small bounds to
 *    the largest that finishes in about half a minute, against the naive
 *    baseline (bench/naive.ts) where that finishes;
 *  - spin: the reference model (`spin-reference`, the same transition system
 *    as bench/page_reporting.pml) with reductions off on one and two worker
 *    threads and with the design's reductions, against SPIN run by this
 *    script when `spin` and `gcc` are installed;
 *  - random: for every violated cell of the matrix, walks and seconds to
 *    the first violation by uniform random walks and by PCT, median of 20
 *    seeds.
 * Each cell is the median of several runs; state counts must agree between
 * the checkers and across runs, or the script fails.
 *
 *   npm run bench                      both sections, 3 runs per cell
 *   npm run bench -- --quick           small rows only, 1 run each
 *   npm run bench -- --section spin    one section (core | spin | random)
 *   npm run bench -- --large           also (3,7,3) and (5,6,3), 1 run each
 *   npm run bench -- --large-runs 2    runs per cell of those two (SPIN's still 1)
 *   npm run bench -- --runs 5          runs per cell
 */
import os from 'node:os';
import { defaultMemoryLimit } from '../check/options.js';
import { explore } from '../explorers/exhaustive/driver.js';
import { NO_REDUCTIONS, type Reductions } from '../explorers/exhaustive/types.js';
import { exploreParallel } from '../explorers/parallel/parallel.js';
import { designSource } from '../check/load/design-ref.js';
import { invariantsFor } from '../invariants/index.js';
import { describeConfig, type Config } from '../model/config.js';
import { findDesign } from '../model/designs/index.js';
import { buildModel, resolveConfig } from '../model/system.js';
import { naiveExplore } from './naive.js';
import { runSpin, spinUnavailable, spinVersion, type SpinConfig } from './spin.js';
import { DESIGNS } from '../model/designs/index.js';
import { checkRandom } from '../check/random.js';

const gc = (globalThis as { gc?: () => void }).gc;

interface CoreRow {
  readonly design: string;
  readonly config: Partial<Config>;
  /** Run the naive baseline too (only where it finishes in reasonable time). */
  readonly baseline: boolean;
  readonly quick: boolean;
}

const CORE_ROWS: readonly CoreRow[] = [
  { design: 'd5-page-reporting', config: { cpus: 2, pages: 4 }, baseline: true, quick: true },
  { design: 'd5-page-reporting', config: { cpus: 3, pages: 4 }, baseline: true, quick: false },
  { design: 'd5-page-reporting', config: {}, baseline: false, quick: true },
  { design: 'd5-page-reporting', config: { cpus: 3 }, baseline: false, quick: false },
  { design: 'd5-page-reporting', config: { cpus: 2, pages: 16, maxOrder: 3, reportOrder: 2 }, baseline: false, quick: false },
];

interface SpinRow {
  readonly config: SpinConfig;
  /** pan's first depth bound (raised tenfold while too small), as in RESULTS.md. */
  readonly spinDepth: number;
  /** SPIN runs here (false where it cannot finish in 20 GB). */
  readonly spin: boolean;
  readonly quick: boolean;
  readonly large: boolean;
}

const SPIN_ROWS: readonly SpinRow[] = [
  { config: { cpus: 3, pages: 5, capacity: 3 }, spinDepth: 1_000_000, spin: true, quick: true, large: false },
  { config: { cpus: 4, pages: 5, capacity: 3 }, spinDepth: 10_000_000, spin: true, quick: false, large: false },
  { config: { cpus: 3, pages: 6, capacity: 3 }, spinDepth: 10_000_000, spin: true, quick: false, large: false },
  { config: { cpus: 3, pages: 7, capacity: 3 }, spinDepth: 100_000_000, spin: true, quick: false, large: true },
  { config: { cpus: 5, pages: 6, capacity: 3 }, spinDepth: 100_000_000, spin: false, quick: false, large: true },
];

/** SPIN's memory bound, as in the peer's runs. */
const SPIN_MEMLIM_MB = 20480;

interface Args {
  readonly quick: boolean;
  readonly large: boolean;
  readonly largeRuns: number;
  readonly runs: number;
  readonly sections: readonly Section[];
}

type Section = 'core' | 'spin' | 'random';
const SECTIONS: readonly Section[] = ['core', 'spin', 'random'];

class BadArgs extends Error {}

function parseArgs(argv: readonly string[]): Args {
  let quick = false;
  let large = false;
  let runs: number | undefined;
  let largeRuns = 1;
  let sections: Section[] = [...SECTIONS];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') quick = true;
    else if (a === '--large') large = true;
    else if (a === '--runs') {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new BadArgs(`bench: --runs takes a whole number >= 1, got '${argv[i] ?? ''}'`);
      runs = v;
    } else if (a === '--large-runs') {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new BadArgs(`bench: --large-runs takes a whole number >= 1, got '${argv[i] ?? ''}'`);
      largeRuns = v;
      large = true;
    } else if (a === '--section') {
      const v = SECTIONS.find((x) => x === argv[i + 1]);
      if (v === undefined) throw new BadArgs(`bench: --section '${argv[i + 1] ?? ''}': accepted ${SECTIONS.join(', ')}`);
      i++;
      sections = [v];
    } else throw new BadArgs(`bench: unknown option '${a}': accepted --quick, --large, --large-runs N, --runs N, --section ${SECTIONS.join('|')}`);
  }
  return { quick, large, largeRuns, runs: runs ?? (quick ? 1 : 3), sections };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function secs(n: number): string {
  return n < 10 ? n.toFixed(2) : n.toFixed(1);
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

function machine(): string {
  return `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}`;
}

function coreSection(args: Args, command: string): string[] {
  const lines: string[] = [];
  lines.push(`Machine: ${machine()}.`);
  lines.push(`Command: \`${command}\` (median of ${args.runs} run${args.runs === 1 ? '' : 's'} per cell, one core, all invariants checked).`);
  lines.push('');
  lines.push('| design | bounds | states | transitions | hintcheck s | states/s | bytes/state | baseline s | baseline states/s | baseline bytes/state | speed-up |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of CORE_ROWS) {
    if (args.quick && !row.quick) continue;
    const d = findDesign(row.design);
    const cfg = resolveConfig(d, row.config);
    const invs = invariantsFor(d, cfg);
    const times: number[] = [];
    let states = 0;
    let transitions = 0;
    let bytes = 0;
    for (let k = 0; k < args.runs; k++) {
      gc?.();
      const r = explore(buildModel(d, cfg), { invariants: invs });
      if (!r.complete && r.stoppedBy !== 'all-violated') throw new Error(`bench: ${row.design} did not finish (${r.stoppedBy})`);
      times.push(r.seconds);
      states = r.states;
      transitions = r.transitions;
      bytes = r.bytes / r.states;
    }
    const s = median(times);
    let base = '| - | - | - | - |';
    if (row.baseline) {
      const bs: number[] = [];
      let bb = 0;
      for (let k = 0; k < args.runs; k++) {
        gc?.();
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
    say(lines[lines.length - 1]);
  }
  return lines;
}

interface Measured {
  readonly states: number;
  readonly seconds: number;
  readonly bytesPerState: number;
  /** With symmetry: the concrete states the canonical ones stand for. */
  readonly represented?: number;
}

function checkSame(what: string, a: number, b: number): void {
  if (a !== b) throw new Error(`bench: ${what}: ${fmt(a)} states, expected ${fmt(b)}`);
}

/** One engine on one core, as `check --workers 1`. */
function hintcheckOne(config: SpinConfig, reduce: Reductions, runs: number): Measured {
  const d = findDesign('spin-reference');
  const cfg = resolveConfig(d, { ...config });
  const invs = invariantsFor(d, cfg);
  const times: number[] = [];
  let last: Measured | undefined;
  for (let k = 0; k < runs; k++) {
    gc?.();
    const r = explore(buildModel(d, cfg), { invariants: invs, reduce, memoryLimit: defaultMemoryLimit() });
    if (!r.complete) throw new Error(`bench: spin-reference ${describeConfig(cfg)} did not finish (${r.stoppedBy})`);
    if (r.violations.size > 0) throw new Error(`bench: spin-reference ${describeConfig(cfg)} violates ${[...r.violations.keys()].join(', ')}`);
    if (last !== undefined) checkSame('hintcheck runs disagree', r.states, last.states);
    times.push(r.seconds);
    last = { states: r.states, seconds: 0, bytesPerState: r.bytes / r.states, ...(r.represented !== undefined ? { represented: r.represented } : {}) };
  }
  return { ...last!, seconds: median(times) };
}

async function hintcheckParallel(config: SpinConfig, workers: number, runs: number): Promise<Measured> {
  const d = findDesign('spin-reference');
  const cfg = resolveConfig(d, { ...config });
  const invs = invariantsFor(d, cfg).map((i) => i.id);
  const times: number[] = [];
  let states = -1;
  let bytes = 0;
  for (let k = 0; k < runs; k++) {
    gc?.();
    const r = await exploreParallel({ design: designSource({ id: 'spin-reference' }), config: cfg, invariants: invs, reduce: NO_REDUCTIONS, workers, memoryLimit: defaultMemoryLimit() });
    if (!r.complete) throw new Error(`bench: spin-reference ${describeConfig(cfg)} on ${workers} workers did not finish (${r.stoppedBy})`);
    if (r.violations.size > 0) throw new Error(`bench: spin-reference ${describeConfig(cfg)} on ${workers} workers violates ${[...r.violations.keys()].join(', ')}`);
    if (states >= 0) checkSame('parallel runs disagree', r.states, states);
    states = r.states;
    bytes = r.bytes / r.states;
    times.push(r.seconds);
  }
  return { states, seconds: median(times), bytesPerState: bytes };
}

function label(c: SpinConfig): string {
  return `(${c.cpus},${c.pages},${c.capacity})`;
}

async function spinSection(args: Args, command: string): Promise<string[]> {
  const lines: string[] = [];
  const missing = spinUnavailable();
  lines.push(`Machine: ${machine()}; ${missing === undefined ? `SPIN ${spinVersion()}, pan built with \`gcc -O2 -DSAFETY -DMEMLIM=${SPIN_MEMLIM_MB}\`` : `SPIN not run: ${missing}`}.`);
  lines.push(`Command: \`${command}\` (median of ${args.runs} run${args.runs === 1 ? '' : 's'} per cell; rows that say otherwise give their own number of runs).`);
  lines.push('');
  lines.push('| config | checker | states | seconds | states/s | bytes/state | vs SPIN |');
  lines.push('|---|---|---:|---:|---:|---:|---:|');
  for (const row of SPIN_ROWS) {
    if (args.quick && !row.quick) continue;
    if (row.large && !args.large) continue;
    const runs = row.large ? args.largeRuns : args.runs;
    const c = row.config;
    // SPIN's large runs take minutes each and only set the one-worker rate's yardstick: once.
    const spinRuns = row.large ? 1 : runs;
    const runsNote = (n: number): string => (n !== args.runs ? ` (${n} run${n === 1 ? '' : 's'})` : '');
    const runsLabel = runsNote(runs);
    const emit = (line: string): void => {
      lines.push(line);
      say(line);
    };
    let spin: { states: number; seconds: number; rate: number } | undefined;
    if (missing === undefined && row.spin) {
      const rs = runSpin(c, spinRuns, SPIN_MEMLIM_MB, row.spinDepth);
      for (const r of rs) {
        checkSame(`SPIN on ${label(c)} disagrees with itself`, r.states, rs[0].states);
        if (r.errors !== 0) throw new Error(`bench: SPIN reports ${r.errors} errors on ${label(c)}`);
      }
      const s = median(rs.map((r) => r.seconds));
      spin = { states: rs[0].states, seconds: s, rate: rs[0].states / s };
      const wall = median(rs.map((r) => r.wallSeconds));
      emit(`| ${label(c)} | SPIN, pan ${rs[0].flags}${runsNote(spinRuns)} | ${fmt(spin.states)} | ${secs(s)} (wall ${secs(wall)}) | ${fmt(spin.rate)} | ${fmt(median(rs.map((r) => r.bytes)) / spin.states)} | 1.00x |`);
    } else if (missing === undefined) {
      emit(`| ${label(c)} | SPIN | - | - | - | - | does not finish in ${SPIN_MEMLIM_MB / 1024} GB |`);
    }
    const vsRate = (states: number, seconds: number): string => (spin === undefined ? '-' : `${(states / seconds / spin.rate).toFixed(2)}x states/s`);
    // One worker and two alternate, so that a machine whose speed drifts during the run slows both alike.
    const ones: Measured[] = [];
    const twos: Measured[] = [];
    for (let k = 0; k < runs; k++) {
      ones.push(hintcheckOne(c, NO_REDUCTIONS, 1));
      twos.push(await hintcheckParallel(c, 2, 1));
    }
    const single = { ...ones[0], seconds: median(ones.map((x) => x.seconds)) };
    const two = { ...twos[0], seconds: median(twos.map((x) => x.seconds)) };
    if (spin !== undefined) checkSame(`hintcheck on ${label(c)} disagrees with SPIN`, single.states, spin.states);
    emit(`| ${label(c)} | hintcheck, reductions off, 1 worker${runsLabel} | ${fmt(single.states)} | ${secs(single.seconds)} | ${fmt(single.states / single.seconds)} | ${single.bytesPerState.toFixed(1)} | ${vsRate(single.states, single.seconds)} |`);
    checkSame(`2 workers on ${label(c)} disagree with 1`, two.states, single.states);
    const pairs = ones.map((x, k) => x.seconds / twos[k].seconds);
    const spread = runs > 1 ? ` (pairs ${Math.min(...pairs).toFixed(2)}-${Math.max(...pairs).toFixed(2)})` : '';
    const speedup = `${(single.seconds / two.seconds).toFixed(2)}x of 1 worker${spread}`;
    emit(`| ${label(c)} | hintcheck, reductions off, 2 workers${runsLabel} | ${fmt(two.states)} | ${secs(two.seconds)} | ${fmt(two.states / two.seconds)} | ${two.bytesPerState.toFixed(1)} | ${spin === undefined ? speedup : `${vsRate(two.states, two.seconds)}; ${speedup}`} |`);
    const sym = hintcheckOne(c, { symmetry: true, por: false }, runs);
    // Without POR the canonical states stand for exactly the unreduced ones.
    checkSame(`symmetry-reduced run on ${label(c)} stands for a different number of states`, sym.represented ?? -1, single.states);
    const sooner = (s: number): string => (spin === undefined ? '-' : `${(spin.seconds / s).toFixed(0)}x sooner`);
    emit(`| ${label(c)} | hintcheck, symmetry, 1 worker${runsLabel} | ${fmt(sym.states)} canonical (${(single.states / sym.states).toFixed(1)}x fewer) | ${secs(sym.seconds)} | - | ${sym.bytesPerState.toFixed(1)} | ${sooner(sym.seconds)} |`);
    const all = hintcheckOne(c, { symmetry: true, por: true }, runs);
    emit(`| ${label(c)} | hintcheck, symmetry + POR (default), 1 worker${runsLabel} | ${fmt(all.states)} canonical (${(single.states / all.states).toFixed(1)}x fewer) | ${secs(all.seconds)} | - | ${all.bytesPerState.toFixed(1)} | ${sooner(all.seconds)} |`);
  }
  return lines;
}

/** Walks per seed before a cell counts as not found. */
const RANDOM_CAP = 2000;
const RANDOM_DEPTH = 100;

/**
 * Every violated cell of the matrix (design, configuration, invariant):
 * walks and seconds until the first violation, by uniform walks and by PCT
 * (bug depth 3), for seeds 1..20 (--quick: 5), one thread, no shrinking.
 */
async function randomSection(args: Args, command: string): Promise<string[]> {
  const seeds = args.quick ? 5 : 20;
  const lines: string[] = [];
  lines.push(`Machine: ${machine()}.`);
  lines.push(`Command: \`${command}\` (per cell: median over seeds 1-${seeds}; walks of at most ${RANDOM_DEPTH} steps, at most ${fmt(RANDOM_CAP)} walks per seed; one thread; counterexamples not shrunk).`);
  lines.push('');
  lines.push('| design | configuration | invariant | uniform: found | walks | s | PCT: found | walks | s | uniform walks / PCT walks |');
  lines.push('|---|---|---|---:|---:|---:|---:|---:|---:|---:|');
  let pctFewer = 0;
  let uniformFewer = 0;
  let cells = 0;
  for (const d of DESIGNS) {
    for (const e of d.expect) {
      for (const inv of e.violates) {
        const cell: string[] = [];
        const medians: number[] = [];
        for (const explorer of ['random', 'pct'] as const) {
          const walks: number[] = [];
          const times: number[] = [];
          for (let seed = 1; seed <= seeds; seed++) {
            const r = await checkRandom(d, { explorer, config: e.config ?? {}, invariants: [inv], runs: RANDOM_CAP, depth: RANDOM_DEPTH, seed, workers: 1, shrink: false });
            const x = r.results[0];
            walks.push(x.verdict === 'violated' ? x.run! + 1 : Infinity);
            times.push(x.verdict === 'violated' ? r.seconds : Infinity);
          }
          const found = walks.filter((w) => w !== Infinity).length;
          const mw = median(walks);
          const ms = median(times);
          medians.push(mw);
          cell.push(`${found}/${seeds}`, mw === Infinity ? `> ${fmt(RANDOM_CAP)}` : fmt(mw), ms === Infinity ? '-' : ms.toFixed(3));
        }
        const [u, p] = medians;
        cells++;
        if (p < u) pctFewer++;
        if (u < p) uniformFewer++;
        const ratio = u === Infinity && p === Infinity ? '-' : u === Infinity ? 'PCT only' : p === Infinity ? 'uniform only' : (u / p).toFixed(1);
        const cfg = Object.entries(e.config ?? {}).map(([k, v]) => `${k}=${String(v)}`).join(' ') || 'defaults';
        const line = `| ${d.id} | ${cfg} | ${inv}${d.accepts?.[inv] !== undefined ? ' (accepted)' : ''} | ${cell.slice(0, 3).join(' | ')} | ${cell.slice(3).join(' | ')} | ${ratio} |`;
        lines.push(line);
        say(line);
      }
    }
  }
  lines.push('');
  lines.push(`${cells} cells: PCT needs fewer walks (median) on ${pctFewer}, uniform walks on ${uniformFewer}, the same on ${cells - pctFewer - uniformFewer}.`);
  return lines;
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof BadArgs) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const command = ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ');
  const out: string[] = [];
  if (args.sections.includes('core')) out.push('### Exhaustive explorer, one core, against the naive baseline', '', ...coreSection(args, command), '');
  if (args.sections.includes('spin')) out.push('### The reference model against SPIN', '', ...(await spinSection(args, command)), '');
  if (args.sections.includes('random')) out.push('### Random walks against PCT: walks to the first violation', '', ...(await randomSection(args, command)), '');
  process.stdout.write(out.join('\n'));
}

await main();
