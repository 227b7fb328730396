import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { designPages, stalePages } from '../src/docs.js';
import { compareBaseline, readBaseline, runMatrix } from '../src/matrix.js';
import { DESIGNS } from '../src/model/designs/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));

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
});
