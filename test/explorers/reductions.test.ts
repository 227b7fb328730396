import { describe, expect, it } from 'vitest';
import { check, resolveReductions, type CheckReport } from '../../check/check.js';
import { explore } from '../../explorers/exhaustive/driver.js';
import { DESIGNS as designs } from '../../model/designs/index.js';
import { spinReference } from '../../model/designs/spin-reference/spin-reference.js';
import { buildModel, resolveConfig } from '../../model/system.js';
import type { Config } from '../../model/config.js';
import type { Design, State } from '../../model/types.js';
import { UsageError } from '../../model/config.js';

/**
 * A reduction is only worth its speed if it changes nothing a user reads:
 * every verdict, every counterexample's length, and (for symmetry) the
 * number of concrete states the canonical ones stand for, which must be
 * exactly the unreduced count.
 */
function outcome(r: CheckReport): string[] {
  return r.results.map((x) => `${x.invariant}:${x.verdict}${x.depth !== undefined ? `@${x.depth}` : ''}`);
}

const SPIN_CONFIGS: [string, Partial<Config>][] = [
  ['(2,3,2)', { cpus: 2, pages: 3, capacity: 2 }],
  ['(2,4,2)', { cpus: 2, pages: 4, capacity: 2 }],
  ['(3,4,2)', { cpus: 3, pages: 4, capacity: 2 }],
  ['(4,4,2)', { cpus: 4, pages: 4, capacity: 2 }],
  ['(3,5,3)', { cpus: 3, pages: 5, capacity: 3 }],
  ['(2,4,2) POISON=1 HPOF=1', { cpus: 2, pages: 4, capacity: 2, poison: 'on', host: 'poison-on-fault' }],
  ['(3,4,3) POISON=1 HPOF=0', { cpus: 3, pages: 4, capacity: 3, poison: 'on' }],
  ['(2,5,1) HPOF=1', { cpus: 2, pages: 5, capacity: 1, host: 'poison-on-fault' }],
  ['(3,4,2) hold-lock', { cpus: 3, pages: 4, capacity: 2, mutant: 'hold-lock' }],
  ['(2,4,2) no-isolate', { cpus: 2, pages: 4, capacity: 2, mutant: 'no-isolate' }],
];

describe('spin-reference reductions', () => {
  it.each(SPIN_CONFIGS)('%s: every reduction gives the unreduced verdicts and shortest counterexamples', (_name, config) => {
    const full = check(spinReference, { config, reduce: 'none' });
    expect(full.complete || full.stoppedBy === 'all-violated').toBe(true);
    for (const mode of ['symmetry', 'por', 'all'] as const) {
      const r = check(spinReference, { config, reduce: mode });
      expect([mode, ...outcome(r)]).toEqual([mode, ...outcome(full)]);
      expect(r.states).toBeLessThan(full.states);
    }
  });

  it.each(SPIN_CONFIGS.filter(([n]) => !/hold-lock|no-isolate/.test(n)))('%s: the canonical states stand for exactly the unreduced count', (_name, config) => {
    const m = buildModel(spinReference, resolveConfig(spinReference, config));
    const full = explore(m, { invariants: [] });
    const sym = explore(m, { invariants: [], reduce: { symmetry: true, por: false } });
    expect(sym.represented).toBe(full.states);
    expect(sym.states).toBeLessThan(full.states / 5);
  });

  it('partial-order reduction alone stores fewer states and still reaches every depth-bounded verdict', () => {
    const config = { cpus: 3, pages: 5, capacity: 3 };
    const full = check(spinReference, { config, reduce: 'none' });
    const por = check(spinReference, { config, reduce: 'por' });
    expect(por.states).toBeLessThan(full.states);
    expect(por.reduce).toEqual({ symmetry: false, por: true });
    expect(outcome(por)).toEqual(outcome(full));
  });

  it('is on by default with both reductions, and reports what they stand for', () => {
    const r = check(spinReference, { config: { cpus: 3, pages: 5, capacity: 3 } });
    expect(r.reduce).toEqual({ symmetry: true, por: true });
    expect(r.represented).toBeGreaterThan(r.states);
    expect(r.symmetryFactor).toBeCloseTo(r.represented! / r.states, 6);
  });
});

/** Designs that declare vCPU symmetry, at their own default bounds. */
const SYMMETRIC = designs.filter((d) => d.symmetry !== undefined && d.id !== 'spin-reference');

describe('vCPU symmetry in the buddy-allocator designs', () => {
  it('is declared by the D1 and D5 families', () => {
    expect(SYMMETRIC.map((d) => d.id).sort()).toEqual(designs.filter((d) => /^d[15]-/.test(d.id)).map((d) => d.id).sort());
  });

  it.each(SYMMETRIC.map((d) => [d.id, d] as [string, Design]))('%s: verdicts, depths and the represented count equal the unreduced run', (_id, design) => {
    const full = check(design, { reduce: 'none' });
    const sym = check(design, { reduce: 'symmetry' });
    expect(outcome(sym)).toEqual(outcome(full));
    if (full.complete) {
      expect(sym.represented).toBe(full.states);
      expect(sym.states).toBeLessThan(full.states);
    }
  });
});

describe('canonical forms', () => {
  it('are idempotent and give one form per orbit: as many as the symmetric search stores', () => {
    const m = buildModel(spinReference, resolveConfig(spinReference, { cpus: 3, pages: 4, capacity: 2 }));
    const { canon } = spinReference.symmetry!(m);
    const full = explore(m, { invariants: [] });
    const sym = explore(m, { invariants: [], reduce: { symmetry: true, por: false } });
    const w = new Uint32Array(m.layout.words);
    const s: State = new Uint8Array(m.layout.size);
    const forms = new Set<string>();
    let idempotent = true;
    full.store.forEach((a, b) => {
      full.store.decode(a, b, w);
      m.layout.unpack(w, 0, s);
      canon(s);
      const once = s.join(',');
      canon(s);
      if (s.join(',') !== once) idempotent = false;
      forms.add(once);
    });
    expect(idempotent).toBe(true);
    expect(forms.size).toBe(sym.states);
  });
});

describe('choosing reductions', () => {
  it('defaults to what the design proved sound and refuses what it has no ground for', () => {
    const d3 = designs.find((d) => d.id === 'd3c-bitmap')!;
    const m = buildModel(d3, resolveConfig(d3, {}));
    expect(resolveReductions(m, undefined)).toEqual({ symmetry: false, por: false });
    expect(() => resolveReductions(m, 'symmetry')).toThrow(UsageError);
    expect(() => resolveReductions(m, 'symmetry')).toThrow(/d3c-bitmap declares no symmetry: accepted none$/);
    const d5 = designs.find((d) => d.id === 'd5-page-reporting')!;
    const m5 = buildModel(d5, resolveConfig(d5, {}));
    expect(resolveReductions(m5, undefined)).toEqual({ symmetry: true, por: false });
    expect(() => resolveReductions(m5, 'por')).toThrow(/accepted none, symmetry, all$/);
    expect(resolveReductions(m5, 'all')).toEqual({ symmetry: true, por: false });
  });
});

describe('the memory limit', () => {
  it('stops the search with unknown, and says why, before the tables pass it', () => {
    const r = check(spinReference, { config: { cpus: 3, pages: 5, capacity: 3 }, reduce: 'none', memoryLimit: 4 * 2 ** 20 });
    expect(r.complete).toBe(false);
    expect(r.stoppedBy).toBe('memory-limit');
    expect(r.note).toMatch(/memory limit of 4 MiB/);
    expect(r.results.every((x) => x.verdict === 'unknown')).toBe(true);
  });
});
