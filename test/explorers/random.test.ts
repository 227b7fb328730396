
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hintcheck } from '../helpers.js';
import { check } from '../../check/check.js';
import { invariantsFor, knownInvariants } from '../../invariants/index.js';
import { findDesign } from '../../model/designs/index.js';
import { buildModel, resolveConfig } from '../../model/system.js';
import type { Design, Model, State } from '../../model/types.js';
import { Diverged, decodeToken, encodeToken, parseSchedule, resolveSchedule, scheduleOf, traceFile } from '../../explorers/replay.js';
import { scheduleShape, shrinkSchedule } from '../../explorers/shrink.js';
import { replayIds, Walker } from '../../explorers/random/walk.js';
import { checkRandom, type RandomCheckOptions } from '../../check/random.js';
import { mergeReports, randomJson, type RandomReportJson } from '../../report/random.js';

/**
 * The random explorers (random, PCT, swarm) on the same model and
 * invariants as the exhaustive search: determinism whatever the number of
 * workers, replayable and shrunk counterexamples, shard merging, coverage.
 * (Their speed is measured by the benchmark, not here.)
 */

const run = (...args: string[]) => hintcheck(args);

/** A report without what depends on the machine: time and workers. */
function portable(r: RandomReportJson): unknown {
  const { seconds: _s, workers: _w, shard: _sh, shards: _shs, ...rest } = r;
  return rest;
}

async function json(design: string, opts: RandomCheckOptions): Promise<RandomReportJson> {
  return randomJson(await checkRandom(findDesign(design), { source: { id: design }, ...opts }));
}

function enabledIds(m: Model, s: State): number[] {
  return m.actions.filter((a) => {
    const n = s.slice();
    n.fill(0, m.layout.transients);
    return a.apply(n);
  }).map((a) => a.id);
}

/** The steps that a sequence of choices (each modulo the steps enabled) takes. */
function idsOf(m: Model, choices: readonly number[]): number[] {
  let s = m.initial();
  const ids: number[] = [];
  for (const c of choices) {
    const en = enabledIds(m, s);
    if (en.length === 0) break;
    const id = en[c % en.length];
    const n = s.slice();
    n.fill(0, m.layout.transients);
    m.actions[id].apply(n);
    ids.push(id);
    s = n;
  }
  return ids;
}

describe('random exploration is deterministic', () => {
  it.each(['random', 'pct', 'swarm'] as const)('%s: the same seed gives the same walks, violations, traces and coverage on 1, 2 and 3 workers', async (explorer) => {
    const opts = { explorer, runs: 300, depth: 60, seed: 7, config: {} };
    const one = await json('d5-ack-before-discard', { ...opts, workers: 1 });
    const two = await json('d5-ack-before-discard', { ...opts, workers: 2 });
    const three = await json('d5-ack-before-discard', { ...opts, workers: 3 });
    expect(one.workers).toBe(1);
    expect(two.workers).toBe(2);
    expect(portable(two)).toEqual(portable(one));
    expect(portable(three)).toEqual(portable(one));
    // And a different seed takes other walks.
    const other = await json('d5-ack-before-discard', { ...opts, seed: 8, workers: 1 });
    expect(other.coverage).not.toEqual(one.coverage);
  });

  it('counts every step it takes once in the coverage', async () => {
    const r = await json('d5-page-reporting', { explorer: 'random', runs: 64, depth: 50, workers: 1 });
    expect(r.coverage.actions.reduce((t, a) => t + a.count, 0)).toBe(r.steps);
    // Poisoning is off: the poisoning step can never fire, and the report says so.
    expect(r.coverage.neverFired).toContain('vcpu0 kernel_poison_pages');
    expect(r.results.every((x) => x.verdict !== 'violated' || x.accepted !== undefined)).toBe(true);
  });
});

describe('replay', () => {
  const d = findDesign('d5-page-reporting');
  const m = buildModel(d, resolveConfig(d, {}));

  it('round-trips any schedule through a token and through a trace file', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(40), { maxLength: 40 }), (choices) => {
        const ids = idsOf(m, choices);
        const s = scheduleOf(m, ids, { explorer: 'random', seed: 3, run: 9 });
        const back = decodeToken(encodeToken(s));
        expect(back).toEqual(s);
        expect(resolveSchedule(m, back.steps)).toEqual(ids);
        const file = parseSchedule(JSON.stringify(traceFile(s)), 'a trace');
        expect(resolveSchedule(m, file.steps)).toEqual(ids);
      }),
      { numRuns: 60 },
    );
  });

  it('stops loudly where a changed model no longer offers the step, naming it and what is enabled', () => {
    // A schedule through the reporter's report step...
    let ids: number[] = [];
    for (let k = 0; k < 50; k++) {
      ids = idsOf(m, Array.from({ length: 30 }, (_, i) => (i * 7 + k * 13) % 17));
      if (ids.some((id) => m.actions[id].name === 'report')) break;
    }
    const at = ids.findIndex((id) => m.actions[id].name === 'report');
    expect(at).toBeGreaterThan(0);
    // ...replayed on the same design, except that the step is gone.
    const changed: Design = {
      ...d,
      instantiate: (mm) => {
        const inst = d.instantiate(mm);
        return { ...inst, actions: inst.actions.filter((x) => x.name !== 'report') };
      },
    };
    const mc = buildModel(changed, m.cfg);
    let err: unknown;
    try {
      resolveSchedule(mc, scheduleOf(m, ids).steps);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Diverged);
    const dv = err as Diverged;
    expect(dv.step).toBe(at + 1);
    expect(dv.wanted).toMatchObject({ actor: 'reporter', action: 'report' });
    expect(dv.message).toContain(`replay diverges at step ${at + 1}: 'reporter report' is not enabled here`);
    expect(dv.enabled.length).toBeGreaterThan(0);
    expect(dv.enabled.some((x) => x.action === 'report')).toBe(false);
  });

  it('gives every exhaustive counterexample a token that replays to the same violation', () => {
    const dd = findDesign('d5-no-isolate');
    const r = check(dd, {});
    const mm = buildModel(dd, r.config);
    for (const x of r.results.filter((y) => y.verdict === 'violated')) {
      const sched = decodeToken(x.token!);
      expect(sched).toMatchObject({ design: 'd5-no-isolate', invariant: x.invariant, explorer: 'exhaustive' });
      const ids = resolveSchedule(mm, sched.steps);
      expect(ids).toEqual(x.trace!.steps.map((st) => st.id));
      expect(replayIds(mm, knownInvariants(dd).filter((i) => i.id === x.invariant), ids)).toMatchObject({ invariant: x.invariant, steps: x.depth });
    }
  });

  it('replays to the invariant the trace was recorded for, past an accepted violation on the way', () => {
    const dd = findDesign('d5-no-isolate');
    const mm = buildModel(dd, resolveConfig(dd, {}));
    const walker = new Walker(mm, invariantsFor(dd, mm.cfg));
    let found: readonly number[] | undefined;
    for (let seed = 1; seed < 200 && found === undefined; seed++) {
      const o = walker.walk(seed, { seed, depth: 100, scheduler: 'uniform' });
      const order = o.violations.map((v) => v.invariant);
      if (order.indexOf('no-double-report') >= 0 && order.indexOf('no-double-report') < order.indexOf('no-reuse-while-hinting')) {
        found = o.violations.find((v) => v.invariant === 'no-reuse-while-hinting')!.actions;
      }
    }
    expect(found).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'hintcheck-replay-'));
    const file = join(dir, 'reuse.json');
    writeFileSync(file, JSON.stringify(traceFile(scheduleOf(mm, found!, { invariant: 'no-reuse-while-hinting' }))));
    const r = run('replay', file);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`no-reuse-while-hinting violated at step ${found!.length}`);
  });

  it('replays a token from the command line, and refuses a corrupt one or a changed step with exit code 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hintcheck-replay-'));
    const file = join(dir, 'trace.json');
    const found = run('check', '--design', 'd5-report-under-lock', '--explorer', 'random', '--runs', '64', '--workers', '1', '--invariant', 'no-hint-under-zone-lock', '--trace-out', file);
    expect(found.code).toBe(1);
    const token = /replay: npx hintcheck replay (hc1:\S+)/.exec(found.out)![1];
    const byToken = run('replay', token);
    expect(byToken.code).toBe(1);
    expect(byToken.out).toContain('no-hint-under-zone-lock violated at step 4');
    const byFile = run('replay', file);
    expect(byFile.code).toBe(1);
    expect(byFile.out).toBe(byToken.out);
    const t = JSON.parse(readFileSync(file, 'utf8')) as { steps: { args: Record<string, unknown> }[] };
    // CAPACITY 1 with two unreported blocks: the cycle must take one.
    t.steps[2].args = { order: 1, isolate: 'none' };
    writeFileSync(file, JSON.stringify(t));
    const diverged = run('replay', file);
    expect(diverged.code).toBe(2);
    expect(diverged.err).toMatch(/replay diverges at step 3: 'reporter page_reporting_cycle\(order=1, isolate=none\)' is not enabled here/);
    expect(diverged.err).toMatch(/enabled at step 3: .*reporter page_reporting_cycle\(order=1, isolate=0\)/);
    for (const bad of ['hc1:AAAA', join(dir, 'missing.json')]) {
      const r = run('replay', bad);
      expect(r.code).toBe(2);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toContain('replay token (hc1:...)');
    }
  });
});

describe('shrinking', () => {
  const cases = [
    ['d5-report-under-lock', 'no-hint-under-zone-lock'],
    ['d5-no-isolate', 'no-reuse-while-hinting'],
    ['d5-ack-before-discard', 'no-reuse-while-hinting'],
    ['d5-reported-survives-alloc', 'allocator-conservation'],
  ] as const;

  it.each(cases)('%s: never grows a counterexample, keeps its violation, leaves no step it can drop, and gets near the exhaustive length', (id, invId) => {
    const d = findDesign(id);
    const cfg = resolveConfig(d, {});
    const m = buildModel(d, cfg);
    const inv = knownInvariants(d).find((i) => i.id === invId)!;
    const walker = new Walker(m, [inv]);
    const shortest = check(d, { invariants: [invId] }).results[0].depth!;
    let shrunk = 0;
    let best = Infinity;
    for (let seed = 1; seed <= 40 && shrunk < 4; seed++) {
      const o = walker.walk(seed, { seed, depth: 120, scheduler: 'uniform' });
      if (o.violations.length === 0) continue;
      shrunk++;
      const raw = o.violations[0].actions;
      const s = shrinkSchedule(m, inv, raw);
      expect(s.after.steps).toBeLessThanOrEqual(s.before.steps);
      if (s.after.steps === s.before.steps) expect(s.after.preemptions).toBeLessThanOrEqual(s.before.preemptions);
      expect(s.before).toEqual(scheduleShape(m, raw));
      const again = replayIds(m, [inv], s.actions);
      expect(again).toMatchObject({ invariant: invId, steps: s.actions.length });
      // No schedule is shorter than the breadth-first one.
      expect(s.after.steps).toBeGreaterThanOrEqual(shortest);
      // 1-minimal: without any one of its steps the schedule no longer runs, or no longer breaks the invariant.
      for (let i = 0; i < s.actions.length; i++) {
        const without = [...s.actions.slice(0, i), ...s.actions.slice(i + 1)];
        expect(replayIds(m, [inv], without)?.invariant).toBeUndefined();
      }
      best = Math.min(best, s.after.steps);
    }
    expect(shrunk).toBeGreaterThan(0);
    // Some walk shrinks to (nearly) the shortest story; others may stop at a longer race of their own.
    expect(best).toBeLessThanOrEqual(shortest + 2);
  });

  it('says in the report how much shrinking removed', async () => {
    const r = await json('d5-report-under-lock', { explorer: 'random', runs: 64, workers: 1, invariants: ['no-hint-under-zone-lock'] });
    const x = r.results[0];
    expect(x.verdict).toBe('violated');
    expect(x.shrink!.to.steps).toBe(4);
    expect(x.shrink!.from.steps).toBeGreaterThanOrEqual(4);
    expect(x.trace).toHaveLength(4);
  });

  it('--minimize preemptions keeps a shortest counterexample shortest and never adds preemptions', () => {
    for (const id of ['d5-no-isolate', 'd5-ack-before-discard', 'd6-status-unlocked']) {
      const d = findDesign(id);
      const plain = check(d, {});
      const min = check(d, { minimizePreemptions: true });
      for (const r of min.results) {
        if (r.verdict !== 'violated') continue;
        const p = plain.results.find((x) => x.invariant === r.invariant)!;
        expect(r.trace!.steps).toHaveLength(p.depth!);
        expect(r.preemptions!.to.steps).toBe(p.depth);
        expect(r.preemptions!.to.preemptions).toBeLessThanOrEqual(r.preemptions!.from.preemptions);
        const m = buildModel(d, min.config);
        const inv = knownInvariants(d).find((i) => i.id === r.invariant)!;
        expect(replayIds(m, [inv], r.trace!.steps.map((s) => s.id))).toMatchObject({ invariant: r.invariant, steps: p.depth });
      }
    }
  });
});

describe('swarm', () => {
  it('gives the same report, merged from its shards, as unsharded', async () => {
    const opts = { explorer: 'swarm' as const, runs: 400, depth: 50, members: 10, seed: 3 };
    const whole = await json('d5-no-isolate', { ...opts, workers: 2 });
    const shards = await Promise.all([0, 1, 2].map((index) => json('d5-no-isolate', { ...opts, shard: { index, count: 3 }, workers: 1 })));
    expect(shards.reduce((t, s) => t + s.runs, 0)).toBe(whole.runs);
    const merged = mergeReports(shards);
    expect(merged.shards).toEqual([0, 1, 2]);
    expect(portable(merged)).toEqual(portable(whole));
    expect(whole.results.some((x) => x.verdict === 'violated')).toBe(true);
  });

  it('merges shard reports on the command line and refuses reports that are not shards of one swarm', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hintcheck-swarm-'));
    const files = [0, 1].map((k) => {
      const r = run('check', '--design', 'd5-no-isolate', '--explorer', 'swarm', '--runs', '200', '--members', '4', '--shard', `${k}/2`, '--workers', '1', '--json');
      expect(r.code).toBe(1);
      const f = join(dir, `shard-${k}.json`);
      writeFileSync(f, r.out);
      return f;
    });
    const merged = run('merge', ...files, '--json');
    expect(merged.code).toBe(1);
    expect((JSON.parse(merged.out) as RandomReportJson).runs).toBe(200);
    const half = run('merge', files[0]);
    expect(half.out).toContain('missing shards: 1/2');
    const twice = run('merge', files[0], files[0]);
    expect(twice.code).toBe(2);
    expect(twice.err).toContain('shard 0/2 is given twice');
    const other = run('check', '--design', 'd5-no-isolate', '--explorer', 'swarm', '--runs', '200', '--members', '4', '--seed', '9', '--shard', '1/2', '--workers', '1', '--json');
    writeFileSync(join(dir, 'other.json'), other.out);
    const mixed = run('merge', files[0], join(dir, 'other.json'));
    expect(mixed.code).toBe(2);
    expect(mixed.err).toContain('seed differs');
  });
});

describe('PCT', () => {
  // Known races of designs.md §4 that PCT finds (docs/benchmarks.md has how fast, and which it does not).
  const races = [
    ['d5-report-under-lock', {}, 'no-hint-under-zone-lock'],
    ['d5-no-isolate', {}, 'no-reuse-while-hinting'],
    ['d5-ack-before-discard', {}, 'no-reuse-while-hinting'],
    ['d5-reported-survives-alloc', {}, 'allocator-conservation'],
    ['d2-hint-under-lock', {}, 'no-hint-under-zone-lock'],
    ['d3c-disable-race', {}, 'no-double-report'],
    ['d6-unload-leak', {}, 'd6-driver-returns-blocks'],
    ['spin-reference', { mutant: 'hold-lock' }, 'no-hint-under-zone-lock'],
    ['spin-reference', { mutant: 'no-isolate' }, 'spin-i2-batch-not-allocated'],
    ['spin-reference', { poison: 'on' }, 'poison-reads-back'],
  ] as const;

  it.each(races)('finds %s %j %s within 1000 walks for seeds 1-3', async (id, config, inv) => {
    for (const seed of [1, 2, 3]) {
      const r = await checkRandom(findDesign(id), { explorer: 'pct', config, invariants: [inv], runs: 1000, depth: 100, seed, workers: 1, shrink: false });
      expect(r.results[0].verdict, `seed ${seed}`).toBe('violated');
    }
  });
});

describe('coverage', () => {
  it('marks a holds whose precondition the exhaustive search never reached, and gives a witness for one it did', () => {
    const d = findDesign('d5-page-reporting');
    const skip = check(d, { config: { poison: 'on', host: 'skip-if-poisoned', reportOrder: 2, capacity: 1 }, invariants: ['poison-reads-back'] });
    expect(skip.results[0]).toMatchObject({ verdict: 'holds', unreached: true });
    expect(skip.coverage.invariants[0].reached).toBe(false);
    const pof = check(d, { config: { poison: 'on', host: 'poison-on-fault', reportOrder: 2, capacity: 1 }, invariants: ['poison-reads-back'], witness: ['poison-reads-back'] });
    expect(pof.results[0].verdict).toBe('holds');
    expect(pof.results[0].unreached).toBeUndefined();
    const w = pof.results[0].witness!;
    expect(w.steps.length).toBe(pof.coverage.invariants[0].depth);
    const m = buildModel(d, pof.config);
    const pre = invariantsFor(d, pof.config).find((i) => i.id === 'poison-reads-back')!.bind(m).reached!;
    let s = m.initial();
    let before = s;
    for (const st of w.steps) {
      const n = s.slice();
      n.fill(0, m.layout.transients);
      m.actions[st.id].apply(n);
      before = s;
      s = n;
    }
    const last = m.actions[w.steps[w.steps.length - 1].id];
    expect((pre.state?.(s) ?? false) || (pre.edge?.(before, s, last) ?? false)).toBe(true);
  });

  it('says so beside a holds whose precondition cannot happen in the design', () => {
    // The reporter hints with the zone lock held, so no vCPU can allocate while a hint is in flight.
    const r = run('check', '--design', 'd5-report-under-lock', '--invariant', 'no-reuse-while-hinting', '--invariant', 'allocator-conservation');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/holds +no-reuse-while-hinting +unreached: a vCPU allocates while a hint is in flight never happened, so this proves nothing/);
    expect(r.out).toMatch(/holds +allocator-conservation\n/);
    expect(r.out).toContain('preconditions never reached: no-reuse-while-hinting');
  });

  it('counts every transition of an exhaustive search once per action', () => {
    const r = check(findDesign('d5-page-reporting'), { reduce: 'none' });
    expect(r.coverage.actions.reduce((t, a) => t + a.count, 0)).toBe(r.transitions);
    // Two reports of a list are all the budget allows, and at CAPACITY 2 no list of 8 pages needs a third.
    expect(r.coverage.neverFired).toEqual(['vcpu0 kernel_poison_pages', 'vcpu1 kernel_poison_pages', 'reporter budget_spent']);
  });
});

describe('the random explorers on the command line', () => {
  it.each([
    [['--explorer', 'dfs'], /--explorer dfs is unknown: accepted exhaustive, random, pct, swarm/],
    [['--explorer', 'swarm', '--shard', '3/3'], /--shard 3\/3: accepted k\/N with 0 <= k < N/],
    [['--explorer', 'swarm', '--shard', 'x'], /--shard x: accepted k\/N/],
    [['--runs', '10'], /--runs applies to --explorer random, pct or swarm/],
    [['--explorer', 'random', '--reduce', 'none'], /--reduce applies to the exhaustive search/],
    [['--explorer', 'random', '--shard', '0/2'], /--members and --shard apply to --explorer swarm/],
    [['--explorer', 'pct', '--pct-depth', '0'], /--pct-depth 0: accepted a whole number >= 1/],
    [['--explorer', 'random', '--witness', 'nope'], /--witness nope: not an invariant of this check/],
    [['--minimize', 'steps'], /--minimize steps is unknown: accepted preemptions/],
  ])('rejects %j with one line and exit code 2', (args, message) => {
    const r = run('check', '--design', 'd5-page-reporting', ...args);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(message);
  });

  it('says unknown, never holds, and exits 3 when the walks find nothing', () => {
    const r = run('check', '--design', 'd5-page-reporting', '--explorer', 'random', '--runs', '64', '--invariant', 'no-hint-under-zone-lock', '--workers', '1');
    expect(r.code).toBe(3);
    expect(r.out).toContain('unknown   no-hint-under-zone-lock');
    expect(r.out).not.toMatch(/\bholds\b/);
    expect(r.out).toContain('random walks prove nothing');
  });
});
