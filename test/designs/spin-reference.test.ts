import { describe, expect, it } from 'vitest';
import { check } from '../../check/check.js';
import { explore } from '../../explorers/exhaustive/driver.js';
import { spinReference } from '../../model/designs/spin-reference/spin-reference.js';
import { buildModel, resolveConfig } from '../../model/system.js';
import type { Config } from '../../model/config.js';

/**
 * The port of bench/page_reporting.pml: its state and
 * transition counts must equal SPIN's "states, stored" and "transitions - 1"
 * (ref_enum.py's edges) for every configuration of RESULTS.md that runs in
 * a test's time, and the mutants must fail at SPIN's BFS depths.
 */
const COUNTS: [string, Partial<Config>, number, number][] = [
  ['(2,3,2)', { cpus: 2, pages: 3, capacity: 2 }, 2866, 6693],
  ['(2,4,2)', { cpus: 2, pages: 4, capacity: 2 }, 25145, 66345],
  ['(2,4,2) POISON=1 HPOF=1', { cpus: 2, pages: 4, capacity: 2, poison: 'on', host: 'poison-on-fault' }, 47849, 130793],
  ['(3,4,2)', { cpus: 3, pages: 4, capacity: 2 }, 85771, 251446],
  ['(3,4,3) POISON=1 HPOF=1', { cpus: 3, pages: 4, capacity: 3, poison: 'on', host: 'poison-on-fault' }, 204497, 639838],
  ['(2,5,1) POISON=0 HPOF=1', { cpus: 2, pages: 5, capacity: 1, host: 'poison-on-fault' }, 160167, 456593],
  ['(4,4,2)', { cpus: 4, pages: 4, capacity: 2 }, 219351, 680923],
  ['(3,5,3)', { cpus: 3, pages: 5, capacity: 3 }, 943809, 3054674],
];

describe('spin-reference', () => {
  it.each(COUNTS)('%s has exactly SPIN\'s state and transition counts', (_name, config, states, transitions) => {
    const m = buildModel(spinReference, resolveConfig(spinReference, config));
    const r = explore(m, { invariants: [] });
    expect([r.states, r.transitions, r.complete]).toEqual([states, transitions, true]);
  });

  it.each([
    ['hold-lock', { mutant: 'hold-lock' }, 'no-hint-under-zone-lock', 3, ['W_ISOLATE', 'W_POST', 'H']],
    ['no-isolate', { mutant: 'no-isolate' }, 'spin-i2-batch-not-allocated', 3, ['W_ISOLATE', 'W_UNLOCK', 'V_ALLOC']],
    ['POISON=1 HPOF=0', { poison: 'on' as const }, 'poison-reads-back', 10, ['W_ISOLATE', 'W_UNLOCK', 'W_POST', 'H', 'W_ACK', 'W_RETURN', 'W_UNLOCK2', 'V_ALLOC', 'V_UNLOCK', 'V_READ']],
  ] as const)('%s fails at SPIN\'s BFS depth with SPIN\'s trace', (_name, config, invariant, depth, steps) => {
    for (const bounds of [{ cpus: 2, pages: 4, capacity: 2 }, { cpus: 3, pages: 5, capacity: 3 }]) {
      const r = check(spinReference, { config: { ...bounds, ...config }, invariants: [invariant] });
      expect(r.results[0].verdict).toBe('violated');
      expect(r.results[0].depth).toBe(depth);
      expect(r.results[0].trace!.steps.map((s) => s.action)).toEqual(steps);
    }
  });

  it('holds every mapped invariant on the correct design', () => {
    const r = check(spinReference, { config: { cpus: 3, pages: 4, capacity: 2 } });
    expect(r.results.map((x) => `${x.invariant}:${x.verdict}`)).toEqual([
      'no-hint-under-zone-lock:holds', 'spin-i2-batch-not-allocated:holds', 'spin-i4-counters:holds', 'spin-i5-no-lost-write:holds',
    ]);
  });

  it('rejects a mutant it does not have, and other designs reject mutants', () => {
    expect(() => resolveConfig(spinReference, { mutant: 'slow' })).toThrow(/--mutant slow is unknown for spin-reference: accepted none, hold-lock, no-isolate/);
  });
});
