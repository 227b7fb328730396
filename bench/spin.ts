/**
 * SPIN on the reference model, run by the benchmark itself so that both
 * checkers are timed on the same machine in the same run. Nothing is
 * installed here: without `spin` and `gcc` on the PATH the SPIN columns
 * stay empty and the report says why.
 *
 * The commands are the ones in the peer's RESULTS.md: `spin -a` with the
 * configuration as -D flags, `gcc -O2 -DSAFETY`, and `./pan` with a depth
 * bound that is raised tenfold while pan reports it too small.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SpinConfig {
  readonly cpus: number;
  readonly pages: number;
  readonly capacity: number;
}

export interface SpinRun {
  /** pan's "states, stored". */
  readonly states: number;
  /** pan's "transitions (= stored+matched)". */
  readonly transitions: number;
  /** pan's own "elapsed time" (the search). */
  readonly seconds: number;
  /** The whole ./pan process, table allocation included. */
  readonly wallSeconds: number;
  /** pan's "total actual memory usage", in bytes. */
  readonly bytes: number;
  readonly errors: number;
  /** The pan flags that were used. */
  readonly flags: string;
}

/** The Promela model, committed beside the benchmark (bench/page_reporting.pml). */
export function spinModelPath(): string {
  // Run from dist/bench/ or from the sources in bench/.
  const here = dirname(fileURLToPath(import.meta.url));
  return resolve(here, import.meta.url.endsWith('.ts') ? 'page_reporting.pml' : '../../bench/page_reporting.pml');
}

/** Why SPIN cannot run here, or undefined when it can. */
export function spinUnavailable(): string | undefined {
  for (const [tool, arg] of [['spin', '-V'], ['gcc', '--version']] as const) {
    const r = spawnSync(tool, [arg], { encoding: 'utf8' });
    if (r.error !== undefined || r.status !== 0) return `${tool} is not installed (apt-get install -y spin gcc)`;
  }
  return undefined;
}

export function spinVersion(): string {
  const r = spawnSync('spin', ['-V'], { encoding: 'utf8' });
  return (r.stdout ?? '').trim().replace(/^Spin Version /, '').replace(/ --.*$/, '');
}

function num(out: string, re: RegExp): number {
  const m = re.exec(out);
  if (m === null) throw new Error(`pan output has no ${re.source}`);
  return Number.parseFloat(m[1]);
}

/** The hash-table size pan needs for a configuration (log2 of slots), as in run-spin.sh. */
function hashBits(c: SpinConfig): number {
  const key = `${c.cpus}${c.pages}${c.capacity}`;
  if (['232', '242', '342', '442'].includes(key)) return 24;
  if (['353', '262', '363', '453', '552'].includes(key)) return 26;
  return 28;
}

/**
 * Compiles pan for one configuration and runs it `runs` times. The
 * compiled verifier is reused across runs; its folder is removed after.
 */
export function runSpin(c: SpinConfig, runs: number, memlimMb: number, startDepth: number): SpinRun[] {
  const dir = mkdtempSync(join(tmpdir(), 'hintcheck-spin-'));
  try {
    copyFileSync(spinModelPath(), join(dir, 'page_reporting.pml'));
    const defs = [`-DNCPU=${c.cpus}`, `-DNPAGES=${c.pages}`, `-DCAP=${c.capacity}`];
    const a = spawnSync('spin', ['-a', ...defs, 'page_reporting.pml'], { cwd: dir, encoding: 'utf8' });
    if (a.status !== 0) throw new Error(`spin -a failed: ${a.stderr || a.stdout}`);
    const g = spawnSync('gcc', ['-O2', '-w', '-DSAFETY', `-DMEMLIM=${memlimMb}`, '-o', 'pan', 'pan.c'], { cwd: dir, encoding: 'utf8' });
    if (g.status !== 0) throw new Error(`gcc failed: ${g.stderr}`);
    const out: SpinRun[] = [];
    let depth = startDepth;
    while (out.length < runs) {
      const flags = [`-m${depth}`, `-w${hashBits(c)}`];
      const t0 = performance.now();
      const r = spawnSync('./pan', flags, { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
      const wall = (performance.now() - t0) / 1000;
      const text = r.stdout ?? '';
      if (/max search depth too small/.test(text) && depth < 1_000_000_000) {
        depth *= 10;
        continue;
      }
      if (/pan: reached -DMEMLIM bound/.test(text)) throw new Error(`pan ran out of its ${memlimMb} MB`);
      out.push({
        states: num(text, /([\d.e+]+) states, stored/),
        transitions: num(text, /([\d.e+]+) transitions \(= stored\+matched\)/),
        seconds: num(text, /pan: elapsed time ([\d.e+]+) seconds/),
        wallSeconds: wall,
        bytes: num(text, /([\d.e+]+)\s+total actual memory usage/) * 2 ** 20,
        errors: num(text, /errors: (\d+)/),
        flags: flags.join(' '),
      });
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The model file's first comment line, to name it in the report. */
export function spinModelTitle(): string {
  return readFileSync(spinModelPath(), 'utf8').split('\n')[1]?.replace(/^\s*\*\s*/, '').trim() ?? '';
}
