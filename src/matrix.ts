/**
 * The regression matrix: every design at each configuration it declares,
 * against every invariant that applies there, compared with the verdicts the
 * design expects. A verdict that moves is a finding: either the model
 * changed or the expectation was wrong, and the table says which cell moved.
 */
import { check, type CheckReport, type Verdict } from './check.js';
import { invariantsFor } from './invariants/index.js';
import type { Config } from './model/config.js';
import { DESIGNS } from './model/designs/index.js';
import type { Design } from './model/types.js';
import type { Progress } from './explorers/exhaustive.js';

export interface MatrixRow {
  readonly design: string;
  readonly overrides: Partial<Config>;
  readonly why: string;
  readonly expected: Readonly<Record<string, Verdict>>;
  readonly report: CheckReport;
  /** One sentence per cell whose verdict is not the expected one. */
  readonly mismatches: readonly string[];
}

export interface MatrixOptions {
  readonly designs?: readonly Design[];
  readonly maxSeconds?: number;
  readonly onProgress?: (row: string, p: Progress) => void;
  readonly onRow?: (row: MatrixRow) => void;
}

/** Every applicable invariant: violated where the row lists it (accepted ones included), else holds. */
export function expectedVerdicts(design: Design, cfg: Config, violates: readonly string[]): Record<string, Verdict> {
  const out: Record<string, Verdict> = {};
  for (const inv of invariantsFor(design, cfg)) out[inv.id] = violates.includes(inv.id) ? 'violated' : 'holds';
  return out;
}

export function runMatrix(opts: MatrixOptions = {}): MatrixRow[] {
  const rows: MatrixRow[] = [];
  for (const d of opts.designs ?? DESIGNS) {
    for (const e of d.expect) {
      const label = `${d.id} ${JSON.stringify(e.config ?? {})}`;
      const report = check(d, {
        config: e.config ?? {},
        traces: false,
        ...(opts.maxSeconds !== undefined ? { maxSeconds: opts.maxSeconds } : {}),
        ...(opts.onProgress !== undefined ? { onProgress: (p: Progress) => opts.onProgress!(label, p) } : {}),
      });
      const expected = expectedVerdicts(d, report.config, e.violates);
      const mismatches: string[] = [];
      for (const r of report.results) {
        const want = expected[r.invariant];
        if (r.verdict !== want) mismatches.push(`${d.id} ${overridesText(e.config ?? {})}: ${r.invariant} ${r.verdict}, expected ${want}`);
      }
      const row: MatrixRow = { design: d.id, overrides: e.config ?? {}, why: e.why, expected, report, mismatches };
      rows.push(row);
      opts.onRow?.(row);
    }
  }
  return rows;
}

export function overridesText(o: Partial<Config>): string {
  const names: Record<string, string> = { maxOrder: 'max-order', reportOrder: 'report-order' };
  const parts = Object.entries(o).map(([k, v]) => `${names[k] ?? k}=${v}`);
  return parts.length ? parts.join(' ') : 'defaults';
}
