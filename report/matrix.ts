/**
 * The regression matrix as the reader sees it: the table, one line per row
 * as rows finish, the summary under it, and the JSON of `matrix --json`.
 */
import { match } from 'ts-pattern';
import { INVARIANTS } from '../invariants/index.js';
import { describeConfig } from '../model/config.js';
import { resolveConfig } from '../model/system.js';
import type { Design } from '../model/types.js';
import { overridesText, type MatrixRow } from '../check/matrix/rows.js';
import { num, secs } from './format.js';

export const MATRIX_LEGEND =
  'hintcheck matrix: every design at its declared bounds; cells are verdicts (viol@N: shortest counterexample of N steps; acc@N: a violation the design accepts; ! marks an unexpected verdict; holds°: its precondition never happened, so it proves nothing here)';

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

/** The table's columns, sized for these designs: its header, and a row's line. */
export function matrixTable(designs: readonly Design[]): { readonly header: string; readonly line: (row: MatrixRow) => string } {
  const invs = INVARIANTS.map((i) => i.id);
  const dw = Math.max(...designs.map((d) => d.id.length));
  const cw = Math.max(8, ...designs.flatMap((d) => d.expect.map((e) => overridesText(e.config ?? {}).length)));
  const byId = new Map(designs.map((d) => [d.id, d]));
  return {
    header: `${'design'.padEnd(dw)}  ${'config'.padEnd(cw)}  ${INVARIANTS.map((i) => i.short.padEnd(9)).join(' ')}  ${'states'.padStart(11)}  ${'s'.padStart(6)}  design's own`,
    line: (row) => {
      const cells = invs.map((i) => cell(row, i).padEnd(9)).join(' ');
      const own = (byId.get(row.design)!.invariants ?? []).map((i) => `${i.short}: ${cell(row, i.id)}`).join(', ');
      return `${row.design.padEnd(dw)}  ${overridesText(row.overrides).padEnd(cw)}  ${cells}  ${num(row.report.states).padStart(11)}  ${secs(row.report.seconds).padStart(6)}${own ? `  ${own}` : ''}${row.interrupted ? '  (interrupted)' : ''}`;
    },
  };
}

/** What a matrix run came to, beside its rows. */
export interface MatrixOutcome {
  readonly designs: readonly Design[];
  readonly rows: readonly MatrixRow[];
  readonly seconds: number;
  /** Rows the run meant to check. */
  readonly planned: number;
  readonly interrupted: boolean;
  readonly mismatches: readonly string[];
  /** Counts that moved against the baseline, when one was given (its file name beside). */
  readonly baseline?: { readonly file: string; readonly moved: readonly string[] };
  /** Rows a time budget cut short. */
  readonly incomplete: readonly MatrixRow[];
  /** Where the baseline was written, or that it was not. */
  readonly wrote?: { readonly file: string; readonly written: boolean };
}

/** The lines under the table: smaller bounds, default bounds, and the verdict of the run. */
export function matrixSummary(o: MatrixOutcome): string {
  const byId = new Map(o.designs.map((d) => [d.id, d]));
  const dw = Math.max(...o.designs.map((d) => d.id.length));
  let out = '';
  const bounds = new Map<string, string>();
  for (const r of o.rows) if (!bounds.has(r.design)) bounds.set(r.design, describeConfig(resolveConfig(byId.get(r.design)!)));
  const smaller = o.rows.flatMap((r) => {
    const e = byId.get(r.design)!.expect.find((x) => overridesText(x.config ?? {}) === overridesText(r.overrides));
    return e?.smaller !== undefined ? [`  ${r.design} ${overridesText(r.overrides)}: ${e.smaller}`] : [];
  });
  if (smaller.length > 0) out += `\nbounds smaller than designs.md suggests:\n${smaller.join('\n')}\n`;
  out += '\ndefault bounds:\n';
  for (const [d, b] of bounds) out += `  ${d.padEnd(dw)}  ${b}\n`;
  const cut = o.rows.filter((r) => r.interrupted).length;
  if (o.interrupted) out += `\ninterrupted: ${o.rows.length} of ${o.planned} rows run${cut > 0 ? `, ${cut === 1 ? 'one' : cut} of them stopped part way (marked; ${cut === 1 ? 'its' : 'their'} unknown cells are not compared)` : ''}\n`;
  out += `\n${o.rows.length} checks in ${secs(o.seconds)} s: `;
  if (o.mismatches.length === 0) out += 'every verdict as expected\n';
  else out += `${o.mismatches.length} verdict${o.mismatches.length === 1 ? '' : 's'} differ from the expected:\n${o.mismatches.map((m) => `  ${m}`).join('\n')}\n`;
  if (o.incomplete.length > 0) out += `${o.incomplete.length} search${o.incomplete.length === 1 ? ' was' : 'es were'} cut short by the time budget\n`;
  if (o.baseline !== undefined) {
    const { file, moved } = o.baseline;
    if (moved.length === 0) out += `state and transition counts as in ${file}\n`;
    else out += `${moved.length} change${moved.length === 1 ? '' : 's'} against ${file}:\n${moved.map((x) => `  ${x}`).join('\n')}\n`;
  }
  if (o.wrote?.written) out += `baseline written to ${o.wrote.file}\n`;
  else if (o.wrote !== undefined) out += `baseline not written: the run was interrupted\n`;
  return out;
}

/** `matrix --json`. */
export function matrixJson(o: MatrixOutcome): Record<string, unknown> {
  return {
    seconds: Number(o.seconds.toFixed(3)),
    ok: o.mismatches.length === 0 && (o.baseline?.moved.length ?? 0) === 0 && !o.interrupted,
    complete: !o.interrupted,
    ...(o.interrupted ? { stoppedBy: 'interrupted', rowsDone: o.rows.length, rowsPlanned: o.planned } : {}),
    mismatches: o.mismatches,
    ...(o.baseline !== undefined ? { moved: o.baseline.moved } : {}),
    rows: o.rows.map((r) => ({
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
  };
}
