import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_DEPTH, MAX_SEGMENTS_A, MAX_SEGMENTS_B, QuadTable, StateStore, StoreFull } from '../../explorers/store.js';

describe('QuadTable', () => {
  it('gives dense ids in insertion order and finds every pair again across growth', () => {
    const t = new QuadTable(4, 2);
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      expect(t.intern(i * 2654435761 >>> 0, i, i & 7, 0)).toBe(i);
      expect(t.fresh).toBe(true);
    }
    for (let i = 0; i < n; i += 97) {
      expect(t.intern(i * 2654435761 >>> 0, i, i & 7, 0)).toBe(i);
      expect(t.fresh).toBe(false);
      t.load(i);
      expect([t.a, t.b, t.c, t.d]).toEqual([i * 2654435761 >>> 0, i, i & 7, 0]);
    }
    expect(t.count).toBe(n);
  });

  it('behaves as a set of tuples', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(20), fc.nat(20), fc.nat(2)), { maxLength: 400 }), (tuples) => {
        const t = new QuadTable(3, 1);
        const ref = new Map<string, number>();
        for (const [a, b, c] of tuples) {
          const key = `${a},${b},${c}`;
          const known = ref.has(key);
          const id = t.intern(a, b, c, 1);
          expect(t.fresh).toBe(!known);
          if (known) expect(id).toBe(ref.get(key));
          else ref.set(key, id);
        }
        expect(t.count).toBe(ref.size);
      }),
    );
  });
});

describe('StateStore', () => {
  it('keeps each distinct state once with the depth it was first inserted at', () => {
    for (const segments of [[1, 1], [2, 3], [3, 2], [4, 4], [5, 9]] as const) {
      const store = new StateStore(segments, 64);
      const words = segments[0] + segments[1];
      const states: number[][] = [];
      for (let i = 0; i < 3000; i++) states.push(Array.from({ length: words }, (_, k) => (i * (k + 7) * 40503) % 65521));
      const w = new Uint32Array(words);
      const keys: [number, number][] = [];
      states.forEach((s, i) => {
        w.set(s);
        expect(store.insert(w, i % 7)).toBe(true);
        keys.push([store.a, store.b]);
      });
      expect(store.count).toBe(states.length);
      states.forEach((s, i) => {
        w.set(s);
        expect(store.insert(w, 99)).toBe(false);
        expect([store.a, store.b]).toEqual(keys[i]);
        expect(store.depthOf(store.a, store.b)).toBe(i % 7);
        store.decode(keys[i][0], keys[i][1], w);
        expect(Array.from(w)).toEqual(s);
      });
      let n = 0;
      store.forEach(() => n++);
      expect(n).toBe(states.length);
    }
  });

  it('says a state it never saw is absent', () => {
    const store = new StateStore([1, 1]);
    store.insert(Uint32Array.from([1, 2]), 0);
    expect(store.depthOf(5, 5)).toBe(-1);
  });

  it('keeps the largest segment ids and depth a slot holds apart, and refuses a deeper level', () => {
    const store = new StateStore([1, 1]);
    const keys: [number, number, number][] = [
      [MAX_SEGMENTS_A - 1, MAX_SEGMENTS_B - 1, MAX_DEPTH],
      [MAX_SEGMENTS_A - 1, 0, 0],
      [0, MAX_SEGMENTS_B - 1, 1],
      [1 << 26, 1 << 24, 2048],
      [(1 << 26) + 5, 31, 7],
      [5, 32, 3],
    ];
    for (const [a, b, d] of keys) expect(store.insertKey(a, b, d)).toBe(true);
    for (const [a, b, d] of keys) expect(store.depthOf(a, b)).toBe(d);
    const seen: [number, number, number][] = [];
    store.forEach((a, b, d) => seen.push([a, b, d]));
    expect(seen.sort()).toEqual([...keys].sort());
    expect(() => store.insertKey(9, 9, MAX_DEPTH + 1)).toThrow(StoreFull);
  });
});
