import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Layout } from '../../model/layout.js';
import { findDesign } from '../../model/designs/index.js';
import { buildModel, resolveConfig } from '../../model/system.js';

describe('Layout', () => {
  const d = findDesign('d5-page-reporting');
  const m = buildModel(d, resolveConfig(d, { cpus: 3, pages: 16, maxOrder: 3 }));
  const L = m.layout;

  it('packs and unpacks every in-domain vector to itself', () => {
    const domains = Array.from({ length: L.size }, () => 1);
    // Learn each byte's domain by probing validate() on single-byte vectors.
    for (let i = 0; i < L.size; i++) {
      const s = new Uint8Array(L.size);
      let n = 1;
      while (n < 256) {
        s[i] = n;
        if (L.validate(s) !== null) break;
        n++;
      }
      domains[i] = n;
    }
    const packedBytes = L.transients; // the transient event bytes are not packed
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: L.size, maxLength: L.size }), (raw) => {
        const s = Uint8Array.from(raw, (v, i) => (i < packedBytes ? v % domains[i] : 0));
        const w = new Uint32Array(L.words);
        L.pack(s, w, 0);
        const back = new Uint8Array(L.size);
        L.unpack(w, 0, back);
        expect(Array.from(back)).toEqual(Array.from(s));
      }),
      { numRuns: 300 },
    );
  });

  it('gives a readable view that builds the same vector back', () => {
    const s = m.initial();
    expect(Array.from(L.fromView(L.view(s)))).toEqual(Array.from(s));
    expect((L.view(s).zone as Record<string, unknown>).lock).toBe('free');
    expect((L.view(s).pages as Array<Record<string, unknown>>)[0]).toEqual({ owner: 'free-head', order: 3, reported: false });
  });

  it('names the field and value of a malformed vector', () => {
    const s = m.initial();
    s[m.f.owner + 2] = 9;
    expect(L.validate(s)).toBe('pages.owner[2] = 9 (domain 0..5)');
  });

  it('lists changes field by field with readable values', () => {
    const a = m.initial();
    const b = a.slice();
    b[m.f.lock] = 1;
    expect(L.diff(a, b)).toEqual([{ group: 'zone', label: 'zone.lock', field: 'lock', from: 'free', to: 'vcpu0' }]);
  });

  it('keeps segment 0 (page structure and vCPUs) apart from segment 1', () => {
    const small = new Layout([
      { name: 'a', segment: 0, fields: { x: { domain: { max: 3 }, doc: 'x' } } },
      { name: 'b', fields: { y: { domain: 'bool', doc: 'y' }, e: { domain: 'bool', transient: true, doc: 'e' } } },
    ]);
    expect(small.segments).toEqual([1, 1]);
    const s = Uint8Array.from([3, 1, 1]);
    const w = new Uint32Array(2);
    small.pack(s, w, 0);
    expect(Array.from(w)).toEqual([3, 1]);
    const back = new Uint8Array(3);
    small.unpack(w, 0, back);
    expect(Array.from(back)).toEqual([3, 1, 0]);
  });
});
