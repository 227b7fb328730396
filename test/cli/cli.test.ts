
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';
import { hintcheck } from '../helpers.js';

const run = (...args: string[]) => hintcheck(args);

describe('hintcheck check', () => {
  it('exits 0 when every invariant holds after a complete search', () => {
    const r = run('check', '--design', 'd5-page-reporting', '--pages', '4', '--capacity', '1', '--watermark-min', '0');
    expect(r.code).toBe(0);
    expect(r.out).toContain('bounds: cpus=2 pages=4 max-order=2 report-order=1 capacity=1 poison=off host=dontneed watermark-min=0 low=0');
    expect(r.out).toMatch(/search: complete, [\d,]+ states, [\d,]+ transitions, depth \d+, [\d.]+ s, [\d,]+ states\/s/);
    expect(r.out).toContain('holds     no-missed-hints');
  });

  it('exits 1 on a violation and prints the shortest counterexample as numbered steps', () => {
    const r = run('check', '--design', 'd5-report-under-lock');
    expect(r.code).toBe(1);
    expect(r.out).toContain('violated  no-hint-under-zone-lock  (shortest counterexample: 4 steps)');
    expect(r.out).toContain('no-hint-under-zone-lock violated: reporter issued a hint while holding the zone lock');
    expect(r.out).toMatch(/ {2}1\. reporter +page_reporting_process/);
    expect(r.out).toMatch(/ {2}4\. reporter +report +virtballoon_free_page_report\(\)/);
    expect(r.out).toContain('zone lock: free -> reporter');
  });

  it('exits 3 and says unknown when a budget cuts the search short', () => {
    const r = run('check', '--design', 'd5-page-reporting', '--max-states', '500');
    expect(r.code).toBe(3);
    expect(r.out).toContain('cut short (max-states)');
    expect(r.out).toContain('unknown   no-hint-under-zone-lock');
    expect(r.out).not.toMatch(/^ +holds/m);
  });

  it('prints one JSON object with the documented shape', () => {
    const r = run('check', '--design', 'd5-no-isolate', '--invariant', 'no-reuse-while-hinting', '--invariant', 'no-hint-under-zone-lock', '--json');
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(Object.keys(j)).toEqual(expect.arrayContaining(['design', 'config', 'complete', 'states', 'transitions', 'depth', 'seconds', 'results']));
    expect(j.design).toBe('d5-no-isolate');
    expect(j.config).toEqual({ cpus: 2, pages: 4, maxOrder: 1, reportOrder: 1, capacity: 1, poison: 'off', host: 'dontneed', mutant: 'none', watermarkMin: 0, migratetypes: 'off' });
    expect(j.results.map((x: { invariant: string }) => x.invariant)).toEqual(['no-reuse-while-hinting', 'no-hint-under-zone-lock']);
    const v = j.results[0];
    expect(v.verdict).toBe('violated');
    expect(v.trace).toHaveLength(v.depth);
    expect(v.trace[0]).toEqual(expect.objectContaining({ step: 1, actor: 'reporter', action: 'page_reporting_process', args: {} }));
    const changes = v.trace.flatMap((step: { changes: object[] }) => step.changes);
    expect(changes).toContainEqual(expect.objectContaining({ group: 'memory', field: 'inflight', from: 'none', to: 'hinted' }));
    expect(j.results[1]).toEqual({ invariant: 'no-hint-under-zone-lock', verdict: 'holds' });
  });

  it('names the reductions it used, and stops with unknown at the memory limit', () => {
    const sym = JSON.parse(run('check', '--design', 'spin-reference', '--cpus', '3', '--pages', '5', '--capacity', '3', '--json').out);
    expect(sym.reductions).toEqual({ symmetry: true, partialOrder: true, represented: expect.any(Number), symmetryFactor: expect.any(Number) });
    const none = run('check', '--design', 'spin-reference', '--cpus', '3', '--pages', '5', '--capacity', '3', '--reduce', 'none');
    expect(none.code).toBe(0);
    expect(none.out).toMatch(/search: complete, 943,809 states, 3,054,674 transitions/);
    expect(none.out).toMatch(/reductions: none/);
    const text = run('check', '--design', 'spin-reference', '--cpus', '3', '--pages', '5', '--capacity', '3', '--reduce', 'symmetry');
    expect(text.out).toMatch(/reductions: symmetry; [\d,]+ canonical states stand for 943,809 \(×[\d.]+\)/);
    const capped = run('check', '--design', 'spin-reference', '--cpus', '3', '--pages', '5', '--capacity', '3', '--reduce', 'none', '--max-memory', '4M');
    expect(capped.code).toBe(3);
    expect(capped.out).toMatch(/cut short \(memory-limit\)/);
    expect(capped.out).toMatch(/memory limit of 4 MiB/);
    expect(capped.out).toMatch(/unknown +no-hint-under-zone-lock/);
  });

  it('shows progress on stderr when asked', () => {
    const r = run('check', '--design', 'd5-page-reporting', '--cpus', '3', '--max-seconds', '2.5', '--progress', '--invariant', 'no-hint-under-zone-lock');
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/states [\d,]+ \([\d,]+\/s\), transitions [\d,]+, queue [\d,]+, depth \d+/);
  });

  it.each([
    [['check', '--design', 'd9'], /unknown design 'd9': accepted d1-arch-free-page, /],
    [['check'], /--design is required/],
    [['check', '--design', 'd5-page-reporting', '--invariant', 'nope'], /unknown invariant 'nope': accepted no-hint-under-zone-lock/],
    [['check', '--design', 'd5-page-reporting', '--invariant', 'poison-reads-back'], /poison-reads-back' says nothing in this configuration: it needs --poison on or init-on-free/],
    [['check', '--design', 'd5-page-reporting', '--cpus', '0'], /--cpus 0 is out of range: accepted 1\.\.6/],
    [['check', '--design', 'd5-page-reporting', '--pages', '0'], /--pages 0 is out of range/],
    [['check', '--design', 'd5-page-reporting', '--pages', '6'], /--pages 6 is not a multiple of the largest block \(2\^2 = 4 pages\)/],
    [['check', '--design', 'd5-page-reporting', '--report-order', '3'], /--report-order 3 is out of range: accepted 0\.\.2/],
    [['check', '--design', 'd5-page-reporting', '--report-order', '2'], /^hintcheck: d5-page-reporting at cpus=2 pages=8 .*: page_reporting_process_zone\(\) starts a pass only above low_wmark \+ \(CAPACITY << R\) = 9 free pages, and the zone has 8: no pass could ever run; lower --capacity, --report-order or --watermark-min, or raise --pages\n?$/],
    [['check', '--design', 'd5-page-reporting', '--watermark-min', '9'], /--watermark-min 9 is out of range: accepted 0\.\.8/],
    [['check', '--design', 'd1-arch-free-page', '--watermark-min', '1'], /--watermark-min: design d1-arch-free-page reads no zone watermarks/],
    [['check', '--design', 'd5-page-reporting', '--poison', 'maybe'], /--poison maybe is unknown: accepted off, on, init-on-free/],
    [['check', '--design', 'd5-page-reporting', '--host', 'balloon'], /--host balloon is unknown: accepted dontneed, madv-free/],
    [['check', '--design', 'd5-page-reporting', '--cpus', 'two'], /--cpus two is not a whole number/],
    [['check', '--design', 'd5-page-reporting', '--frobnicate'], /unknown option '--frobnicate': accepted --design, --design-file, --cpus/],
    [['check', '--design'], /--design needs a value/],
    [['check', '--design', 'd5-page-reporting', '--reduce', 'half'], /--reduce half is unknown: accepted none, symmetry, por, all/],
    [['check', '--design', 'd3c-bitmap', '--reduce', 'symmetry'], /d3c-bitmap declares no symmetry: accepted none/],
    [['check', '--design', 'spin-reference', '--max-memory', 'lots'], /--max-memory lots is not a size: accepted a number of bytes with K, M, G or T/],
    [['launch'], /unknown command 'launch': accepted check, replay, merge, matrix, list, docs, help/],
  ])('rejects %j with one line and exit code 2', (args, message) => {
    const r = run(...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).not.toMatch(/\bat .*\.js:\d+/);
    expect(r.out).toBe('');
  });
});

describe('hintcheck list', () => {
  it('names designs, host modes and invariants with one line each', () => {
    const r = run('list');
    expect(r.code).toBe(0);
    for (const word of ['d1-arch-free-page', 'd5-page-reporting', 'd5-report-under-lock', 'd5-no-isolate', 'd5-ack-before-discard', 'd1-hint-after-poison',
      'dontneed', 'madv-free', 'poison-on-fault', 'skip-if-poisoned',
      'no-hint-under-zone-lock', 'no-reuse-while-hinting', 'poison-reads-back', 'allocator-conservation', 'no-missed-hints']) {
      expect(r.out.split('\n').filter((l) => l.includes(` ${word} `) || l.trim().startsWith(word) || l.includes(`. ${word}`))).toHaveLength(1);
    }
  });
});

describe('hintcheck matrix', () => {
  // The full matrix runs in test/check/matrix.test.ts; here the command itself, on the example design.
  it('prints the table and exits 0 when no verdict moved', () => {
    const r = run('matrix', '--design-file', 'examples/page-reporting.ts');
    expect(r.code).toBe(0);
    expect(r.out).toContain('every verdict as expected');
    expect(r.out).toMatch(/my-reporting +defaults +holds +holds +- +holds +holds +acc@1 +acc@2/);
  });

  it('gives the same table as JSON', () => {
    const r = run('matrix', '--design-file', 'examples/page-reporting.ts', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.ok).toBe(true);
    expect(j.rows).toHaveLength(1);
    expect(j.rows[0].results.find((x: { invariant: string }) => x.invariant === 'no-missed-hints')).toEqual({ invariant: 'no-missed-hints', verdict: 'holds', expected: 'holds' });
  });

  it('exits 1 naming the rows whose counts moved against a baseline, 2 on a corrupt one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hintcheck-'));
    const file = join(dir, 'base.json');
    expect(run('matrix', '--design-file', 'examples/page-reporting.ts', '--write-baseline', file).code).toBe(0);
    expect(run('matrix', '--design-file', 'examples/page-reporting.ts', '--baseline', file).code).toBe(0);
    const base = JSON.parse(readFileSync(file, 'utf8'));
    base.rows[0].states += 10;
    writeFileSync(file, JSON.stringify(base));
    const moved = run('matrix', '--design-file', 'examples/page-reporting.ts', '--baseline', file);
    expect(moved.code).toBe(1);
    expect(moved.out).toMatch(/my-reporting defaults: states 3,429 -> 3,419 \(-0\.3%\)/);
    writeFileSync(file, '{"rows": 3');
    const bad = run('matrix', '--baseline', file);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--baseline .*base\.json: cannot be read as JSON/);
  });
});
