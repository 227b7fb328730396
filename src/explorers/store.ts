/**
 * The visited set: exact, compact, and not bounded by the 2^24 entries of a
 * JavaScript Map or Set.
 *
 * A packed state is two segments (see Layout): the allocator's page
 * structure with the vCPUs, and page contents with the engine and the host.
 * Each segment is interned on its own (words paired up in small tables, as
 * in LTSmin's tree compression and SPIN's COLLAPSE), and a state is stored as
 * the root pair of its two segment ids. A few thousand distinct segments
 * combine into millions of states, so each state costs one 8-byte root entry
 * plus its hash slot, and the segment tables stay small enough to live in
 * cache. Nothing is hashed away: a search that ends says `holds` exactly.
 *
 * Root ids are dense, in insertion order, so for a breadth-first search the
 * root table is also the queue and the levels are id ranges: no parent links
 * are stored (traces are rebuilt by re-expanding the level before).
 *
 * Buffers here are private to the store; nothing outside sees them mutate.
 */

const EMPTY = 0;
/** Largest hash table: 2^31 slots of 4 bytes. */
const MAX_SLOT_BITS = 31;

function hashPair(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h ^ b, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x27d4eb2f);
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * Interns pairs of uint32 values; ids are dense, in insertion order. The
 * hash slot of an entry holds its id + 1 in the low bits (as many as index
 * the table) and the rest of its hash above them, so a probe that meets
 * another entry rarely has to read that entry's pair to tell them apart.
 */
export class PairTable {
  private readonly chunks: Uint32Array[] = [];
  private readonly chunkBits: number;
  private readonly chunkMask: number;
  private slots: Uint32Array;
  private slotBits: number;
  private mask: number;
  count = 0;
  /** Whether the last intern() added a new pair. */
  fresh = false;
  constructor(chunkBits: number, slotBits: number) {
    this.chunkBits = chunkBits;
    this.chunkMask = (1 << chunkBits) - 1;
    this.slotBits = slotBits;
    this.slots = new Uint32Array(1 << slotBits);
    this.mask = (1 << slotBits) - 1;
  }

  intern(a: number, b: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const k = this.slotBits;
    const h = hashPair(a, b);
    let i = h & mask;
    for (;;) {
      const v = slots[i];
      if (v === EMPTY) break;
      if ((v ^ h) >>> k === 0) {
        const id = (v & mask) - 1;
        const c = this.chunks[id >>> this.chunkBits];
        const o = (id & this.chunkMask) << 1;
        if (c[o] === a && c[o + 1] === b) {
          this.fresh = false;
          return id;
        }
      }
      i = (i + 1) & mask;
    }
    const id = this.count;
    const chunk = id >>> this.chunkBits;
    if (chunk === this.chunks.length) this.chunks.push(new Uint32Array(2 << this.chunkBits));
    const c = this.chunks[chunk];
    const o = (id & this.chunkMask) << 1;
    c[o] = a;
    c[o + 1] = b;
    slots[i] = (((h >>> k) << k) | (id + 1)) >>> 0;
    this.count = id + 1;
    this.fresh = true;
    // Grow at 3/4 load: probes stay short and ids stay below the slot count.
    if (this.count * 4 > slots.length * 3) this.grow();
    return id;
  }

  first(id: number): number {
    return this.chunks[id >>> this.chunkBits][(id & this.chunkMask) << 1];
  }

  second(id: number): number {
    return this.chunks[id >>> this.chunkBits][((id & this.chunkMask) << 1) + 1];
  }

  private grow(): void {
    const k = this.slotBits + 1;
    if (k > MAX_SLOT_BITS) throw new RangeError('state table full: 2^31 hash slots');
    const slots = new Uint32Array(2 ** k);
    const mask = 2 ** k - 1;
    for (let id = 0; id < this.count; id++) {
      const c = this.chunks[id >>> this.chunkBits];
      const o = (id & this.chunkMask) << 1;
      const h = hashPair(c[o], c[o + 1]);
      let i = h & mask;
      while (slots[i] !== EMPTY) i = (i + 1) & mask;
      slots[i] = (((h >>> k) << k) | (id + 1)) >>> 0;
    }
    this.slots = slots;
    this.slotBits = k;
    this.mask = mask;
  }

  /** Bytes held: the pair chunks allocated plus the hash slots. */
  bytes(): number {
    return this.chunks.length * (8 << this.chunkBits) + this.slots.byteLength;
  }
}

/** A node of a segment's tree: interns (value[left], value[right]) into value[index]. */
interface Node {
  readonly left: number;
  readonly right: number;
  readonly out: number;
  readonly table: PairTable;
}

/** Pair up the values `level` (indices into the value array) until one is left. */
function buildTree(level: number[], nodes: Node[], next: { index: number }, small: boolean): number {
  while (level.length > 1) {
    const up: number[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) {
      const out = next.index++;
      nodes.push({ left: level[i], right: level[i + 1], out, table: small ? new PairTable(12, 10) : new PairTable(20, 16) });
      up.push(out);
    }
    if (level.length % 2 === 1) up.push(level[level.length - 1]);
    level = up;
  }
  return level[0];
}

export class StateStore {
  readonly words: number;
  private readonly nodes: readonly Node[];
  private readonly root: PairTable;
  /** Insert and read back, generated for this tree's shape (straight-line code, no loops over nodes). */
  readonly insert: (w: Uint32Array) => number;
  readonly get: (id: number, w: Uint32Array) => void;

  /** `segments` gives the words of each segment (see Layout.segments). */
  constructor(segments: readonly [number, number]) {
    this.words = segments[0] + segments[1];
    const nodes: Node[] = [];
    const next = { index: this.words };
    const a = buildTree(Array.from({ length: segments[0] }, (_, i) => i), nodes, next, true);
    const b = buildTree(Array.from({ length: segments[1] }, (_, i) => segments[0] + i), nodes, next, true);
    const rootOut = next.index++;
    this.root = new PairTable(20, 16);
    nodes.push({ left: a, right: b, out: rootOut, table: this.root });
    this.nodes = nodes;
    const name = (i: number): string => (i < this.words ? `w[${i}]` : `v${i}`);
    const ins = nodes.map((n, k) => `const v${n.out} = t${k}.intern(${name(n.left)}, ${name(n.right)});`);
    ins.push(`return v${rootOut};`);
    const get = [`const v${rootOut} = id;`];
    for (let k = nodes.length - 1; k >= 0; k--) {
      const n = nodes[k];
      const src = `v${n.out}`;
      get.push(`${n.left < this.words ? `w[${n.left}]` : `const v${n.left}`} = t${k}.first(${src});`);
      get.push(`${n.right < this.words ? `w[${n.right}]` : `const v${n.right}`} = t${k}.second(${src});`);
    }
    const tables = nodes.map((_, k) => `t${k}`);
    // Generated once per store: the tables are bound as arguments, the bodies are plain calls.
    this.insert = new Function(...tables, `return function insert(w) {\n${ins.join('\n')}\n};`)(...nodes.map((n) => n.table));
    this.get = new Function(...tables, `return function get(id, w) {\n${get.join('\n')}\n};`)(...nodes.map((n) => n.table));
  }

  get count(): number {
    return this.root.count;
  }

  /** Whether the last insert() added a new state. */
  get fresh(): boolean {
    return this.root.fresh;
  }

  bytes(): number {
    let b = 0;
    for (const n of this.nodes) b += n.table.bytes();
    return b;
  }

  /** Entries per table, root last: how well the segments compress. */
  tableSizes(): number[] {
    return this.nodes.map((n) => n.table.count);
  }
}
