/**
 * D3c/D3d's guest side of a free: page_hinting_enqueue() (v11) and
 * __page_reporting_enqueue() (v12), called from __free_one_page() under
 * zone->lock, which set the block's bit and queue the work. With a
 * disabling thread the enqueue is a vCPU step of its own, so that the
 * disable can run between the config check and the bit.
 */
import type { DesignHooks, VcpuStepSpec } from '../../design-api.js';
import type { State } from '../../types.js';
import { resumeFreeOnePage } from '../../vcpu.js';
import { lockHeldBy } from '../../zone-lock.js';
import { bitCount, type BitmapKit, type BitmapOptions, type VCPU_PHASES } from './bitmap-kit.js';

/**
 * page_hinting_enqueue() / __page_reporting_enqueue() past the config
 * check, zone->lock held: set the block's bit (counting it only if this
 * free set it), then queue the work once free_pages reaches max_pages.
 */
export function enqueue(k: BitmapKit, v: BitmapOptions, s: State, head: number): void {
  const { cfg, at } = k;
  const bit = head >> cfg.reportOrder;
  if (bit < bitCount(v, cfg) && !s[at.bitmap.bits + bit]) {
    s[at.bitmap.bits + bit] = 1;
    s[at.bitmap.freePages]++;
  }
  if (s[at.bitmap.freePages] < cfg.capacity) return;
  if (v.v12) scheduleWork(k, s);
  else queueWork(k, s);
}

/** v11 page_hinting_enqueue(): queue_work() unless page_hinting_active; zone->lock held. */
function queueWork(k: BitmapKit, s: State): void {
  if (!s[k.at.worker.active]) s[k.at.worker.pending] = 1;
}

/** v12 __page_reporting_enqueue(): schedule_work() if cmpxchg(&phconf->refcnt, 0, 1) succeeds; zone->lock held. */
function scheduleWork(k: BitmapKit, s: State): void {
  // "We should not enqueue a job if a previously enqueued reporting work is in progress".
  if (s[k.at.worker.refcnt]) return;
  s[k.at.worker.refcnt] = 1;
  s[k.at.worker.pending] = 1;
}

/** The allocator hooks of the enqueue: on the free itself, or (with a disabling thread) a park before the bit. */
export function bitmapFreeHooks(k: BitmapKit, v: BitmapOptions): DesignHooks<typeof VCPU_PHASES> {
  const { at } = k;
  const R = k.cfg.reportOrder;
  if (!v.disable) {
    return {
      /** __free_one_page(hint=true) of a block of order >= MIN, zone->lock held: the enqueue. */
      freeOnePageDone: (s, head, order, notify) => {
        if (notify && order >= R) enqueue(k, v, s, head);
      },
    };
  }
  // The block waits in merge limbo meanwhile, under the zone lock that keeps every other
  // actor off the free lists.
  const published = v.v12 ? k.phase.disabler.enabled : k.phase.disabler.cancelled;
  return {
    /** page_hinting_enqueue() / __page_reporting_enqueue(), zone->lock held: the config read non-NULL (v12: in rcu_read_lock()), the free stops before the bit. */
    doneMerging: (s, _c, _head, order) => (order >= R && s[at.disabler.phase] <= published ? 'enqueue' : null),
  };
}

/** The parked free's end: set the bit unless the disable freed the bitmap meanwhile; zone->lock held. */
function setBitStep(k: BitmapKit, v: BitmapOptions, name: string, kernel: string): VcpuStepSpec {
  const { m, at, phase } = k;
  return {
    name,
    kernel,
    /** bm_set_pfn() / bitmap_set_bit(), zone->lock held: the parked free ends; with the bitmap gone (v11) the write lands in freed memory. */
    apply: (s: State, c: number) => {
      if (!lockHeldBy(m, s, c)) return false;
      const head = s[m.f.vHead + c];
      resumeFreeOnePage(m, s, c, true);
      if (s[at.disabler.phase] !== phase.disabler.disabled) enqueue(k, v, s, head);
      return true;
    },
  };
}

/** v11 bm_set_pfn(), from page_hinting_enqueue(); zone->lock held, no RCU. */
function bmSetPfn(k: BitmapKit, v: BitmapOptions): VcpuStepSpec {
  return setBitStep(k, v, 'bm_set_pfn', 'page_hinting_enqueue(): bm_set_pfn(): test_and_set_bit(), then queue_work() if free_pages >= max_pages; zone->lock held');
}

/** v12 bitmap_set_bit(), from __page_reporting_enqueue(); zone->lock and rcu_read_lock() held. */
function bitmapSetBit(k: BitmapKit, v: BitmapOptions): VcpuStepSpec {
  return setBitStep(
    k,
    v,
    'bitmap_set_bit',
    '__page_reporting_enqueue(): bitmap_set_bit(), then schedule_work() if free_pages >= max_pages and cmpxchg(&refcnt, 0, 1); zone->lock and rcu_read_lock() held',
  );
}

/** The vCPU steps of the disable variant: the enqueue's phase. */
export function bitmapVcpuSteps(k: BitmapKit, v: BitmapOptions): { enqueue: VcpuStepSpec[] } {
  return { enqueue: [v.v12 ? bitmapSetBit(k, v) : bmSetPfn(k, v)] };
}
