import { describe, expect, it } from 'vitest';
import { check, checkParallel, type CheckReport } from '../../check/check.js';
import { designSource } from '../../check/load/design-ref.js';
import { exploreParallel } from '../../explorers/parallel/parallel.js';
import { findDesign } from '../../model/designs/index.js';
import { spinReference } from '../../model/designs/spin-reference/spin-reference.js';
import { resolveConfig } from '../../model/system.js';
import { invariantsFor } from '../../invariants/index.js';

/**
 * A parallel search must be the same search: the same states, transitions
 * and depth as one engine, the same verdicts and shortest counterexamples.
 * (Its speed is measured by the benchmark, not here.)
 */
function outcome(r: CheckReport): string[] {
  return r.results.map((x) => `${x.invariant}:${x.verdict}${x.depth !== undefined ? `@${x.depth}` : ''}`);
}

describe('the parallel explorer', () => {
  it.each([2, 3])('with %i workers finds exactly SPIN\'s (3,5,3) states and transitions', async (workers) => {
    const cfg = resolveConfig(spinReference, { cpus: 3, pages: 5, capacity: 3 });
    const r = await exploreParallel({ design: designSource({ id: 'spin-reference' }), config: cfg, invariants: [], reduce: { symmetry: false, por: false }, workers });
    expect([r.states, r.transitions, r.depth, r.complete, r.workers]).toEqual([943809, 3054674, 30, true, workers]);
  });

  it('stores the same canonical states as one engine under symmetry, standing for the same count', async () => {
    const config = { cpus: 4, pages: 4, capacity: 2 };
    const one = check(spinReference, { config, reduce: 'symmetry' });
    const two = await checkParallel(spinReference, { config, reduce: 'symmetry', workers: 2, source: { id: 'spin-reference' }, firstTry: 0 });
    expect(two.workers).toBe(2);
    expect([two.states, two.transitions, two.depth, two.represented]).toEqual([one.states, one.transitions, one.depth, 219351]);
    expect(outcome(two)).toEqual(outcome(one));
  });

  it.each([
    { cpus: 3, pages: 5, capacity: 3 },
    { cpus: 2, pages: 4, capacity: 2, mutant: 'no-isolate' },
    { cpus: 3, pages: 4, capacity: 3, mutant: 'hold-lock' },
  ])('with symmetry and partial-order reduction, %j gives one engine\'s verdicts and depths', async (config) => {
    const one = check(spinReference, { config, reduce: 'all' });
    const two = await checkParallel(spinReference, { config, reduce: 'all', workers: 2, source: { id: 'spin-reference' }, firstTry: 0 });
    expect([two.workers, two.complete, two.reduce]).toEqual([2, true, { symmetry: true, por: true }]);
    expect(outcome(two)).toEqual(outcome(one));
  });

  it.each([
    ['spin-reference', { cpus: 2, pages: 4, capacity: 2, mutant: 'no-isolate' }],
    ['spin-reference', { cpus: 3, pages: 4, capacity: 3, poison: 'on' as const }],
    ['d5-page-reporting', {}],
    ['d3c-bitmap', {}],
    ['d6-no-done-on-cancel', {}],
  ])('%s %j: the verdicts, depths and counterexamples of one engine', async (id, config) => {
    const design = findDesign(id);
    const one = check(design, { config, reduce: 'none' });
    const two = await checkParallel(design, { config, reduce: 'none', workers: 2, source: { id }, firstTry: 0 });
    expect(two.workers).toBe(2);
    expect(outcome(two)).toEqual(outcome(one));
    expect([two.states, two.transitions, two.depth, two.complete]).toEqual([one.states, one.transitions, one.depth, one.complete]);
    for (const [k, x] of two.results.entries()) {
      if (x.verdict !== 'violated') continue;
      expect(x.trace!.steps).toHaveLength(x.depth!);
      expect(x.trace!.steps.map((s) => s.action)).toEqual(one.results[k].trace!.steps.map((s) => s.action));
    }
  });

  it('says unknown when a budget stops it, and says why at the memory limit', async () => {
    const config = { cpus: 3, pages: 5, capacity: 3 };
    const source = { id: 'spin-reference' };
    const capped = await checkParallel(spinReference, { config, reduce: 'none', workers: 2, source, firstTry: 0, maxStates: 100_000 });
    expect([capped.complete, capped.stoppedBy]).toEqual([false, 'max-states']);
    expect(capped.states).toBeGreaterThanOrEqual(100_000);
    expect(capped.results.every((x) => x.verdict === 'unknown')).toBe(true);
    const small = await checkParallel(spinReference, { config, reduce: 'none', workers: 2, source, firstTry: 0, memoryLimit: 6 * 2 ** 20 });
    expect([small.complete, small.stoppedBy]).toEqual([false, 'memory-limit']);
    expect(small.note).toMatch(/memory limit/);
  });

  it('loads a design from its file in every worker', async () => {
    // The built library, as a user's design file imports it.
    const lib = await import('../../dist/index.js');
    const [design] = await lib.loadDesignFile('examples/page-reporting.ts');
    const file = { id: design.id, file: 'examples/page-reporting.ts' };
    const one = lib.check(design, {});
    const two = await lib.checkParallel(design, { workers: 2, source: file, firstTry: 0 });
    expect(two.workers).toBe(2);
    expect([two.states, two.transitions]).toEqual([one.states, one.transitions]);
    expect(outcome(two)).toEqual(outcome(one));
  });

  it('lets one engine finish a small check before any worker starts', async () => {
    const r = await checkParallel(spinReference, { workers: 2, source: { id: 'spin-reference' } });
    expect(r.workers).toBe(1);
    expect(r.complete).toBe(true);
    expect(invariantsFor(spinReference, r.config).map((i) => i.id)).toEqual(r.results.map((x) => x.invariant));
  });
});
