import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';
import { bin, hintcheck, root } from '../helpers.js';
import { reportError } from '../../cli/main.js';
import { DesignError, InternalError } from '../../model/errors.js';

/**
 * What a verdict rests on: edge invariants that run, design files that are
 * type-checked, every mistake reported as a design or usage error in one
 * line (and one JSON object), replays that work as printed, and searches
 * that report what they have when a signal stops them.
 */
// One cache of type-checked files for this test file, not the user's.
const cache = mkdtempSync(join(tmpdir(), 'hintcheck-cache-'));

function run(args: string[], env: Record<string, string> = {}) {
  return hintcheck(args, { HINTCHECK_CACHE: cache, ...env });
}

/** Run, send `signal` once stderr matches `when`, and collect what the process prints. */
function interrupted(args: string[], when: RegExp, signal: NodeJS.Signals = 'SIGINT'): Promise<{ code: number | null; out: string; err: string; afterSignalMs: number }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, HINTCHECK_CACHE: cache } });
    let out = '';
    let err = '';
    let sentAt = 0;
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (sentAt === 0 && when.test(err)) {
        sentAt = performance.now();
        p.kill(signal);
      }
    });
    p.on('close', (code) => resolve({ code, out, err, afterSignalMs: performance.now() - sentAt }));
  });
}

/** A design error as the command line reports it: exit 2, one line, no stack, and under --json one object. */
function expectDesignError(args: string[], message: RegExp, fields: Record<string, string>): void {
  const r = run(args);
  expect(r.code).toBe(2);
  expect(r.out).toBe('');
  expect(r.err.trimEnd().split('\n')).toHaveLength(1);
  expect(r.err).toMatch(/^hintcheck: /);
  expect(r.err).toMatch(message);
  const j = run([...args, '--json']);
  expect(j.code).toBe(2);
  const e = JSON.parse(j.out) as { error: Record<string, string> };
  expect(e.error).toMatchObject({ kind: 'design', ...fields });
  expect(e.error.message).toMatch(message);
}

describe('edge invariants run on every transition their contract covers', () => {
  it('a design-owned edge invariant on a step that raises no event: violated in 1 step', () => {
    const r = run(['check', '--design-file', 'test/fixtures/edge-repro.ts']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('violated  flag-never-rises  (shortest counterexample: 1 step)');
    expect(r.out).toMatch(/flag-never-rises violated: toy\.flag rose\n.*\n {2}1\. toy +raise/);
    // The matrix shows the cell, and the random walks find it too.
    expect(run(['matrix', '--design-file', 'test/fixtures/edge-repro.ts', '--workers', '1']).out).toMatch(/edge-repro +defaults .* flag: viol@1\n/);
    const w = run(['check', '--design-file', 'test/fixtures/edge-repro.ts', '--explorer', 'random', '--runs', '20', '--invariant', 'flag-never-rises']);
    expect(w.code).toBe(1);
    expect(w.out).toMatch(/VIOLATED +flag-never-rises/);
  });

  it('an edge invariant that reads the action, with no precondition: violated in 1 step, not unreached', () => {
    const r = run(['check', '--design-file', 'test/fixtures/action-probe.ts', '--invariant', 'ticker-never-acts']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('violated  ticker-never-acts  (shortest counterexample: 1 step)');
    expect(r.out).not.toContain('unreached');
  });

  it('an invariant that declares its events is spot-checked: a lie is a design error, never a verdict', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hintcheck-lie-'));
    const file = join(dir, 'lies.ts');
    // The same invariant, claiming it only looks at steps that raise fakeOom.
    const src = readFileSync(`${root}/test/fixtures/edge-repro.ts`, 'utf8')
      .replace("reached: {", "events: ['fakeOom'],\n          reached: {")
      .replace("id: 'edge-repro'", "id: 'edge-lies'");
    writeFileSync(file, src);
    const r = run(['check', '--design-file', file]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/flag-never-rises.*events.*fakeOom/);
  });
});

describe('design files are type-checked before they run', () => {
  it('a misspelt enum value in TypeScript: file:line:col and the compiler message, exit 2', () => {
    expectDesignError(['check', '--design-file', 'test/fixtures/enum-typo.ts'], /test\/fixtures\/enum-typo\.ts:14:\d+: error TS\d+: Property 'lound' does not exist on type .*Did you mean 'loud'\?$/m, { file: 'test/fixtures/enum-typo.ts' });
  });

  it('the same typo in a file that opts out of checking: the kit\'s runtime guard names it', () => {
    expectDesignError(['check', '--design-file', 'test/fixtures/enum-typo-unchecked.js'], /k\.is\.toy\.mode has no 'lound': accepted quiet, loud \(in step toy shout\)/, { design: 'enum-typo-unchecked' });
  });
});

describe('a design\'s mistakes are design errors: exit 2, one line naming it, one JSON object', () => {
  it('a field typo in an invariant names the group and the groups there are', () => {
    expectDesignError(['check', '--design-file', 'test/fixtures/field-typo.ts'], /design field-typo \(test\/fixtures\/field-typo\.ts\): the state has no group 'toyy' \(asked for toyy\.flag\): accepted .*\btoy\b/, {
      design: 'field-typo',
      invariant: 'flag-low',
    });
  });

  it('a state group named after one of the model\'s own', () => {
    expectDesignError(['check', '--design-file', 'test/fixtures/reserved-group.ts'], /state group 'zone' is the model's own; pick another name/, { design: 'reserved-group' });
  });

  it.each([
    ['unknown-skip', /skip names 'no-missed-hint', which is not a shared invariant: accepted .*no-missed-hints/],
    ['unknown-accepts', /accepts names 'no-fake-om', which is not an invariant of this design: accepted .*no-fake-oom/],
    ['unknown-expect', /expect\[0\]\.violates names 'no-missed-hint', which is not an invariant of this design: accepted .*no-missed-hints/],
  ])('a misspelt id in %s lists the known ones', (id, message) => {
    expectDesignError(['check', '--design-file', `test/fixtures/${id}.ts`], message, { design: id });
    // The matrix loads the same file and says the same.
    expect(run(['matrix', '--design-file', `test/fixtures/${id}.ts`]).code).toBe(2);
  });

  it('a bug of hintcheck\'s own exits 4, never 1, with its stack only under HINTCHECK_DEBUG=1', () => {
    const lines: string[] = [];
    const io = { out: (s: string) => lines.push(`out ${s}`), err: (s: string) => lines.push(`err ${s}`), errIsTty: false };
    const debug = process.env.HINTCHECK_DEBUG;
    delete process.env.HINTCHECK_DEBUG;
    try {
      expect(reportError(new InternalError('no concrete step raises it again'), true, io)).toBe(4);
      expect(lines).toEqual([
        'out {"error":{"kind":"internal","message":"internal error: no concrete step raises it again"}}\n',
        'err hintcheck: internal error: no concrete step raises it again (a bug in hintcheck, exit code 4; HINTCHECK_DEBUG=1 shows where)\n',
      ]);
      // A plain Error from inside is ours too.
      expect(reportError(new TypeError('x is undefined'), false, io)).toBe(4);
      expect(reportError(new DesignError('bad', { design: 'd' }), false, io)).toBe(2);
      process.env.HINTCHECK_DEBUG = '1';
      lines.length = 0;
      reportError(new InternalError('where'), false, io);
      expect(lines.join('')).toMatch(/\n\s+at /);
    } finally {
      if (debug === undefined) delete process.env.HINTCHECK_DEBUG;
      else process.env.HINTCHECK_DEBUG = debug;
    }
  });
});

describe('replay works as printed for a design from a file', () => {
  it('the printed command names the file, replays the violation, and says when the file changed since', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hintcheck-replay-'));
    const file = join(dir, 'edge.ts');
    copyFileSync(`${root}/test/fixtures/edge-repro.ts`, file);
    const r = run(['check', '--design-file', file, '--invariant', 'flag-never-rises', '--json']);
    expect(r.code).toBe(1);
    const res = (JSON.parse(r.out) as { results: { invariant: string; replay: string; token: string }[] }).results[0];
    expect(res.replay).toBe(`npx hintcheck replay --design-file ${file} ${res.token}`);
    // As printed, without --design-file: the token carries the file.
    const again = run(['replay', res.token, '--json']);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.out)).toMatchObject({ design: 'edge-repro', replayed: 1, violated: { invariant: 'flag-never-rises', step: 1 } });
    expect(again.err).toBe('');
    // A trace file does the same.
    const trace = join(dir, 'edge.trace.json');
    expect(run(['check', '--design-file', file, '--invariant', 'flag-never-rises', '--trace-out', trace]).code).toBe(1);
    expect(run(['replay', trace]).code).toBe(1);
    // The file changes: the replay says so first, then tries.
    writeFileSync(file, readFileSync(file, 'utf8') + '\n// changed\n');
    const changed = run(['replay', res.token, '--json']);
    expect(changed.err).toMatch(/edge\.ts has changed since the trace was written \(source [0-9a-f]+, now [0-9a-f]+\); replaying on the file as it is now/);
    expect(JSON.parse(changed.out)).toMatchObject({ sourceChanged: true, violated: { invariant: 'flag-never-rises' } });
  });
});

describe('a signal stops the search and the report says what it has', () => {
  it('check on two workers, SIGINT: complete false, interrupted, every verdict unknown, exit 3', async () => {
    const r = await interrupted(['check', '--design', 'spin-reference', '--cpus', '3', '--pages', '7', '--reduce', 'none', '--workers', '2', '--json', '--progress'], /(states.*\n){2}/);
    expect(r.code).toBe(3);
    expect(r.afterSignalMs).toBeLessThan(5000);
    const j = JSON.parse(r.out) as { complete: boolean; stoppedBy: string; workers: number; states: number; results: { verdict: string }[] };
    expect(j).toMatchObject({ complete: false, stoppedBy: 'interrupted', workers: 2 });
    expect(j.states).toBeGreaterThan(0);
    expect(j.results.map((x) => x.verdict)).toEqual(['unknown', 'unknown', 'unknown', 'unknown']);
    expect(r.err).toContain('SIGINT: stopping the search and reporting what it has');
  });

  it('check on one engine, SIGTERM, with a violation already found: its trace is kept, exit 1', async () => {
    const r = await interrupted(['check', '--design', 'spin-reference', '--mutant', 'hold-lock', '--cpus', '3', '--pages', '7', '--reduce', 'none', '--workers', '1', '--progress'], /states/, 'SIGTERM');
    expect(r.code).toBe(1);
    expect(r.out).toContain('search: cut short (interrupted)');
    expect(r.out).toMatch(/violated {2}no-hint-under-zone-lock {2}\(shortest counterexample: \d+ steps\)/);
    expect(r.out).toMatch(/unknown {3}spin-i4-counters/);
    expect(r.out).toContain('no-hint-under-zone-lock violated:');
  });

  it('matrix, SIGINT: the rows done so far, the row in progress marked, exit 3', async () => {
    const r = await interrupted(['matrix', '--json', '--progress', '--workers', '2'], /^3\/\d+ rows/m);
    expect(r.code).toBe(3);
    const j = JSON.parse(r.out) as { complete: boolean; stoppedBy: string; rowsDone: number; rowsPlanned: number; mismatches: string[]; rows: { complete: boolean; interrupted?: boolean }[] };
    expect(j).toMatchObject({ complete: false, stoppedBy: 'interrupted', mismatches: [] });
    expect(j.rowsDone).toBe(j.rows.length);
    expect(j.rows.length).toBeGreaterThanOrEqual(3);
    expect(j.rows.length).toBeLessThan(j.rowsPlanned);
    for (const row of j.rows) expect(row.complete || row.interrupted === true || row.complete === false).toBe(true);
  });

  it('the random explorers, SIGINT: walks done so far, exit 3 when nothing unaccepted was found', async () => {
    const r = await interrupted(['check', '--design', 'd5-page-reporting', '--invariant', 'no-reuse-while-hinting', '--explorer', 'random', '--runs', '100000000', '--workers', '2', '--json', '--progress'], /walks/);
    expect(r.code).toBe(3);
    expect(r.afterSignalMs).toBeLessThan(3000);
    const j = JSON.parse(r.out) as { stoppedBy: string; runs: number; plannedRuns: number };
    expect(j.stoppedBy).toBe('interrupted');
    expect(j.runs).toBeLessThan(j.plannedRuns);
  });

  it('a second signal ends the process at once', async () => {
    const r = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) => {
      const p = spawn(process.execPath, [bin, 'check', '--design', 'spin-reference', '--cpus', '3', '--pages', '7', '--reduce', 'none', '--workers', '1', '--progress']);
      let out = '';
      let sent = false;
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => {
        const s = d.toString();
        if (!sent && /states/.test(s)) {
          sent = true;
          p.kill('SIGINT');
        } else if (s.includes('SIGINT again')) p.kill('SIGINT');
      });
      p.on('close', (code, signal) => resolve({ code, signal, out }));
    });
    // Killed by the signal itself: the shell shows 130.
    expect(r.signal === 'SIGINT' || r.code === 130).toBe(true);
  });
});
