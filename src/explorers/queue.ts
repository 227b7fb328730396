/**
 * A FIFO of (a, b) pairs in fixed-size chunks: one BFS level of segment-id
 * pairs. Chunks are dropped as the level is consumed, so memory follows the
 * frontier, not the whole search. Private to the explorer.
 */
const SHIFT = 16;
const CHUNK = 1 << SHIFT;

export class PairQueue {
  private readonly chunks: (Uint32Array | null)[] = [];
  length = 0;

  push(a: number, b: number): void {
    const c = this.length >>> SHIFT;
    if (c === this.chunks.length) this.chunks.push(new Uint32Array(2 * CHUNK));
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

  /** Drop the chunks that lie wholly before pair i. */
  release(i: number): void {
    for (let k = 0; k < i >>> SHIFT; k++) this.chunks[k] = null;
  }

  bytes(): number {
    return this.chunks.reduce((n, c) => n + (c === null ? 0 : c.byteLength), 0);
  }
}
