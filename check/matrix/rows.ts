/**
 * One row of the matrix: the check a design's expectation names, and the
 * cells whose verdict is not the one expected. Both the matrix and its
 * worker threads run rows; neither imports the other.
 */
import { check } from '../check.js';
import type { CheckOptions } from '../options.js';
import type { CheckReport, Verdict } from '../verdicts.js';
import { invariantsFor } from '../../invariants/index.js';
import type { Config } from '../../model/config.js';
import type { Design } from '../../model/types.js';

export interface MatrixRow {
  readonly design: string;
  readonly overrides: Partial<Config>;
  readonly why: string;
  readonly expected: Readonly<Record<string, Verdict>>;
  readonly report: CheckReport;
  /** The row a signal stopped: its unknown cells are not compared. */
  readonly interrupted?: boolean;
  /** One sentence per cell whose verdict is not the expected one. */
  readonly mismatches: readonly string[];
}

/** Every applicable invariant: violated where the row lists it (accepted ones included), else holds. */
export function expectedVerdicts(design: Design, cfg: Config, violates: readonly string[]): Record<string, Verdict> {
  const out: Record<string, Verdict> = {};
  for (const inv of invariantsFor(design, cfg)) out[inv.id] = violates.includes(inv.id) ? 'violated' : 'holds';
  return out;
}

export function overridesText(o: Partial<Config>): string {
  const names: Record<string, string> = { maxOrder: 'max-order', reportOrder: 'report-order' };
  const parts = Object.entries(o).map(([k, v]) => `${names[k] ?? k}=${v}`);
  return parts.length ? parts.join(' ') : 'defaults';
}

export function rowOptions(design: Design, row: number, maxSeconds?: number, traces = false, interrupt?: Int32Array): CheckOptions {
  const e = design.expect[row];
  return { config: e.config ?? {}, traces, ...(maxSeconds !== undefined ? { maxSeconds } : {}), ...(interrupt !== undefined ? { interrupt } : {}) };
}

/** One row's check, as a worker runs it. */
export function runRow(design: Design, row: number, maxSeconds?: number, traces = false, interrupt?: Int32Array): CheckReport {
  return check(design, rowOptions(design, row, maxSeconds, traces, interrupt));
}

export function finish(design: Design, row: number, report: CheckReport): MatrixRow {
  const e = design.expect[row];
  const expected = expectedVerdicts(design, report.config, e.violates);
  const interrupted = report.stoppedBy === 'interrupted';
  const mismatches: string[] = [];
  for (const r of report.results) {
    const want = expected[r.invariant];
    // A stopped row proves nothing where it did not get to a verdict; a violation it found still counts.
    if (interrupted && r.verdict === 'unknown') continue;
    if (r.verdict !== want) mismatches.push(`${design.id} ${overridesText(e.config ?? {})}: ${r.invariant} ${r.verdict}, expected ${want}`);
  }
  return { design: design.id, overrides: e.config ?? {}, why: e.why, expected, report, mismatches, ...(interrupted ? { interrupted } : {}) };
}

