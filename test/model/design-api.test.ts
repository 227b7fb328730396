
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { hintcheck, root } from '../helpers.js';

const run = hintcheck;

describe('the worked example of docs/writing-a-design.md', () => {
  it('checks a design written only against the public API from its own file', () => {
    const r = run(['check', '--design-file', 'examples/page-reporting.ts']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('design: my-reporting - Condensed page reporting');
    expect(r.out).toMatch(/search: complete, 3,419 states, 9,988 transitions/);
    for (const inv of ['no-hint-under-zone-lock', 'no-reuse-while-hinting', 'allocator-conservation', 'no-missed-hints', 'no-backed-free-blocks']) {
      expect(r.out).toContain(`holds     ${inv}`);
    }
    expect(r.out).toContain('violated  no-double-report  (shortest counterexample: 1 step; accepted by the design)');
  });

  it('catches the bug the guide introduces, with the counterexample the guide prints', () => {
    const r = run(['check', '--design-file', 'examples/page-reporting.ts', '--invariant', 'no-missed-hints'], { BUGGY: '1' });
    expect(r.code).toBe(1);
    expect(r.out).toContain('violated  no-missed-hints  (shortest counterexample: 10 steps)');
    expect(r.out).toContain('quiescent, yet page 0 of the free order-2 block at page 0, owed a hint since a free put it there, is still backed by the host');
    // The free of step 6 is what asked for the hint.
    expect(r.out).toMatch(/ {2}6\. vcpu1 +free_one_page[^]*page 0: owed false -> true[^]* {2}7\. vcpu1/);
    expect(r.out).toMatch(/ {2}9\. reporter +page_reporting_drain/);
    expect(r.out).toContain('page 0: free-head(1) -> free-head(2, reported)');
    expect(r.out).toMatch(/ 10\. reporter +page_reporting_cycle/);
  });

  it('runs the example through the matrix against its own expectations', () => {
    const r = run(['matrix', '--design-file', 'examples/page-reporting.ts', '--workers', '1']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('1 checks in');
    expect(r.out).toContain('every verdict as expected');
    const bug = run(['matrix', '--design-file', 'examples/page-reporting.ts', '--workers', '2'], { BUGGY: '1' });
    expect(bug.code).toBe(0);
    expect(bug.out).toMatch(/my-reporting-buggy +defaults +holds +holds +- +holds +viol@10/);
  });

  it('works as a library: import { defineDesign, check } from hintcheck', async () => {
    // The built package, as a user's code imports it (npm test builds it first).
    const lib = await import('../../dist/index.js');
    const [design] = await lib.loadDesignFile(`${root}/examples/page-reporting.ts`);
    const report = lib.check(design, { invariants: ['no-reuse-while-hinting'] });
    expect(report.results[0].verdict).toBe('holds');
    expect(report.states).toBe(3419);
  });
});

describe('design errors', () => {
  it.each([
    ['throws.ts', /design throws \(test\/fixtures\/throws\.ts\): step worker start threw Error: boom; in state \{/],
    ['out-of-domain.ts', /step worker start wrote 7 outside its field's domain \(worker\.phase = 7 \(domain 0\.\.1\)\)/],
    ['nondeterministic.ts', /step worker flip is not deterministic/],
    ['writes-when-disabled.ts', /step worker peek returned false \(not enabled\) but changed the state/],
    ['syntax-error.ts', /design file test\/fixtures\/syntax-error\.ts:\d+:\d+: /],
    ['no-design.js', /design file test\/fixtures\/no-design\.js exports no design/],
    ['missing.ts', /design file test\/fixtures\/missing\.ts: no such file/],
  ])('%s is a design error, exit 2, never a verdict', (file, message) => {
    const r = run(['check', '--design-file', `test/fixtures/${file}`]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
    expect(r.err).not.toMatch(/\n\s+at .*\.js:\d+/);
  });

  it('is typed: a forgotten phase or a misspelt enum value does not compile', () => {
    const file = fileURLToPath(new URL('../fixtures/forgets-a-phase.ts', import.meta.url));
    const program = ts.createProgram([file], { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, types: ['node'], skipLibCheck: true });
    // Each @ts-expect-error must be needed: an unused one is itself an error.
    const diags = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '));
    expect(diags).toEqual([]);
  });
});
