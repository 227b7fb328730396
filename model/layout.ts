/**
 * The state layout: one declaration gives the working vector the transitions
 * read and write (one byte per field element), the packed words the explorer
 * stores (each element in just the bits its domain needs), and the readable
 * view used in traces, tests and docs. Because all three come from the same
 * field list, they cannot drift apart.
 *
 * Pack and unpack are generated once per layout as straight-line code: the
 * explorer calls them for every state, so they must not loop over field
 * descriptors or allocate.
 */
import { DesignError } from './errors.js';

/** Enum names, `{ max }` for the integers 0..max, or 'bool'. */
export type Domain = readonly string[] | { readonly max: number } | 'bool';

export interface FieldDecl {
  readonly domain: Domain;
  /** Array length inside a record group (omit for a scalar). */
  readonly count?: number;
  /** Not part of the state: zeroed before every step, read by edge invariants. */
  readonly transient?: boolean;
  readonly doc: string;
}

export interface GroupDecl {
  readonly name: string;
  /**
   * Storage segment, 0 or 1 (default 1). The explorer interns each segment
   * separately and stores a state as the pair of segment ids, so fields that
   * vary together belong in the same segment: the allocator's page
   * structure with the vCPUs that hold blocks (0), page contents with the
   * hint engine and the host (1).
   */
  readonly segment?: 0 | 1;
  /** A table group has one row per page or per vCPU; a record group has none. */
  readonly rows?: number;
  readonly rowLabel?: (row: number) => string;
  readonly fields: Readonly<Record<string, FieldDecl>>;
}

export type Value = string | number | boolean;
export type RecordView = { [field: string]: Value | Value[] };
export type RowView = { [field: string]: Value };
export type StateView = { [group: string]: RecordView | RowView[] };

export interface Change {
  readonly group: string;
  /** Table row (page or vCPU), or array index inside a record field. */
  readonly index?: number;
  readonly label: string;
  readonly field: string;
  readonly from: Value;
  readonly to: Value;
}

interface FieldInfo {
  readonly group: GroupDecl;
  readonly name: string;
  readonly decl: FieldDecl;
  readonly offset: number;
  readonly length: number;
  readonly size: number;
  readonly bits: number;
}

function domainSize(d: Domain): number {
  if (d === 'bool') return 2;
  if (Array.isArray(d)) return d.length;
  return (d as { max: number }).max + 1;
}

function bitsFor(size: number): number {
  let bits = 0;
  while ((1 << bits) < size) bits++;
  return bits;
}

export class Layout {
  readonly groups: readonly GroupDecl[];
  /** Bytes in the working vector, transients included. */
  readonly size: number;
  /** Offset of the first transient byte (the events of a step); size when there are none. */
  readonly transients: number;
  readonly packedBits: number;
  readonly words: number;
  /** Words of each storage segment: segment 0 is w[0..segments[0]), segment 1 the rest. */
  readonly segments: readonly [number, number];
  readonly pack: (s: Uint8Array, w: Uint32Array, off: number) => void;
  readonly unpack: (w: Uint32Array, off: number, s: Uint8Array) => void;
  /** Offset of the first element outside its field's domain, or -1 (generated, for every successor). */
  readonly firstInvalid: (s: Uint8Array) => number;
  private readonly fields: readonly FieldInfo[];
  private readonly byName = new Map<string, FieldInfo>();
  /** Per working-vector byte: the first bit of its element in the packed words, or -1 (transient, or a one-value domain). */
  private readonly bitAt: Int32Array;

  constructor(groups: readonly GroupDecl[]) {
    this.groups = groups;
    const infos: FieldInfo[] = [];
    let offset = 0;
    // Segment 0, then segment 1, then the transients, which are not packed.
    for (const pass of [0, 1, 2]) {
      for (const g of groups) {
        for (const [name, decl] of Object.entries(g.fields)) {
          const at = decl.transient ? 2 : (g.segment ?? 1);
          if (at !== pass) continue;
          const length = g.rows !== undefined ? g.rows : (decl.count ?? 1);
          const size = domainSize(decl.domain);
          if (!(size >= 1 && size <= 256)) throw new DesignError(`field ${g.name}.${name} has ${size} values: a field holds 1 to 256 (a bool, up to 256 enum names, or { max } up to 255)`);
          const info: FieldInfo = { group: g, name, decl, offset, length, size, bits: bitsFor(size) };
          infos.push(info);
          this.byName.set(`${g.name}.${name}`, info);
          offset += length;
        }
      }
    }
    this.fields = infos;
    this.size = offset;
    this.transients = infos.find((f) => f.decl.transient)?.offset ?? offset;
    const segBits = [0, 0];
    for (const f of infos) if (!f.decl.transient) segBits[(f.group.segment ?? 1)] += f.bits * f.length;
    this.packedBits = segBits[0] + segBits[1];
    const w0 = Math.max(1, Math.ceil(segBits[0] / 32));
    const w1 = Math.max(1, Math.ceil(segBits[1] / 32));
    this.segments = [w0, w1];
    this.words = w0 + w1;
    // Segment 0 from bit 0, segment 1 from its first word on.
    this.bitAt = new Int32Array(offset).fill(-1);
    const pos = [0, w0 * 32];
    for (const f of infos) {
      if (f.decl.transient || f.bits === 0) continue;
      const seg = f.group.segment ?? 1;
      for (let i = 0; i < f.length; i++) {
        this.bitAt[f.offset + i] = pos[seg];
        pos[seg] += f.bits;
      }
    }
    const { pack, unpack } = this.generate();
    this.pack = pack;
    this.unpack = unpack;
    const checks: string[] = [];
    for (const f of infos) {
      if (f.size === 256) continue;
      for (let i = 0; i < f.length; i++) checks.push(`if (s[${f.offset + i}] >= ${f.size}) return ${f.offset + i};`);
    }
    this.firstInvalid = new Function('s', `${checks.join('\n')}\nreturn -1;`) as Layout['firstInvalid'];
  }

  /** Storage segment of a group (see GroupDecl.segment). */
  segmentOf(group: string): 0 | 1 {
    const g = this.groups.find((x) => x.name === group);
    if (g === undefined) throw this.unknown(group, undefined);
    return g.segment ?? 1;
  }

  /** Byte offset of a field's first element in the working vector. */
  at(group: string, field: string): number {
    const f = this.byName.get(`${group}.${field}`);
    if (f === undefined) throw this.unknown(group, field);
    return f.offset;
  }

  /**
   * A lookup of a field the state does not have: a design's step, hook or
   * invariant that names one (the caller adds which design and what).
   */
  private unknown(group: string, field: string | undefined): DesignError {
    const g = this.groups.find((x) => x.name === group);
    if (g === undefined) return new DesignError(`the state has no group '${group}'${field !== undefined ? ` (asked for ${group}.${field})` : ''}: accepted ${this.groups.map((x) => x.name).join(', ')}`);
    return new DesignError(`the state has no field ${group}.${field}: group ${group} has ${Object.keys(g.fields).join(', ')}`);
  }

  /** The transient fields (the events of a step), as `group.field`. */
  eventNames(): string[] {
    return this.fields.filter((f) => f.decl.transient).map((f) => `${f.group.name}.${f.name}`);
  }

  /** Where a transient field's elements are, by `group.field`; undefined for a stored field or none. */
  eventSpan(name: string): { readonly offset: number; readonly length: number } | undefined {
    const f = this.byName.get(name);
    return f !== undefined && f.decl.transient ? { offset: f.offset, length: f.length } : undefined;
  }

  has(group: string, field: string): boolean {
    return this.byName.has(`${group}.${field}`);
  }

  /** The stored fields (transients left out), each with the bytes its elements take in the working vector. */
  stateFields(): { readonly name: string; readonly offset: number; readonly length: number }[] {
    return this.fields.filter((f) => !f.decl.transient).map((f) => ({ name: `${f.group.name}.${f.name}`, offset: f.offset, length: f.length }));
  }

  /**
   * Per packed word, the bits that hold the elements at these byte offsets
   * of the working vector: two states agree on those elements exactly when
   * their packed words agree under the masks. Transient elements pack to nothing.
   */
  packedMasks(offsets: readonly number[]): Uint32Array {
    const masks = new Uint32Array(this.words);
    for (const f of this.fields) {
      for (let i = 0; i < f.length; i++) {
        const at = this.bitAt[f.offset + i];
        if (at < 0 || !offsets.includes(f.offset + i)) continue;
        // Bit by bit: an element may straddle two words.
        for (let bit = at; bit < at + f.bits; bit++) masks[bit >>> 5] |= 1 << (bit & 31);
      }
    }
    return masks;
  }

  /** Values a field may take; transitions that write outside it produce a malformed state. */
  domainOf(group: string, field: string): number {
    const f = this.byName.get(`${group}.${field}`);
    if (f === undefined) throw this.unknown(group, field);
    return f.size;
  }

  private generate(): Pick<Layout, 'pack' | 'unpack'> {
    const terms: string[][] = Array.from({ length: this.words }, () => []);
    const reads: string[] = [];
    for (const f of this.fields) {
      for (let i = 0; i < f.length; i++) {
        const o = f.offset + i;
        const pos = this.bitAt[o];
        if (pos < 0) {
          reads.push(`s[${o}] = 0;`);
          continue;
        }
        const mask = (1 << f.bits) - 1;
        const w = pos >>> 5;
        const sh = pos & 31;
        terms[w].push(sh === 0 ? `(s[${o}] & ${mask})` : `((s[${o}] & ${mask}) << ${sh})`);
        if (sh + f.bits > 32) {
          terms[w + 1].push(`((s[${o}] & ${mask}) >>> ${32 - sh})`);
          reads.push(`s[${o}] = ((w[off + ${w}] >>> ${sh}) | (w[off + ${w + 1}] << ${32 - sh})) & ${mask};`);
        } else {
          reads.push(`s[${o}] = (w[off + ${w}] >>> ${sh}) & ${mask};`);
        }
      }
    }
    const writes = terms.map((t, w) => `w[off + ${w}] = ${t.length ? t.join(' | ') : '0'};`);
    const pack = new Function('s', 'w', 'off', writes.join('\n')) as Layout['pack'];
    const unpack = new Function('w', 'off', 's', reads.join('\n')) as Layout['unpack'];
    return { pack, unpack };
  }

  /** First element that lies outside its field's domain, as `group.field[i] = v`, or null. */
  validate(s: Uint8Array): string | null {
    for (const f of this.fields) {
      for (let i = 0; i < f.length; i++) {
        const v = s[f.offset + i];
        if (v >= f.size) return `${f.group.name}.${f.name}${f.length > 1 ? `[${i}]` : ''} = ${v} (domain 0..${f.size - 1})`;
      }
    }
    return null;
  }

  private show(f: FieldInfo, v: number): Value {
    const d = f.decl.domain;
    if (d === 'bool') return v !== 0;
    if (Array.isArray(d)) return v < d.length ? d[v] : `?${v}`;
    return v;
  }

  private parse(f: FieldInfo, v: Value): number {
    const d = f.decl.domain;
    if (d === 'bool') return v ? 1 : 0;
    if (Array.isArray(d)) {
      const i = d.indexOf(v as string);
      if (i < 0) throw new Error(`layout: ${f.group.name}.${f.name} has no value ${String(v)}; accepted: ${d.join(', ')}`);
      return i;
    }
    return v as number;
  }

  /** The readable state: record groups as objects, table groups as arrays of rows. */
  view(s: Uint8Array, withTransients = false): StateView {
    const out: StateView = {};
    for (const g of this.groups) {
      if (g.rows !== undefined) out[g.name] = Array.from({ length: g.rows }, () => ({}));
      else out[g.name] = {};
    }
    for (const f of this.fields) {
      if (f.decl.transient && !withTransients) continue;
      const target = out[f.group.name];
      if (Array.isArray(target)) {
        for (let i = 0; i < f.length; i++) target[i][f.name] = this.show(f, s[f.offset + i]);
      } else if (f.decl.count !== undefined) {
        target[f.name] = Array.from({ length: f.length }, (_, i) => this.show(f, s[f.offset + i]));
      } else {
        target[f.name] = this.show(f, s[f.offset]);
      }
    }
    return out;
  }

  /** The working vector of a readable state; fields the view leaves out are 0. */
  fromView(view: StateView): Uint8Array {
    const s = new Uint8Array(this.size);
    for (const f of this.fields) {
      const src = view[f.group.name];
      if (src === undefined) continue;
      if (Array.isArray(src)) {
        for (let i = 0; i < f.length && i < src.length; i++) {
          const v = src[i][f.name];
          if (v !== undefined) s[f.offset + i] = this.parse(f, v);
        }
      } else {
        const v = src[f.name];
        if (v === undefined) continue;
        if (Array.isArray(v)) v.forEach((x, i) => { if (i < f.length) s[f.offset + i] = this.parse(f, x); });
        else s[f.offset] = this.parse(f, v);
      }
    }
    return s;
  }

  /** Field-level differences between two working vectors, in layout order. */
  diff(a: Uint8Array, b: Uint8Array): Change[] {
    const out: Change[] = [];
    for (const f of this.fields) {
      if (f.decl.transient) continue;
      for (let i = 0; i < f.length; i++) {
        const x = a[f.offset + i];
        const y = b[f.offset + i];
        if (x === y) continue;
        const row = f.group.rows !== undefined;
        const label = row
          ? (f.group.rowLabel ? f.group.rowLabel(i) : `${f.group.name}[${i}]`)
          : f.decl.count !== undefined ? `${f.group.name}.${f.name}[${i}]` : `${f.group.name}.${f.name}`;
        out.push({
          group: f.group.name,
          ...(row || f.decl.count !== undefined ? { index: i } : {}),
          label,
          field: f.name,
          from: this.show(f, x),
          to: this.show(f, y),
        });
      }
    }
    return out;
  }

  /** One line per field: what it stands for and how many bits it packs into. */
  describe(): string[] {
    return this.fields.map((f) => {
      const d = f.decl.domain;
      const dom = d === 'bool' ? 'bool' : Array.isArray(d) ? d.join('|') : `0..${(d as { max: number }).max}`;
      const n = f.length > 1 ? `[${f.length}]` : '';
      return `${f.group.name}.${f.name}${n}: ${dom}${f.decl.transient ? ' (transient)' : `, ${f.bits} bit${f.bits === 1 ? '' : 's'}`} - ${f.decl.doc}`;
    });
  }
}
