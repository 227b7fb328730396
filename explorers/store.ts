/**
 * The visited set: exact, compact, and not bounded by the 2^24 entries of a
 * JavaScript Map or Set.
 *
 * A packed state is two segments (see Layout): the allocator's page
 * structure with the vCPUs, and page contents with the engine and the host.
 * Each segment is interned on its own (its words, up to four at a time, in
 * small tables, as in LTSmin's tree compression and SPIN's COLLAPSE), so a
 * state is the pair of its two segment ids. A few thousand distinct segments
 * combine into millions of states, and the segment tables stay small.
 *
 * The pairs themselves live inline in an open-addressing table, 8 bytes a
 * slot: 27 and 25 bits for the segment ids and 12 bits for the BFS depth at
 * which the state was first reached. The table is split into 64 partitions by hash,
 * each growing on its own, so a growth copies 1/64 of the table, never
 * doubles the memory for a moment, and keeps every large partition between
 * 0.68 and 0.85 full. A lookup is one random memory access; no parent links or state
 * ids are kept: the depth is enough to rebuild a shortest path by
 * re-expanding the states one level up. Nothing is hashed away, so a search
 * that ends says `holds` exactly.
 *
 * Buffers here are private to the store; nothing outside sees them mutate.
 */
import { InternalError } from '../model/errors.js';

const EMPTY = 0;
/** Largest segment table: 2^31 hash slots of 4 bytes. */
const MAX_SLOT_BITS = 31;

/** The store ran out of key space or memory: the search stops, its verdicts are unknown. */
export class StoreFull extends Error {
  /** `memory-limit`: a growth would pass the caller's byte limit; `capacity`: a table's own bound. */
  constructor(message: string, readonly reason: 'memory-limit' | 'capacity' = 'capacity') {
    super(message);
  }
}

/**
 * A zeroed table whose every page has been written once. A fresh page that
 * is read first maps the kernel's shared zero page, and the first write then
 * replaces it, which flushes the TLB of every core the process runs on: an
 * interprocessor interrupt, a VM exit under KVM, and with worker threads a
 * stall of the other search. Probing a new table reads before it writes, so
 * its pages are written here, one word a page, before anything reads them.
 */
export function writtenTable(length: number): Uint32Array {
  const t = new Uint32Array(length);
  for (let i = 0; i < length; i += 1024) t[i] = 0;
  return t;
}

function hashPair(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h ^ b, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x27d4eb2f);
  return (h ^ (h >>> 15)) >>> 0;
}

function hashQuad(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ c, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15) ^ d, 0x165667b1);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Interns tuples of `width` (1..4) uint32 values; ids are dense, in
 * insertion order. The hash slot of an entry holds its id + 1 in the low
 * bits (as many as index the table) and the rest of its hash above them, so
 * a probe that meets another entry rarely has to read that entry's tuple.
 */
export class QuadTable {
  private readonly chunks: Uint32Array[] = [];
  private readonly chunkBits: number;
  private readonly chunkMask: number;
  private readonly width: number;
  private slots: Uint32Array;
  private slotBits: number;
  private mask: number;
  count = 0;
  /** Whether the last intern() added a new tuple. */
  fresh = false;
  /**
   * The tuple last read by load() or interned, and its id: a step often
   * leaves one segment of its state alone, and the lookup of that segment
   * then finds it here without touching the hash table.
   */
  private lastA = 0;
  private lastB = 0;
  private lastC = 0;
  private lastD = 0;
  private lastId = -1;
  /** The tuple read by the last load(). */
  a = 0;
  b = 0;
  c = 0;
  d = 0;

  constructor(chunkBits: number, slotBits: number, width = 4) {
    if (width < 1 || width > 4) throw new InternalError(`tuple width ${width}`);
    this.width = width;
    this.chunkBits = chunkBits;
    this.chunkMask = (1 << chunkBits) - 1;
    this.slotBits = slotBits;
    this.slots = writtenTable(1 << slotBits);
    this.mask = (1 << slotBits) - 1;
  }

  /** Intern (a, b, c, d); values past the table's width must be 0. */
  intern(a: number, b: number, c: number, d: number): number {
    if (a === this.lastA && b === this.lastB && c === this.lastC && d === this.lastD && this.lastId >= 0) {
      this.fresh = false;
      return this.lastId;
    }
    const slots = this.slots;
    const mask = this.mask;
    const k = this.slotBits;
    const w = this.width;
    const h = hashQuad(a, b, c, d);
    let i = h & mask;
    let id = -1;
    for (;;) {
      const v = slots[i];
      if (v === EMPTY) break;
      if ((v ^ h) >>> k === 0) {
        const x = (v & mask) - 1;
        const e = this.chunks[x >>> this.chunkBits];
        const o = (x & this.chunkMask) * w;
        if (e[o] === a && (w < 2 || e[o + 1] === b) && (w < 3 || e[o + 2] === c) && (w < 4 || e[o + 3] === d)) {
          id = x;
          break;
        }
      }
      i = (i + 1) & mask;
    }
    if (id >= 0) {
      this.fresh = false;
    } else {
      id = this.count;
      const chunk = id >>> this.chunkBits;
      if (chunk === this.chunks.length) this.chunks.push(new Uint32Array(w << this.chunkBits));
      const e = this.chunks[chunk];
      const o = (id & this.chunkMask) * w;
      e[o] = a;
      if (w > 1) e[o + 1] = b;
      if (w > 2) e[o + 2] = c;
      if (w > 3) e[o + 3] = d;
      slots[i] = (((h >>> k) << k) | (id + 1)) >>> 0;
      this.count = id + 1;
      this.fresh = true;
      // Grow at 3/4 load: probes stay short and ids stay below the slot count.
      if (this.count * 4 > slots.length * 3) this.grow();
    }
    this.lastA = a;
    this.lastB = b;
    this.lastC = c;
    this.lastD = d;
    this.lastId = id;
    return id;
  }

  /** Read tuple `id` into a..d (and remember it for the next intern()). */
  load(id: number): void {
    const w = this.width;
    const e = this.chunks[id >>> this.chunkBits];
    const o = (id & this.chunkMask) * w;
    this.lastA = this.a = e[o];
    this.lastB = this.b = w > 1 ? e[o + 1] : 0;
    this.lastC = this.c = w > 2 ? e[o + 2] : 0;
    this.lastD = this.d = w > 3 ? e[o + 3] : 0;
    this.lastId = id;
  }

  private grow(): void {
    const k = this.slotBits + 1;
    if (k > MAX_SLOT_BITS) throw new StoreFull('segment table full: 2^31 hash slots');
    const slots = writtenTable(2 ** k);
    const mask = 2 ** k - 1;
    const w = this.width;
    for (let id = 0; id < this.count; id++) {
      const e = this.chunks[id >>> this.chunkBits];
      const o = (id & this.chunkMask) * w;
      const h = hashQuad(e[o], w > 1 ? e[o + 1] : 0, w > 2 ? e[o + 2] : 0, w > 3 ? e[o + 3] : 0);
      let i = h & mask;
      while (slots[i] !== EMPTY) i = (i + 1) & mask;
      slots[i] = (((h >>> k) << k) | (id + 1)) >>> 0;
    }
    this.slots = slots;
    this.slotBits = k;
    this.mask = mask;
  }

  /** Bytes held: the tuple chunks allocated plus the hash slots. */
  bytes(): number {
    return this.chunks.length * ((4 * this.width) << this.chunkBits) + this.slots.byteLength;
  }
}

/** A node of a segment's tree: interns up to four values into value[out]. */
interface Node {
  /** Indices into the value array (words first, then node outputs); -1 for an unused input. */
  readonly inputs: readonly number[];
  readonly out: number;
  readonly table: QuadTable;
}

/** Group `level` (indices into the value array) in fours until one value is left; returns its index. */
function buildTree(level: number[], nodes: Node[], next: { index: number }): number {
  do {
    const up: number[] = [];
    for (let i = 0; i < level.length; i += 4) {
      const out = next.index++;
      const inputs = level.slice(i, i + 4);
      const width = inputs.length;
      while (inputs.length < 4) inputs.push(-1);
      nodes.push({ inputs, out, table: new QuadTable(12, 10, width) });
      up.push(out);
    }
    level = up;
  } while (level.length > 1);
  return level[0];
}

/** A hash scaled to [0, size) without a division (Lemire's fastrange, in doubles). */
function home(h: number, size: number): number {
  return Math.floor(((h >>> 16) * size + Math.floor(((h & 0xffff) * size) / 65536)) / 65536);
}

/**
 * A slot is two words: the first segment's id in 27 bits and the second's
 * in 25 (the first, pages with vCPUs, is the more varied one in every
 * design), then the depth in 12 bits, +1 so that 0 marks an empty slot.
 * BFS levels of our designs number tens, not thousands.
 */
const A_BITS = 27;
const B_BITS = 25;
const A_MASK = (1 << A_BITS) - 1;
/** Bits of b kept in the first word, above a; the rest go to the second word. */
const LO_B_BITS = 32 - A_BITS;
const HI_B_BITS = B_BITS - LO_B_BITS;
const HI_B_MASK = (1 << HI_B_BITS) - 1;
export const MAX_SEGMENTS_A = 2 ** A_BITS;
export const MAX_SEGMENTS_B = 2 ** B_BITS;
export const MAX_DEPTH = 2 ** (32 - HI_B_BITS) - 2;

/** The visited set's partitions: selected by the top bits of a key's hash. */
const PART_BITS = 6;
const PARTS = 1 << PART_BITS;
/** A partition grows when it is 85% full (linear probing, 8 slots a cache line). */
const MAX_LOAD = 0.85;

export class StateStore {
  readonly words: number;
  private readonly nodes: readonly Node[];
  /** Intern both segments of w; the ids land in `a` and `b`. Generated per shape. */
  private readonly key: (w: Uint32Array) => void;
  /** The same for the state at word offset o of a buffer of states. */
  private readonly keyAt: (w: Uint32Array, o: number) => void;
  /** Words of the state with segment ids (a, b). Generated per shape. */
  readonly decode: (a: number, b: number, w: Uint32Array) => void;
  /** Per partition: the slots (two words each), their number, and how many are used. */
  private readonly keys: Uint32Array[];
  private readonly sizes: Float64Array;
  private readonly used: Float64Array;
  count = 0;
  /** Whether the last insert() added a new state. */
  fresh = false;
  /** Segment ids of the state last inserted. */
  a = 0;
  b = 0;
  /** Bytes the visited set may hold before a growth is refused (StoreFull). */
  limit = Infinity;
  /** Bytes held elsewhere by the same search (its queues), counted against `limit`. */
  reserve = 0;

  /** `segments` gives the words of each segment (see Layout.segments). */
  constructor(segments: readonly [number, number], slotsPerPartition = 1 << 10) {
    this.words = segments[0] + segments[1];
    const nodes: Node[] = [];
    const next = { index: this.words };
    const a = buildTree(Array.from({ length: segments[0] }, (_, i) => i), nodes, next);
    const b = buildTree(Array.from({ length: segments[1] }, (_, i) => segments[0] + i), nodes, next);
    this.nodes = nodes;
    const name = (i: number): string => (i < 0 ? '0' : i < this.words ? `w[${i}]` : `v${i}`);
    const key = nodes.map((n, k) => `const v${n.out} = t${k}.intern(${n.inputs.map(name).join(', ')});`);
    key.push(`store.a = v${a};`, `store.b = v${b};`);
    const dec = [`const v${a} = a;`, `const v${b} = b;`];
    const fields = ['a', 'b', 'c', 'd'];
    for (let k = nodes.length - 1; k >= 0; k--) {
      const n = nodes[k];
      dec.push(`t${k}.load(v${n.out});`);
      n.inputs.forEach((x, j) => {
        if (x >= 0) dec.push(`${x < this.words ? `w[${x}]` : `const v${x}`} = t${k}.${fields[j]};`);
      });
    }
    const tables = nodes.map((_, k) => `t${k}`);
    // Generated once per store: straight-line calls, no loop over the tree in the hot path.
    this.key = new Function('store', ...tables, `return function key(w) {\n${key.join('\n')}\n};`)(this, ...nodes.map((n) => n.table));
    const keyAt = key.map((line) => line.replace(/w\[(\d+)\]/g, 'w[o + $1]'));
    this.keyAt = new Function('store', ...tables, `return function keyAt(w, o) {\n${keyAt.join('\n')}\n};`)(this, ...nodes.map((n) => n.table));
    this.decode = new Function(...tables, `return function decode(a, b, w) {\n${dec.join('\n')}\n};`)(...nodes.map((n) => n.table));
    this.keys = Array.from({ length: PARTS }, () => writtenTable(2 * slotsPerPartition));
    this.sizes = new Float64Array(PARTS).fill(slotsPerPartition);
    this.used = new Float64Array(PARTS);
  }

  /** Intern both segments of w; their ids land in `a` and `b`. */
  keyOf(w: Uint32Array): void {
    this.key(w);
    this.checkIds();
  }

  /**
   * Insert the packed state w[0..words) first reached at `depth`. Returns
   * whether it is new; its segment ids are left in `a` and `b`.
   */
  insert(w: Uint32Array, depth: number): boolean {
    this.keyOf(w);
    return this.insertKey(this.a, this.b, depth);
  }

  /** insert() for the state at word offset o of a buffer of packed states. */
  insertAt(buf: Uint32Array, o: number, depth: number): boolean {
    this.keyAt(buf, o);
    this.checkIds();
    return this.insertKey(this.a, this.b, depth);
  }

  private checkIds(): void {
    if (this.a >= MAX_SEGMENTS_A) throw new StoreFull(`more than ${MAX_SEGMENTS_A} distinct values of the first state segment`);
    if (this.b >= MAX_SEGMENTS_B) throw new StoreFull(`more than ${MAX_SEGMENTS_B} distinct values of the second state segment`);
  }

  /** Insert the state with segment ids (a, b) first reached at `depth`; whether it is new. */
  insertKey(a: number, b: number, depth: number): boolean {
    const lo = (a | (b << A_BITS)) >>> 0;
    const hiKey = b >>> LO_B_BITS;
    const h = hashPair(a, b);
    const part = h >>> (32 - PART_BITS);
    const keys = this.keys[part];
    const size = this.sizes[part];
    let i = home(h << PART_BITS >>> 0, size);
    for (;;) {
      const hi = keys[2 * i + 1];
      if (hi === 0) break;
      if (keys[2 * i] === lo && (hi & HI_B_MASK) === hiKey) {
        this.fresh = false;
        return false;
      }
      if (++i === size) i = 0;
    }
    if (depth > MAX_DEPTH) throw new StoreFull(`search deeper than ${MAX_DEPTH} levels`);
    keys[2 * i] = lo;
    keys[2 * i + 1] = (hiKey | ((depth + 1) << HI_B_BITS)) >>> 0;
    this.count++;
    this.fresh = true;
    if (++this.used[part] > size * MAX_LOAD) this.grow(part);
    return true;
  }

  /** Depth at which the state with segment ids (a, b) was first reached, or -1. */
  depthOf(a: number, b: number): number {
    const lo = (a | (b << A_BITS)) >>> 0;
    const hiKey = b >>> LO_B_BITS;
    const h = hashPair(a, b);
    const part = h >>> (32 - PART_BITS);
    const keys = this.keys[part];
    const size = this.sizes[part];
    let i = home(h << PART_BITS >>> 0, size);
    for (;;) {
      const hi = keys[2 * i + 1];
      if (hi === 0) return -1;
      if (keys[2 * i] === lo && (hi & HI_B_MASK) === hiKey) return (hi >>> HI_B_BITS) - 1;
      if (++i === size) i = 0;
    }
  }

  /** Every stored state (segment ids and depth), in table order. */
  forEach(fn: (a: number, b: number, depth: number) => void): void {
    for (let part = 0; part < PARTS; part++) {
      const keys = this.keys[part];
      const size = this.sizes[part];
      for (let i = 0; i < size; i++) {
        const hi = keys[2 * i + 1];
        if (hi === 0) continue;
        const lo = keys[2 * i];
        fn(lo & A_MASK, (lo >>> A_BITS) | ((hi & HI_B_MASK) << LO_B_BITS), (hi >>> HI_B_BITS) - 1);
      }
    }
  }

  private grow(part: number): void {
    const old = this.keys[part];
    const oldSize = this.sizes[part];
    // Double while small (rehashing is cheap and frequent), then by a quarter,
    // so that a large table stays between 0.68 and 0.85 full.
    const size = oldSize < 1 << 12 ? oldSize * 2 : Math.floor(oldSize * 1.25) + 1;
    if (size > 2 ** 31 - 1) throw new StoreFull('hash table partition full (2^31 slots)');
    if (this.bytes() + this.reserve + size * 8 > this.limit) {
      throw new StoreFull(`the visited set would pass the memory limit of ${Math.round(this.limit / 2 ** 20)} MiB`, 'memory-limit');
    }
    const keys = writtenTable(2 * size);
    for (let j = 0; j < oldSize; j++) {
      const hi = old[2 * j + 1];
      if (hi === 0) continue;
      const lo = old[2 * j];
      let i = home(hashPair(lo & A_MASK, (lo >>> A_BITS) | ((hi & HI_B_MASK) << LO_B_BITS)) << PART_BITS >>> 0, size);
      while (keys[2 * i + 1] !== 0) if (++i === size) i = 0;
      keys[2 * i] = lo;
      keys[2 * i + 1] = hi;
    }
    this.keys[part] = keys;
    this.sizes[part] = size;
  }

  /** Bytes of the visited set's slots. */
  slotBytes(): number {
    let b = 0;
    for (const k of this.keys) b += k.byteLength;
    return b;
  }

  bytes(): number {
    let b = this.slotBytes();
    for (const n of this.nodes) b += n.table.bytes();
    return b;
  }

  /** Entries of each segment table, then the number of states. */
  tableSizes(): number[] {
    return [...this.nodes.map((n) => n.table.count), this.count];
  }
}
