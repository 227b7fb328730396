import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { designPages, stalePages } from '../../report/docs.js';
import { compareBaseline, readBaseline, runMatrix } from '../../check/matrix/matrix.js';
import { DESIGNS } from '../../model/designs/index.js';
import { buildModel } from '../../model/system.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The regression matrix as CI runs it: every design at every configuration
 * it declares gives the verdicts it expects, the state and transition counts
 * match the committed baseline (regenerate with `npx hintcheck matrix
 * --write-baseline matrix-baseline.json` when a change is deliberate), and
 * the generated design pages are up to date (`npx hintcheck docs`).
 */
describe('the regression matrix', async () => {
  // One run (in this thread: the tests' workers already use the cores) serves all three checks.
  const rows = await runMatrix({ traces: true, workers: 1 });

  it('gives every design the verdicts it declares', () => {
    expect(rows.length).toBe(DESIGNS.reduce((n, d) => n + d.expect.length, 0));
    expect(rows.flatMap((r) => r.mismatches)).toEqual([]);
    expect(rows.every((r) => r.report.complete || r.report.stoppedBy === 'all-violated')).toBe(true);
  });

  it('moves no state or transition count against matrix-baseline.json', () => {
    expect(compareBaseline(rows, readBaseline(`${root}/matrix-baseline.json`))).toEqual([]);
  });

  it('leaves the generated design pages in docs/designs up to date', () => {
    const pages = designPages(`${root}/docs`, DESIGNS, rows);
    expect(pages.size).toBe(DESIGNS.length);
    expect(stalePages(pages).map((p) => p.slice(root.length))).toEqual([]);
  });

  it('prints messages that name only actors acting in the concrete trace beside them, under each row\'s reductions', () => {
    let cells = 0;
    const wrong: string[] = [];
    for (const row of rows) {
      const m = buildModel(DESIGNS.find((d) => d.id === row.design)!, row.report.config);
      for (const r of row.report.results) {
        if (r.verdict !== 'violated' || r.trace === undefined) continue;
        cells++;
        const acting = new Set(r.trace.steps.map((s) => s.actor));
        // The host is named as where memory lives ("the host does not back"), not as one who acted.
        for (const n of m.actors.filter((a) => a !== 'host')) {
          if (new RegExp(`\\b${n}\\b`).test(r.message!) && !acting.has(n)) wrong.push(`${row.design} ${r.invariant}: "${r.message}" names ${n}, which takes no step`);
        }
      }
    }
    expect(cells).toBeGreaterThan(50);
    expect(wrong).toEqual([]);
  });
});
