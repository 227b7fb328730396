/**
 * The baseline the benchmark measures against: the same model explored the
 * way a first version in TypeScript usually is (and as XState's graph does):
 * readable object states, JSON.stringify keys in a Map, parent links in a
 * second Map, a plain array as the queue. It computes the same successors
 * with the same transitions, so the two searches must agree on every count.
 */
import type { StateView } from '../model/layout.js';
import type { Model } from '../model/types.js';

export interface NaiveResult {
  readonly states: number;
  readonly transitions: number;
  readonly seconds: number;
  /** Heap the search retains, per state (measured after a full GC when node runs with --expose-gc). */
  readonly bytesPerState: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

export function naiveExplore(m: Model, maxSeconds = Infinity): NaiveResult {
  const L = m.layout;
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const seen = new Map<string, string | null>();
  const init = L.view(m.initial());
  const key0 = JSON.stringify(init);
  seen.set(key0, null);
  const queue: StateView[] = [init];
  let transitions = 0;
  let head = 0;
  while (head < queue.length) {
    if ((head & 0x3ff) === 0 && performance.now() - t0 > maxSeconds * 1000) break;
    const s = queue[head++];
    const parent = JSON.stringify(s);
    for (const a of m.actions) {
      const next = L.fromView(s);
      if (!a.apply(next)) continue;
      transitions++;
      const view = L.view(next);
      const key = JSON.stringify(view);
      if (seen.has(key)) continue;
      seen.set(key, parent);
      queue.push(view);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  gc?.();
  const heap = process.memoryUsage().heapUsed - heap0;
  // Keep the visited set and queue alive until the heap has been measured.
  const states = seen.size + queue.length * 0;
  return { states, transitions, seconds, bytesPerState: heap / states };
}
