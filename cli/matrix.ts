/** `hintcheck matrix`: every design at its declared bounds, against its expectations and a baseline. */
import { DESIGNS } from '../model/designs/index.js';
import { loadDesignFile } from '../check/load/load.js';
import { compareBaseline, readBaseline, runMatrix, writeBaseline } from '../check/matrix/matrix.js';
import { secs } from '../report/format.js';
import { MATRIX_LEGEND, matrixJson, matrixSummary, matrixTable, type MatrixOutcome } from '../report/matrix.js';
import { parseFlags, type FlagKind, type Io } from './args.js';
import { onInterrupt } from './interrupt.js';

const MATRIX_FLAGS: Record<string, FlagKind> = {
  '--json': 'bool',
  '--progress': 'bool',
  '--max-seconds': 'number',
  '--design-file': 'string',
  '--workers': 'int',
  '--baseline': 'string',
  '--write-baseline': 'string',
};

export async function runMatrixCmd(argv: readonly string[], io: Io): Promise<number> {
  const p = parseFlags('matrix', argv, MATRIX_FLAGS);
  const file = p['--design-file'] as string | undefined;
  const designs = file !== undefined ? await loadDesignFile(file) : DESIGNS;
  const baselineFile = p['--baseline'] as string | undefined;
  const baseline = baselineFile !== undefined ? readBaseline(baselineFile) : undefined;
  const json = Boolean(p['--json']);
  const table = matrixTable(designs);
  if (!json) io.out(`${MATRIX_LEGEND}\n\n${table.header}\n`);
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
      io.out(table.line(row) + '\n');
    },
  }).finally(stop.release);
  const interrupted = stop.signal() !== undefined;
  if (io.errIsTty) io.err('\r\x1b[K');
  const target = p['--write-baseline'] as string | undefined;
  // A baseline of the rows one run got to would report every other row gone next time.
  const writing = target !== undefined && !interrupted;
  if (writing) writeBaseline(target, rows);
  const outcome: MatrixOutcome = {
    designs,
    rows,
    seconds: (performance.now() - t0) / 1000,
    planned: total,
    interrupted,
    mismatches: rows.flatMap((r) => r.mismatches),
    ...(baseline !== undefined ? { baseline: { file: baselineFile!, moved: compareBaseline(rows, baseline, interrupted) } } : {}),
    incomplete: rows.filter((r) => !r.report.complete && r.report.stoppedBy !== 'all-violated' && !r.interrupted),
    ...(target !== undefined ? { wrote: { file: target, written: writing } } : {}),
  };
  io.out(json ? JSON.stringify(matrixJson(outcome), null, 2) + '\n' : matrixSummary(outcome));
  if (outcome.mismatches.length > 0 || (outcome.baseline?.moved.length ?? 0) > 0) return 1;
  return outcome.incomplete.length > 0 || interrupted ? 3 : 0;
}
