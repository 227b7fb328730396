import { describe, expect, it } from 'vitest';
import { exploreParallel } from '../../explorers/parallel/parallel.js';
import { designSource } from '../../check/load/design-ref.js';
import { choosePartition, keyKeptFunction, namedPartition, ownerFunction } from '../../explorers/parallel/partition.js';
import { ChunkPool, PairQueue } from '../../explorers/queue.js';
import { explore } from '../../explorers/exhaustive/driver.js';
import { invariantsFor } from '../../invariants/index.js';
import { spinReference } from '../../model/designs/spin-reference/spin-reference.js';
import { buildModel, resolveConfig } from '../../model/system.js';
import type { Model, State } from '../../model/types.js';

/**
 * The partition decides only which worker stores and expands a state. A
 * good one keeps successors with the worker that made them and splits each
 * level evenly; any one gives the same search.
 */

/** The whole breadth-first graph of a small model: levels of states, and every step as (from, to). */
function graph(m: Model): { levels: State[][]; steps: [State, State][] } {
  const T = m.layout.transients;
  const words = new Uint32Array(m.layout.words);
  const key = (s: State): string => {
    m.layout.pack(s, words, 0);
    return words.join(',');
  };
  const init = m.initial();
  const seen = new Set([key(init)]);
  const levels: State[][] = [];
  const steps: [State, State][] = [];
  for (let level = [init]; level.length > 0; ) {
    levels.push(level);
    const up: State[] = [];
    for (const s of level) {
      for (const a of m.actions) {
        const t = s.slice();
        t.fill(0, T);
        if (!a.apply(t)) continue;
        t.fill(0, T);
        steps.push([s, t]);
        if (seen.has(key(t))) continue;
        seen.add(key(t));
        up.push(t);
      }
    }
    level = up;
  }
  return { levels, steps };
}

/** ownerFunction on the working vector: the state packed first. */
function packedOwner(m: Model, offsets: readonly number[], n: number): (s: State) => number {
  const owner = ownerFunction(m.layout.packedMasks(offsets), n);
  const w = new Uint32Array(m.layout.words);
  return (s) => {
    m.layout.pack(s, w, 0);
    return owner(w);
  };
}

/** Share of steps whose successor has another owner, and the levels' states over n times their busiest owner's. */
function rate(m: Model, g: ReturnType<typeof graph>, offsets: readonly number[], n: number): { cross: number; balance: number } {
  const owner = packedOwner(m, offsets, n);
  const cross = g.steps.filter(([s, t]) => owner(s) !== owner(t)).length / g.steps.length;
  let states = 0;
  let busiest = 0;
  for (const l of g.levels) {
    if (l.length < 64 * n) continue;
    const per = new Array<number>(n).fill(0);
    for (const s of l) per[owner(s)]++;
    states += l.length;
    busiest += Math.max(...per);
  }
  return { cross, balance: states / (n * busiest) };
}

describe('the partition of a parallel search', () => {
  const m = buildModel(spinReference, resolveConfig(spinReference, { cpus: 3, pages: 4, capacity: 3 }));
  const g = graph(m);
  const everything = m.layout.stateFields().flatMap((f) => Array.from({ length: f.length }, (_, i) => f.offset + i));

  it('keeps most successors at home where hashing the whole state sends half away, and still splits the levels evenly', () => {
    const p = choosePartition(m, 2);
    expect(p.fields).toContain('pages.state');
    const chosen = rate(m, g, p.offsets, 2);
    const whole = rate(m, g, everything, 2);
    expect(whole.cross).toBeGreaterThan(0.4);
    expect(chosen.cross).toBeLessThan(whole.cross / 2);
    expect(chosen.balance).toBeGreaterThan(0.95);
  });

  it('masks exactly the key\'s bits in the packed words, for every field, straddling a word or not', () => {
    const L = m.layout;
    const states = g.levels.flat().slice(0, 400);
    const a = new Uint32Array(L.words);
    const b = new Uint32Array(L.words);
    const wrong: string[] = [];
    for (const f of L.stateFields()) {
      const offsets = Array.from({ length: f.length }, (_, i) => f.offset + i);
      const masks = L.packedMasks(offsets);
      let bits = 0;
      for (const x of masks) for (let v = x; v !== 0; v &= v - 1) bits++;
      const kept = keyKeptFunction(masks);
      for (let i = 1; i < states.length; i++) {
        L.pack(states[i - 1], a, 0);
        L.pack(states[i], b, 0);
        const same = offsets.every((o) => states[i - 1][o] === states[i][o]);
        if (kept(a, b) !== same) wrong.push(`${f.name}: masked words say ${!same}`);
      }
      if (bits === 0 && f.length > 0) wrong.push(`${f.name}: no bits`);
    }
    expect(wrong.slice(0, 3)).toEqual([]);
  });

  it('is the same choice every time (a run is reproducible)', () => {
    expect(choosePartition(m, 2)).toEqual(choosePartition(m, 2));
  });

  it('falls back to the whole state when the space is too small to sample levels from', () => {
    const tiny = buildModel(spinReference, resolveConfig(spinReference, { cpus: 1, pages: 1, capacity: 1 }));
    const p = choosePartition(tiny, 2);
    expect(p.fields).toEqual(tiny.layout.stateFields().map((f) => f.name));
  });

  it('gives an owner from the key alone, and a step that keeps the key keeps the owner', () => {
    const p = namedPartition(m, ['pages.state']);
    const owner = packedOwner(m, p.offsets, 3);
    const keptWords = keyKeptFunction(m.layout.packedMasks(p.offsets));
    const a = new Uint32Array(m.layout.words);
    const b = new Uint32Array(m.layout.words);
    const kept = (s: State, t: State): boolean => {
      m.layout.pack(s, a, 0);
      m.layout.pack(t, b, 0);
      return keptWords(a, b);
    };
    let keptSteps = 0;
    const wrong: string[] = [];
    const owners = new Set<number>();
    for (const [s, t] of g.steps) {
      owners.add(owner(s));
      const same = p.offsets.every((o) => s[o] === t[o]);
      if (kept(s, t) !== same) wrong.push(`kept() says ${!same} for a step that ${same ? 'keeps' : 'changes'} the key`);
      if (same) {
        keptSteps++;
        if (owner(t) !== owner(s)) wrong.push('a step that keeps the key changes the owner');
      }
    }
    expect(wrong.slice(0, 3)).toEqual([]);
    expect([...owners].sort()).toEqual([0, 1, 2]);
    expect(keptSteps).toBeGreaterThan(g.steps.length / 2);
    expect(() => namedPartition(m, ['pages.nope'])).toThrow(/no stored field pages.nope: accepted pages.state/);
  });

  it('gives the same search with a key that leaves a worker without states for whole levels', async () => {
    // Nothing is reported in the first levels, so every state goes to one worker: the other must keep step.
    const config = resolveConfig(spinReference, { cpus: 2, pages: 4, capacity: 2, mutant: 'no-isolate' });
    const invs = invariantsFor(spinReference, config);
    const one = explore(buildModel(spinReference, config), { invariants: invs, reduce: { symmetry: false, por: false } });
    for (const key of [['pages.reported'], ['zone.vq']]) {
      const two = await exploreParallel({ design: designSource({ id: 'spin-reference' }), config, invariants: invs.map((i) => i.id), reduce: { symmetry: false, por: false }, workers: 2, partition: key });
      expect(two.partition.fields).toEqual(key);
      expect([two.states, two.transitions, two.depth]).toEqual([one.states, one.transitions, one.depth]);
      expect(new Map([...two.violations].map(([k, v]) => [k, v.depth]))).toEqual(new Map([...one.violations].map(([k, v]) => [k, v.depth])));
    }
  });
});

describe('the level queues', () => {
  it('hand released chunks to the next level and read back what was pushed', () => {
    const pool = new ChunkPool();
    const a = new PairQueue(pool);
    const N = 200_000;
    for (let i = 0; i < N; i++) a.push(i, N - i);
    const pair = new Uint32Array(2);
    let bad = 0;
    for (let i = 0; i < N; i++) {
      a.read(i, pair);
      if (pair[0] !== i || pair[1] !== N - i) bad++;
      if ((i & 0xffff) === 0xffff) a.release(i + 1);
    }
    expect(bad).toBe(0);
    a.drop();
    const held = pool.bytes();
    expect(a.bytes()).toBe(0);
    expect(held).toBe(4 * 8 * 65536);
    const b = new PairQueue(pool);
    for (let i = 0; i < N; i++) b.push(7 * i, i);
    // The new level took its chunks from the pool, not from the heap.
    expect(pool.bytes()).toBe(held - b.bytes());
    for (let i = 0; i < N; i += 997) {
      b.read(i, pair);
      expect([pair[0], pair[1]]).toEqual([7 * i, i]);
    }
  });
});
