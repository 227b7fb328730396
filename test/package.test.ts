/**
 * What `npm pack` ships: the built library and CLI, the docs, the example
 * design and the Promela model the SPIN benchmark runs; not the sources of
 * the tests or the test suite itself. And what an installed copy needs to
 * type-check a design file (Node's types, for `process.env` in the example).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('the npm package', () => {
  it('ships dist, bin, the docs, the example and the Promela model, and no tests', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
    for (const want of ['dist/index.js', 'dist/index.d.ts', 'dist/explorers/parallel/worker.js', 'dist/cli/main.js', 'bin/hintcheck.js', 'README.md', 'docs/writing-a-design.md', 'examples/page-reporting.ts', 'bench/page_reporting.pml', 'package.json']) {
      expect(files, want).toContain(want);
    }
    // The TypeScript sources stay behind: the package runs what dist/ holds.
    const shipped = (f: string): boolean => ['dist/', 'bin/', 'docs/', 'examples/'].some((d) => f.startsWith(d)) || ['README.md', 'package.json', 'LICENSE', 'bench/page_reporting.pml'].includes(f);
    expect(files.filter((f) => !shipped(f))).toEqual([]);
  });

  it('depends on what a design file is type-checked against at run time', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(pkg.dependencies)).toEqual(expect.arrayContaining(['typescript', '@types/node']));
  });
});
