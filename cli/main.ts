/**
 * The command line: parse, call the library, print, set the exit code.
 *
 *   0  every checked invariant holds and the search was complete
 *   1  a violation was found (matrix: a verdict differs from the expected one)
 *   2  usage or design error (errors.ts)
 *   3  incomplete: a budget or a signal stopped the search and no violation was found
 *   4  internal error
 */
import { resolve } from 'node:path';
import { match } from 'ts-pattern';
import { checkParallel, REDUCE_MODES, type CheckReport, type ReduceMode } from '../check/check.js';
import { INVARIANTS } from '../invariants/index.js';
import { HOST_MODES, POISON_MODES, UsageError, describeConfig } from '../model/config.js';
import { DESIGNS } from '../model/designs/index.js';
import { resolveConfig } from '../model/system.js';
import type { Progress } from '../explorers/exhaustive/types.js';
import { designPages, stalePages, writePages } from '../report/docs.js';
import { errorJson, errorKind, exitCodeOf } from '../model/errors.js';
import { onInterrupt } from './interrupt.js';
import { loadDesignFile } from '../check/load/load.js';
import { compareBaseline, readBaseline, runMatrix, writeBaseline } from '../check/matrix/matrix.js';
import { overridesText, type MatrixRow } from '../check/matrix/rows.js';
import { configOverrides, parseFlags, pickDesign, type FlagKind, type Io } from './args.js';
import { explorerOf, RANDOM_FLAGS, runMerge, runRandomCheck, runReplay, writeCheckTraces } from './random.js';
import { formatCheck, num, secs } from '../report/format.js';
import { stepsJson } from '../report/random.js';

const HELP = `hintcheck: a model checker for free page hinting between a Linux guest and its host

usage:
  hintcheck check --design <id> [options]   explore one design, print a verdict per invariant
  hintcheck matrix [options]                 every design at its declared bounds, against expectations
  hintcheck replay <file|token>              replay a counterexample step by step on the current model
  hintcheck merge <report.json...>           combine a swarm's shard reports into one verdict and coverage
  hintcheck list                             designs, host modes and invariants
  hintcheck docs [--check]                   regenerate docs/designs/<id>.md (--check: fail if out of date)

check options:
  --design <id>          design to check (see 'hintcheck list')
  --cpus N               vCPU threads (1-6)
  --pages N              base pages (a multiple of 2^max-order, up to 32)
  --max-order K          largest buddy order (0-4)
  --report-order R       smallest order a hint covers (0..K; stands in for pageblock_order)
  --capacity C           blocks per report batch (1-8)
  --watermark-min N      zone min watermark in pages (0..pages; designs that read watermarks, d5-*)
  --migratetypes off|on  pageblock migratetypes and a pageblock isolator (designs that take part: d2-merge-notifier, d5-*)
  --poison off|on|init-on-free
  --host dontneed|madv-free|poison-on-fault|skip-if-poisoned
  --mutant <name>        a named mutant of the design (spin-reference: hold-lock, no-isolate)
  --invariant <id>       check only this invariant (repeatable)
  --max-states N         stop after N distinct states (verdicts not reached: unknown)
  --max-seconds S        stop after S seconds (verdicts not reached: unknown)
  --max-memory SIZE      stop (unknown) before the search's tables pass SIZE, e.g. 2G, 512M
                         (default: three quarters of the machine's memory)
  --reduce none|symmetry|por|all
                         state-space reductions (default: those proven sound for the design;
                         none stores every interleaving)
  --workers N            search threads (default: one per core; 1 searches on the main thread)
  --json                 print one JSON object instead of text
  --progress             print progress to stderr even when it is not a terminal
  --design-file <file>   a design of your own (TypeScript or JavaScript; see docs/writing-a-design.md)
  --trace-out <file>     write each counterexample as a trace file (for hintcheck replay)
  --minimize preemptions reorder each shortest counterexample to the fewest preemptions
  --witness <id>         also show a shortest path to where the invariant's precondition holds (repeatable)

  --explorer exhaustive|random|pct|swarm
                         exhaustive (default) proves; the others walk at random and can only
                         find violations (their other verdicts are unknown)
  --runs N               walks (default 1000; a swarm's over all its members)
  --depth N              steps per walk at most (default 200)
  --seed N               the run's seed (default 1): same seed, same walks, any --workers
  --pct-depth D          pct: bug depth, D-1 priority change points (default 3)
  --members N            swarm: diversified searches (default 16)
  --shard k/N            swarm: run only shard k (0-based) of N, e.g. one per batch job;
                         combine the --json reports with hintcheck merge
  --no-shrink            show random counterexamples as found

matrix options:
  --baseline <file>      also compare state and transition counts with a saved run (exit 1 if any moved)
  --write-baseline <file> save this run's counts
  --design-file <file>   the designs of a file instead of the built-in ones
  --workers N            worker threads (default: one per core)
  --max-seconds S, --json, --progress

replay options: --json, --design-file <file>

exit codes:
  0    every checked invariant holds and the search was complete
  1    a violation was found (matrix: a verdict or a count differs from the expected one)
  2    the command line or a design is wrong (one line says what; replay: the trace no
       longer applies to the model)
  3    incomplete: a budget or a signal stopped the search before any violation was found
       (random explorers: no violation found)
  4    an internal error of hintcheck (HINTCHECK_DEBUG=1 prints its stack)
  130, 143  a second SIGINT or SIGTERM: stopped at once, nothing printed
A first SIGINT or SIGTERM stops the search and prints what it found so far: violations with
their traces, every other verdict unknown.`;

const CHECK_FLAGS: Record<string, FlagKind> = {
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

const MATRIX_FLAGS: Record<string, FlagKind> = {
  '--json': 'bool',
  '--progress': 'bool',
  '--max-seconds': 'number',
  '--design-file': 'string',
  '--workers': 'int',
  '--baseline': 'string',
  '--write-baseline': 'string',
};

function progressPrinter(io: Io, enabled: boolean, label = ''): ((p: Progress) => void) | undefined {
  if (!enabled) return undefined;
  return (p) => {
    const rate = p.seconds > 0 ? p.states / p.seconds : 0;
    const line = `${label}states ${num(p.states)} (${num(rate)}/s), transitions ${num(p.transitions)}, queue ${num(p.queue)}, depth ${p.depth}, ${secs(p.seconds)} s`;
    io.err(io.errIsTty ? `\r\x1b[K${line}` : `${line}\n`);
  };
}

function exitCode(r: CheckReport): number {
  if (r.results.some((x) => x.verdict === 'violated' && x.accepted === undefined)) return 1;
  if (!r.complete) return 3;
  return 0;
}

function reduceMode(v: string): ReduceMode {
  const mode = REDUCE_MODES.find((x) => x === v);
  if (mode === undefined) throw new UsageError(`--reduce ${v} is unknown: accepted ${REDUCE_MODES.join(', ')}`);
  return mode;
}

async function runCheck(argv: readonly string[], io: Io): Promise<number> {
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
    io.out(JSON.stringify({
      design: report.design,
      config: report.config,
      complete: report.complete,
      stoppedBy: report.stoppedBy,
      states: report.states,
      transitions: report.transitions,
      depth: report.depth,
      seconds: Number(report.seconds.toFixed(3)),
      statesPerSecond: Math.round(report.statesPerSecond),
      bytesPerState: Number(report.bytesPerState.toFixed(1)),
      workers: report.workers,
      ...(report.partition !== undefined
        ? { partition: { fields: report.partition.fields, sampledChangeRate: Number(report.partition.changeRate.toFixed(3)), sampledBalance: Number(report.partition.balance.toFixed(3)) } }
        : {}),
      ...(report.note !== undefined ? { note: report.note } : {}),
      reductions: {
        symmetry: report.reduce.symmetry,
        partialOrder: report.reduce.por,
        ...(report.represented !== undefined ? { represented: report.represented, symmetryFactor: Number(report.symmetryFactor!.toFixed(3)) } : {}),
      },
      results: report.results.map((r) => ({
        invariant: r.invariant,
        verdict: r.verdict,
        ...(r.accepted !== undefined ? { accepted: r.accepted } : {}),
        ...(r.message !== undefined ? { message: r.message } : {}),
        ...(r.depth !== undefined ? { depth: r.depth } : {}),
        ...(r.preemptions !== undefined ? { preemptions: r.preemptions } : {}),
        ...(r.token !== undefined ? { token: r.token } : {}),
        ...(r.replay !== undefined ? { replay: r.replay } : {}),
        ...(r.unreached ? { unreached: true } : {}),
        ...(r.trace !== undefined
          ? { trace: r.trace.steps.map((s) => ({ step: s.step, actor: s.actor, action: s.action, args: s.args, kernel: s.kernel, changes: s.changes, summary: s.summary })) }
          : {}),
        ...(r.witness !== undefined ? { witness: stepsJson(r.witness) } : {}),
      })),
      coverage: report.coverage,
    }, null, 2) + '\n');
  } else {
    io.out(formatCheck(report, design.title) + '\n');
  }
  return exitCode(report);
}

function runList(argv: readonly string[], io: Io): number {
  parseFlags('list', argv, {});
  const lines: string[] = ['designs:'];
  const w = Math.max(...DESIGNS.map((d) => d.id.length));
  for (const d of DESIGNS) lines.push(`  ${d.id.padEnd(w)}  ${d.title}`);
  lines.push('', 'host modes (--host):');
  const hostDoc: Record<(typeof HOST_MODES)[number], string> = {
    dontneed: 'MADV_DONTNEED: a discarded page reads zero at its next touch',
    'madv-free': 'MADV_FREE: a discarded page reads its old content, or zero if the host reclaimed it',
    'poison-on-fault': 'a discarded page faults in filled with the guest\'s poison value',
    'skip-if-poisoned': 'QEMU: no discard at all when the guest reports a non-zero poison value',
  };
  for (const h of HOST_MODES) lines.push(`  ${h.padEnd(16)}  ${hostDoc[h]}`);
  lines.push('', 'poison modes (--poison): ' + POISON_MODES.join(', '));
  lines.push('', 'invariants (--invariant):');
  const iw = Math.max(...INVARIANTS.map((i) => i.id.length));
  for (const i of INVARIANTS) lines.push(`  ${i.number}. ${i.id.padEnd(iw)}  ${i.title}`);
  const own = new Map<string, { title: string; designs: string[] }>();
  for (const d of DESIGNS) for (const i of d.invariants ?? []) {
    const e = own.get(i.id) ?? { title: i.title, designs: [] };
    e.designs.push(d.id);
    own.set(i.id, e);
  }
  if (own.size > 0) {
    lines.push('', 'invariants of particular designs:');
    const ow = Math.max(...[...own.keys()].map((k) => k.length));
    for (const [id, e] of own) lines.push(`  ${id.padEnd(ow)}  ${e.title} (${e.designs.length === 1 ? e.designs[0] : `${e.designs.length} designs: ${e.designs[0]}, ...`})`);
  }
  io.out(lines.join('\n') + '\n');
  return 0;
}


function cell(row: MatrixRow, inv: string): string {
  const r = row.report.results.find((x) => x.invariant === inv);
  if (r === undefined) return '-';
  const text = match(r.verdict)
    .with('holds', () => (r.unreached ? 'holds°' : 'holds'))
    .with('violated', () => `${r.accepted !== undefined ? 'acc' : 'viol'}@${r.depth}`)
    .with('unknown', () => 'unknown')
    .exhaustive();
  return row.expected[inv] === r.verdict || (row.interrupted && r.verdict === 'unknown') ? text : `${text}!`;
}

async function runMatrixCmd(argv: readonly string[], io: Io): Promise<number> {
  const p = parseFlags('matrix', argv, MATRIX_FLAGS);
  const file = p['--design-file'] as string | undefined;
  const designs = file !== undefined ? await loadDesignFile(file) : DESIGNS;
  const baseline = p['--baseline'] !== undefined ? readBaseline(p['--baseline'] as string) : undefined;
  const json = Boolean(p['--json']);
  const invs = INVARIANTS.map((i) => i.id);
  const dw = Math.max(...designs.map((d) => d.id.length));
  const cw = Math.max(8, ...designs.flatMap((d) => d.expect.map((e) => overridesText(e.config ?? {}).length)));
  const byId = new Map(designs.map((d) => [d.id, d]));
  const header = `${'design'.padEnd(dw)}  ${'config'.padEnd(cw)}  ${INVARIANTS.map((i) => i.short.padEnd(9)).join(' ')}  ${'states'.padStart(11)}  ${'s'.padStart(6)}  design's own`;
  if (!json) {
    io.out('hintcheck matrix: every design at its declared bounds; cells are verdicts (viol@N: shortest counterexample of N steps; acc@N: a violation the design accepts; ! marks an unexpected verdict; holds°: its precondition never happened, so it proves nothing here)\n\n');
    io.out(header + '\n');
  }
  const t0 = performance.now();
  const total = designs.reduce((n, d) => n + d.expect.length, 0);
  let finished = 0;
  const stop = onInterrupt(io.err);
  const rows = await runMatrix({
    interrupt: stop.word,
    designs,
    ...(file !== undefined ? { designFile: file } : {}),
    ...(p['--workers'] !== undefined ? { workers: Math.max(1, p['--workers'] as number) } : {}),
    ...(p['--max-seconds'] !== undefined ? { maxSeconds: p['--max-seconds'] as number } : {}),
    onRow: (row) => {
      finished++;
      if (Boolean(p['--progress']) || io.errIsTty) {
        const line = `${finished}/${total} rows, ${secs((performance.now() - t0) / 1000)} s`;
        io.err(io.errIsTty ? `\r\x1b[K${line}` : `${line}\n`);
      }
      if (json) return;
      if (io.errIsTty) io.err('\r\x1b[K');
      const cells = invs.map((i) => cell(row, i).padEnd(9)).join(' ');
      const design = byId.get(row.design)!;
      const own = (design.invariants ?? []).map((i) => `${i.short}: ${cell(row, i.id)}`).join(', ');
      io.out(`${row.design.padEnd(dw)}  ${overridesText(row.overrides).padEnd(cw)}  ${cells}  ${num(row.report.states).padStart(11)}  ${secs(row.report.seconds).padStart(6)}${own ? `  ${own}` : ''}${row.interrupted ? '  (interrupted)' : ''}\n`);
    },
  }).finally(stop.release);
  const interrupted = stop.signal() !== undefined;
  if (io.errIsTty) io.err('\r\x1b[K');
  const seconds = (performance.now() - t0) / 1000;
  const mismatches = rows.flatMap((r) => r.mismatches);
  const moved = baseline !== undefined ? compareBaseline(rows, baseline, interrupted) : [];
  const incomplete = rows.filter((r) => !r.report.complete && r.report.stoppedBy !== 'all-violated' && !r.interrupted);
  // A baseline of the rows one run got to would report every other row gone next time.
  const writing = p['--write-baseline'] !== undefined && !interrupted;
  if (writing) writeBaseline(p['--write-baseline'] as string, rows);
  if (json) {
    io.out(JSON.stringify({
      seconds: Number(seconds.toFixed(3)),
      ok: mismatches.length === 0 && moved.length === 0 && !interrupted,
      complete: !interrupted,
      ...(interrupted ? { stoppedBy: 'interrupted', rowsDone: rows.length, rowsPlanned: total } : {}),
      mismatches,
      ...(baseline !== undefined ? { moved } : {}),
      rows: rows.map((r) => ({
        design: r.design,
        config: r.report.config,
        overrides: r.overrides,
        why: r.why,
        complete: r.report.complete,
        ...(r.interrupted ? { interrupted: true } : {}),
        states: r.report.states,
        transitions: r.report.transitions,
        depth: r.report.depth,
        seconds: Number(r.report.seconds.toFixed(3)),
        results: r.report.results.map((x) => ({
          invariant: x.invariant,
          verdict: x.verdict,
          expected: r.expected[x.invariant],
          ...(x.depth !== undefined ? { depth: x.depth } : {}),
          ...(x.message !== undefined ? { message: x.message } : {}),
          ...(x.unreached ? { unreached: true } : {}),
        })),
      })),
    }, null, 2) + '\n');
  } else {
    const bounds = new Map<string, string>();
    for (const r of rows) if (!bounds.has(r.design)) bounds.set(r.design, describeConfig(resolveConfig(byId.get(r.design)!)));
    const smaller = rows.flatMap((r) => {
      const e = byId.get(r.design)!.expect.find((x) => overridesText(x.config ?? {}) === overridesText(r.overrides));
      return e?.smaller !== undefined ? [`  ${r.design} ${overridesText(r.overrides)}: ${e.smaller}`] : [];
    });
    if (smaller.length > 0) io.out(`\nbounds smaller than designs.md suggests:\n${smaller.join('\n')}\n`);
    io.out('\ndefault bounds:\n');
    for (const [d, b] of bounds) io.out(`  ${d.padEnd(dw)}  ${b}\n`);
    const cut = rows.filter((r) => r.interrupted).length;
    if (interrupted) io.out(`\ninterrupted: ${rows.length} of ${total} rows run${cut > 0 ? `, ${cut === 1 ? 'one' : cut} of them stopped part way (marked; ${cut === 1 ? 'its' : 'their'} unknown cells are not compared)` : ''}\n`);
    io.out(`\n${rows.length} checks in ${secs(seconds)} s: `);
    if (mismatches.length === 0) io.out('every verdict as expected\n');
    else io.out(`${mismatches.length} verdict${mismatches.length === 1 ? '' : 's'} differ from the expected:\n${mismatches.map((m) => `  ${m}`).join('\n')}\n`);
    if (incomplete.length > 0) io.out(`${incomplete.length} search${incomplete.length === 1 ? ' was' : 'es were'} cut short by the time budget\n`);
    if (baseline !== undefined) {
      if (moved.length === 0) io.out(`state and transition counts as in ${p['--baseline']}\n`);
      else io.out(`${moved.length} change${moved.length === 1 ? '' : 's'} against ${p['--baseline']}:\n${moved.map((x) => `  ${x}`).join('\n')}\n`);
    }
    if (writing) io.out(`baseline written to ${p['--write-baseline']}\n`);
    else if (p['--write-baseline'] !== undefined) io.out(`baseline not written: the run was interrupted\n`);
  }
  if (mismatches.length > 0 || moved.length > 0) return 1;
  return incomplete.length > 0 || interrupted ? 3 : 0;
}

const DOCS_FLAGS: Record<string, FlagKind> = {
  '--check': 'bool',
  '--dir': 'string',
  '--workers': 'int',
};

async function runDocs(argv: readonly string[], io: Io): Promise<number> {
  const p = parseFlags('docs', argv, DOCS_FLAGS);
  const dir = (p['--dir'] as string | undefined) ?? 'docs';
  const rows = await runMatrix({ traces: true, ...(p['--workers'] !== undefined ? { workers: Math.max(1, p['--workers'] as number) } : {}) });
  const pages = designPages(dir, DESIGNS, rows);
  if (p['--check']) {
    const stale = stalePages(pages);
    if (stale.length === 0) {
      io.out(`${pages.size} design pages up to date\n`);
      return 0;
    }
    io.out(`${stale.length} design page${stale.length === 1 ? ' is' : 's are'} out of date (run npx hintcheck docs):\n${stale.map((x) => `  ${x}`).join('\n')}\n`);
    return 1;
  }
  const changed = writePages(pages);
  io.out(`${pages.size} design pages in ${dir}/designs, ${changed.length} rewritten\n`);
  return 0;
}

export async function main(argv: readonly string[], io: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  errIsTty: Boolean(process.stderr.isTTY),
}): Promise<number> {
  try {
    const cmd = argv.length > 0 ? argv[0] : undefined;
    const rest = argv.slice(1);
    return await match(cmd)
      .with('check', () => runCheck(rest, io))
      .with('list', () => runList(rest, io))
      .with('matrix', () => runMatrixCmd(rest, io))
      .with('docs', () => runDocs(rest, io))
      .with('replay', () => runReplay(rest, io))
      .with('merge', () => runMerge(rest, io))
      .with('help', '--help', '-h', undefined, () => {
        io.out(HELP + '\n');
        return cmd === undefined ? 2 : 0;
      })
      .otherwise(() => {
        throw new UsageError(`unknown command '${cmd}': accepted check, replay, merge, matrix, list, docs, help`);
      });
  } catch (e) {
    return reportError(e, argv.includes('--json'), io);
  }
}

/**
 * An error as the command line shows it: one line on stderr (and under
 * --json one object on stdout), and its kind's exit code. A bug of ours
 * says so, and shows its stack only with HINTCHECK_DEBUG=1.
 */
export function reportError(e: unknown, json: boolean, io: Io): number {
  const kind = errorKind(e);
  if (json) io.out(JSON.stringify(errorJson(e)) + '\n');
  const line = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');
  if (kind === 'internal') {
    io.err(`hintcheck: internal error: ${line} (a bug in hintcheck, exit code 4; HINTCHECK_DEBUG=1 shows where)\n`);
    if (process.env.HINTCHECK_DEBUG === '1' && e instanceof Error && e.stack !== undefined) io.err(`${e.stack}\n`);
  } else {
    io.err(`hintcheck: ${line}\n`);
    if (process.env.HINTCHECK_DEBUG === '1' && e instanceof Error && e.stack !== undefined) io.err(`${e.stack}\n`);
  }
  return exitCodeOf(e);
}
