/**
 * D3c/D3d's actors and state fields, declared once for the assembly
 * (bitmap.ts), the kit type the actor files (bitmap-free.ts,
 * bitmap-worker.ts, bitmap-disable.ts) are written against, and the
 * choices a correct bitmap design makes.
 */
import type { Kit } from '../../design-api.js';
import { ISOLATED_HEAD } from '../../allocator.js';
import type { Config } from '../../config.js';
import { BACKED } from '../../host.js';
import type { Model, State } from '../../types.js';
import { PHASES } from '../../vcpu.js';

/**
 * The choices a correct D3c/D3d makes, which change its state or its steps
 * without being a bug of their own: they are parameters, not mutants (a
 * broken variant replaces a part instead, see bitmap-mutants.ts).
 */
export interface BitmapOptions {
  /** v12: refcnt gate, clear_bit() and free_pages-- after the unlock, the batch returned under one lock, RCU on disable. */
  readonly v12?: boolean;
  /** Pages the bitmap covers, from page 0 (default: the whole zone). */
  readonly covered?: (cfg: Config) => number;
  /** A thread disables hinting while vCPUs free (page_hinting_disable() / page_reporting_disable()). */
  readonly disable?: boolean;
}

export const BITMAP_ACTORS = {
  // idle: no pass running; starting (v11): the work dequeued, page_hinting_active not yet set;
  // scanning: walking the bits from `cursor` (at nbits the walk is over); clearing (v12): the lock
  // dropped, the bit at `cursor` not yet cleared; waiting: the batch is with the host.
  worker: ['idle', 'starting', 'scanning', 'clearing', 'waiting'],
  // v11: enabled -> cancelled (cancel_work_sync() returned) -> disabled (config NULL, bitmaps freed).
  // v12: enabled -> unpublished (config NULL) -> cancelled (synchronize_rcu(), cancel_work_sync()) -> disabled.
  disabler: ['enabled', 'unpublished', 'cancelled', 'disabled'],
} as const;
export const DISABLED = BITMAP_ACTORS.disabler.indexOf('disabled');

/** vCPU phase of the disable variant: inside the enqueue, past the config check (v12: in rcu_read_lock()). */
export const VCPU_PHASES = ['enqueue'] as const;
export const ENQUEUE = PHASES.length + VCPU_PHASES.indexOf('enqueue');

/** The design's record groups: the work item and its gates, and the zone's bitmap. */
export function bitmapState(cfg: Config, v: BitmapOptions) {
  return {
    worker: {
      pending: { domain: 'bool', doc: 'the work item is queued (queue_work() / schedule_work() on an idle work item)' },
      active: { domain: 'bool', doc: 'v11 page_hinting_active: a pass is running, so page_hinting_enqueue() queues nothing' },
      refcnt: { domain: 'bool', doc: 'v12 phconf->refcnt: a pass is queued or running (cmpxchg(0, 1) to schedule)' },
      cursor: { domain: { max: bitCount(v, cfg) }, doc: 'the bit the walk goes on from (v12 clearing: the bit to clear); nbits: the walk is over' },
      vq: { domain: ['idle', 'posted', 'done'], doc: 'the hinting virtqueue buffer: idle, with the host, or returned' },
    },
    bitmap: {
      bits: { domain: 'bool', count: bitCount(v, cfg), doc: 'bit b: the block at page b << MIN might be free' },
      freePages: { domain: { max: bitCount(v, cfg) }, doc: 'free_pages: bits set by the enqueue and not yet cleared by the walk' },
    },
  } as const;
}

/** What D3c/D3d's steps, hooks and parts are given. */
export type BitmapKit = Kit<ReturnType<typeof bitmapState>, Record<never, never>, Record<never, never>, typeof BITMAP_ACTORS, typeof VCPU_PHASES>;

/** Bits the bitmap has: one per 2^MIN pages it covers. */
export function bitCount(v: BitmapOptions, cfg: Config): number {
  return Math.max(1, (v.covered?.(cfg) ?? cfg.pages) >> cfg.reportOrder);
}

/** Blocks the worker holds isolated (its batch): only the worker isolates in these designs. */
export function batchCount(m: Model, s: State): number {
  let n = 0;
  for (let p = 0; p < m.cfg.pages; p++) if (s[m.f.owner + p] === ISOLATED_HEAD) n++;
  return n;
}

/** Whether a page of the free block at `head` is still backed by the host. */
export function backed(m: Model, s: State, head: number): boolean {
  for (let q = head; q < head + (1 << s[m.f.order + head]); q++) if (s[m.f.backing + q] === BACKED) return true;
  return false;
}
