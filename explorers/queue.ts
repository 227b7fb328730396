/**
 * A FIFO of (a, b) pairs in fixed-size chunks: one BFS level of segment-id
 * pairs. Chunks are released as the level is consumed, so memory follows the
 * frontier, not the whole search. Private to the explorer.
 */
const SHIFT = 16;
const CHUNK = 1 << SHIFT;

/**
 * Chunks released by one level and taken again by the next. A search's
 * levels shrink and grow in step, so the pool never holds more than the
 * largest frontier did, and chunks are not handed back to the C heap only
 * to be asked for again: with several threads in the process, each such
 * unmapping costs every core a TLB flush.
 */
export class ChunkPool {
  private readonly free: Uint32Array[] = [];

  take(): Uint32Array {
    return this.free.pop() ?? new Uint32Array(2 * CHUNK);
  }

  give(c: Uint32Array): void {
    this.free.push(c);
  }

  bytes(): number {
    return this.free.length * 8 * CHUNK;
  }
}

export class PairQueue {
  private readonly chunks: (Uint32Array | null)[] = [];
  length = 0;

  constructor(private readonly pool: ChunkPool) {}

  push(a: number, b: number): void {
    const c = this.length >>> SHIFT;
    if (c === this.chunks.length) this.chunks.push(this.pool.take());
    const chunk = this.chunks[c]!;
    const o = (this.length & (CHUNK - 1)) << 1;
    chunk[o] = a;
    chunk[o + 1] = b;
    this.length++;
  }

  /** Pair i as out[0], out[1]; pairs before the last release() are gone. */
  read(i: number, out: Uint32Array): void {
    const chunk = this.chunks[i >>> SHIFT]!;
    const o = (i & (CHUNK - 1)) << 1;
    out[0] = chunk[o];
    out[1] = chunk[o + 1];
  }

  /** Give back the chunks that lie wholly before pair i. */
  release(i: number): void {
    for (let k = 0; k < i >>> SHIFT; k++) {
      const c = this.chunks[k];
      if (c === null) continue;
      this.pool.give(c);
      this.chunks[k] = null;
    }
  }

  /** Give back every chunk: the queue is done with. */
  drop(): void {
    this.release(this.chunks.length << SHIFT);
  }

  bytes(): number {
    return this.chunks.reduce((n, c) => n + (c === null ? 0 : c.byteLength), 0);
  }
}
