/**
 * D5: upstream free page reporting (mm/page_reporting.c, Linux 5.7+, with
 * virtio-balloon VIRTIO_BALLOON_F_REPORTING and QEMU's
 * virtio_balloon_handle_report()).
 *
 * __free_one_page() of a block of order >= page_reporting_order calls
 * page_reporting_notify_free(), which moves prdev->state to REQUESTED and,
 * coming from IDLE, schedules the worker. The worker sets ACTIVE and walks
 * the free lists from page_reporting_order upwards. Under zone->lock it
 * isolates unreported free blocks into a scatterlist of PAGE_REPORTING_CAPACITY
 * entries; when the list is full (or, for the leftover, at the end of the
 * walk) it drops the lock, hands the batch to the device and waits until the
 * host has discarded it, then retakes the lock, puts every block back with
 * __putback_isolated_page() (no new notify) and sets PageReported only on a
 * block that is still a free head of the same order. PageReported is cleared
 * whenever a block leaves a free list. At the end of the pass it goes back to
 * IDLE unless a free asked for another pass meanwhile.
 *
 * Abstractions: one zone and one migratetype; no watermark check, budget or
 * list rotation; the order of blocks on a list is free (the cycle may isolate
 * any unreported blocks of its order), and the drain returns the batch in
 * ascending page order. The 2 s delayed work may start at any time.
 */
import { FREE_HEAD, ISOLATED_HEAD, isFreeHead, isolateFreePage, putbackIsolatedPage } from '../allocator.js';
import type { Config } from '../config.js';
import { ACKED, ackBeforeDiscard, anyInflight, HINTED, hintRange, landDiscards } from '../host.js';
import type { GroupDecl } from '../layout.js';
import type { ActionSpec, Design, DesignInstance, Model, State } from '../types.js';
import { acquire, lockFree, lockHeldBy, release } from '../zone-lock.js';

/** prdev->state. */
export const REQUEST_STATES = ['idle', 'requested', 'active'] as const;
const R_IDLE = 0;
const R_REQUESTED = 1;
const R_ACTIVE = 2;

/** Where the reporting worker is. */
export const WORKER_PHASES = ['idle', 'walking', 'isolated', 'unlocked', 'waiting'] as const;
const W_IDLE = 0;
/** In page_reporting_process_zone(), about to run page_reporting_cycle() at `order`. */
const W_WALKING = 1;
/** A batch is isolated and the worker still holds zone->lock. */
const W_ISOLATED = 2;
/** zone->lock dropped, the batch is about to be reported. */
const W_UNLOCKED = 3;
/** prdev->report() is waiting for the host to return the buffer. */
const W_WAITING = 4;

/** The reporting virtqueue, from the guest's point of view. */
export const VQ_STATES = ['idle', 'posted', 'done'] as const;
const VQ_IDLE = 0;
const VQ_POSTED = 1;
const VQ_DONE = 2;

export interface PageReportingVariant {
  /** Report while still holding zone->lock (no spin_unlock before report). */
  readonly reportUnderLock?: boolean;
  /** Leave the batch on the free list while the host works (no __isolate_free_page). */
  readonly noIsolate?: boolean;
  /** The host acks before its discard lands. */
  readonly ackBeforeDiscard?: boolean;
  /** del_page_from_free_list() does not clear PageReported. */
  readonly keepReportedOffList?: boolean;
}

function popcount(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

function binomialMasks(n: number, maxBits: number): number[] {
  const out: number[] = [];
  for (let mask = 0; mask < 1 << n; mask++) if (popcount(mask) <= maxBits) out.push(mask);
  return out;
}

function instantiate(m: Model, v: PageReportingVariant): DesignInstance {
  const L = m.layout;
  const f = m.f;
  const cfg = m.cfg;
  const state = L.at('reporter', 'state');
  const phase = L.at('reporter', 'phase');
  const cursor = L.at('reporter', 'order');
  const leftover = L.at('reporter', 'leftover');
  const vq = L.at('reporter', 'vq');
  const inBatch = v.noIsolate ? L.at('batch', 'member') : -1;
  const reporter = m.actors.indexOf('reporter');
  const R = cfg.reportOrder;

  /** Whether `head` is a block in the current batch (a scatterlist entry). */
  const batched = (s: State, head: number): boolean =>
    v.noIsolate ? s[inBatch + head] !== 0 : s[f.owner + head] === ISOLATED_HEAD;

  /** Order of the batch entry at `head` (the sg entry's length). */
  const batchOrder = (s: State, head: number): number => (v.noIsolate ? s[inBatch + head] - 1 : s[f.order + head]);

  const batchCount = (s: State): number => {
    let n = 0;
    for (let p = 0; p < cfg.pages; p++) if (batched(s, p)) n++;
    return n;
  };

  /** Unreported free blocks of `order` not already in the batch, as a mask over block numbers. */
  const eligible = (s: State, order: number): number => {
    let mask = 0;
    for (let j = 0; j < cfg.pages >> order; j++) {
      const head = j << order;
      if (isFreeHead(m, s, head, order) && !s[f.reported + head] && !batched(s, head)) mask |= 1 << j;
    }
    return mask;
  };

  /** page_reporting_process(): work ran; state := ACTIVE. No lock. */
  const pageReportingProcess = (s: State): boolean => {
    if (s[phase] !== W_IDLE || s[state] !== R_REQUESTED) return false;
    s[state] = R_ACTIVE;
    s[phase] = W_WALKING;
    s[cursor] = R;
    return true;
  };

  /**
   * page_reporting_cycle() at the cursor's order, zone->lock: isolate the
   * unreported blocks in `take` (all of them if they fit, else exactly as
   * many as fit). A full batch keeps the lock for the unlock-and-report
   * step; otherwise the walk moves up an order, or ends: report the
   * leftover, or finish the pass with cmpxchg(ACTIVE, IDLE).
   */
  const pageReportingCycle = (s: State, order: number, take: number): boolean => {
    if (s[phase] !== W_WALKING || s[cursor] !== order) return false;
    if (!lockFree(m, s) && !lockHeldBy(m, s, reporter)) return false;
    for (let j = 0; j < cfg.pages >> order; j++) {
      const head = j << order;
      if (take & (1 << j) && (!isFreeHead(m, s, head, order) || s[f.reported + head] || batched(s, head))) return false;
    }
    const room = cfg.capacity - batchCount(s);
    const can = eligible(s, order);
    if ((take & can) !== take) return false;
    if (popcount(can) <= room ? take !== can : popcount(take) !== room) return false;
    acquire(m, s, reporter);
    for (let j = 0; j < cfg.pages >> order; j++) {
      if (!(take & (1 << j))) continue;
      const head = j << order;
      if (v.noIsolate) s[inBatch + head] = order + 1;
      else isolateFreePage(m, s, head);
    }
    const n = batchCount(s);
    if (n === cfg.capacity) {
      s[phase] = W_ISOLATED;
      return true;
    }
    if (order < cfg.maxOrder) {
      s[cursor] = order + 1;
      release(m, s);
      return true;
    }
    s[cursor] = R;
    if (n > 0) {
      // page_reporting_process_zone(): the leftover batch is reported after the walk.
      s[leftover] = 1;
      if (v.reportUnderLock) s[phase] = W_ISOLATED;
      else {
        release(m, s);
        s[phase] = W_UNLOCKED;
      }
      return true;
    }
    finishPass(s);
    return true;
  };

  /** End of page_reporting_process(): cmpxchg(ACTIVE, IDLE); a pending REQUESTED reschedules the work. */
  const finishPass = (s: State): void => {
    release(m, s);
    s[phase] = W_IDLE;
    if (s[state] === R_ACTIVE) s[state] = R_IDLE;
  };

  /** page_reporting_cycle(): "release lock before waiting on report processing". */
  const unlockBeforeReport = (s: State): boolean => {
    if (s[phase] !== W_ISOLATED || !lockHeldBy(m, s, reporter)) return false;
    release(m, s);
    s[phase] = W_UNLOCKED;
    return true;
  };

  /** prdev->report() = virtballoon_free_page_report(): add the sgl, kick, then wait. */
  const report = (s: State): boolean => {
    if (s[phase] !== (v.reportUnderLock ? W_ISOLATED : W_UNLOCKED)) return false;
    for (let p = 0; p < cfg.pages; p++) if (batched(s, p)) hintRange(m, s, p, 1 << batchOrder(s, p));
    s[vq] = VQ_POSTED;
    s[phase] = W_WAITING;
    s[f.evHintBy] = reporter + 1;
    return true;
  };

  /**
   * page_reporting_drain(), after the report returned: zone->lock taken,
   * every block put back (no notify), PageReported set only where the block
   * is still a free head of its order. The walk goes on under the lock.
   */
  const pageReportingDrain = (s: State): boolean => {
    if (s[phase] !== W_WAITING || s[vq] !== VQ_DONE) return false;
    if (v.reportUnderLock ? !lockHeldBy(m, s, reporter) : !lockFree(m, s)) return false;
    acquire(m, s, reporter);
    s[vq] = VQ_IDLE;
    for (let p = 0; p < cfg.pages; p++) {
      if (!batched(s, p)) continue;
      const order = batchOrder(s, p);
      if (v.noIsolate) s[inBatch + p] = 0;
      else putbackIsolatedPage(m, s, p);
      if (isFreeHead(m, s, p, order)) s[f.reported + p] = 1;
    }
    if (s[leftover]) {
      // The leftover was the end of the zone: unlock, and the pass is over.
      s[leftover] = 0;
      finishPass(s);
    } else {
      s[phase] = W_WALKING;
    }
    return true;
  };

  /** virtio_balloon_handle_report(): discard every reported range, then push the buffer back. */
  const handleReport = (s: State): boolean => {
    if (s[vq] !== VQ_POSTED) return false;
    landDiscards(m, s, HINTED);
    s[vq] = VQ_DONE;
    s[f.evServed] = reporter + 1;
    return true;
  };

  /** Broken host: push the buffer back first, discard later (at most one batch pending). */
  const ackEarly = (s: State): boolean => {
    if (s[vq] !== VQ_POSTED || anyInflight(m, s, ACKED)) return false;
    ackBeforeDiscard(m, s);
    s[vq] = VQ_DONE;
    s[f.evServed] = reporter + 1;
    return true;
  };

  const discardLate = (s: State): boolean => {
    if (!anyInflight(m, s, ACKED)) return false;
    landDiscards(m, s, ACKED);
    return true;
  };

  const actions: ActionSpec[] = [
    {
      actor: reporter, name: 'page_reporting_process', kernel: 'page_reporting_process(): atomic_set(state, ACTIVE); no lock',
      args: {}, guardAt: phase, guardIs: W_IDLE, apply: pageReportingProcess,
    },
  ];
  for (let order = R; order <= cfg.maxOrder; order++) {
    for (const take of binomialMasks(cfg.pages >> order, cfg.capacity)) {
      const blocks = [];
      for (let j = 0; j < cfg.pages >> order; j++) if (take & (1 << j)) blocks.push(j << order);
      actions.push({
        actor: reporter, name: 'page_reporting_cycle',
        kernel: 'page_reporting_cycle(): __isolate_free_page() into the sgl, zone->lock',
        args: { order, isolate: blocks.length ? blocks.join(',') : 'none' },
        // Pre-guards: the walk is at this order, or (when the step takes blocks) its first block is a free head.
        guardAt: phase, guardIs: W_WALKING,
        ...(blocks.length ? { guard2At: f.owner + blocks[0], guard2Is: FREE_HEAD } : { guard2At: cursor, guard2Is: order }),
        apply: (s) => pageReportingCycle(s, order, take),
      });
    }
  }
  if (!v.reportUnderLock) {
    actions.push({
      actor: reporter, name: 'spin_unlock', kernel: 'page_reporting_cycle(): spin_unlock_irq(&zone->lock) before reporting',
      args: {}, guardAt: phase, guardIs: W_ISOLATED, apply: unlockBeforeReport,
    });
  }
  actions.push({
    actor: reporter, name: 'report', kernel: 'virtballoon_free_page_report(): virtqueue_add_inbuf(), kick, wait_event()',
    args: {}, guardAt: phase, guardIs: v.reportUnderLock ? W_ISOLATED : W_UNLOCKED, apply: report,
  });
  actions.push({
    actor: reporter, name: 'page_reporting_drain', kernel: 'page_reporting_drain(): __putback_isolated_page(), __SetPageReported(), zone->lock',
    args: {}, guardAt: phase, guardIs: W_WAITING, apply: pageReportingDrain,
  });
  if (v.ackBeforeDiscard) {
    actions.push({
      actor: m.host, name: 'virtqueue_push', kernel: 'virtio_balloon_handle_report(): buffer returned before the discard',
      args: {}, guardAt: vq, guardIs: VQ_POSTED, apply: ackEarly,
    });
    actions.push({
      actor: m.host, name: 'ram_block_discard_range', kernel: 'ram_block_discard_range(): the late discard lands',
      args: {}, guardAt: -1, guardIs: 0, apply: discardLate,
    });
  } else {
    actions.push({
      actor: m.host, name: 'virtio_balloon_handle_report', kernel: 'virtio_balloon_handle_report(): ram_block_discard_range(), then push and notify',
      args: {}, guardAt: vq, guardIs: VQ_POSTED, apply: handleReport,
    });
  }

  return {
    actions,
    hooks: {
      ...(v.keepReportedOffList ? { keepReportedOffList: true } : {}),
      /** page_reporting_notify_free() from __free_one_page(), zone->lock held: __page_reporting_request(). */
      freeOnePageDone: (s, _head, order, notify) => {
        if (!notify || order < R) return;
        // atomic_read() == REQUESTED: nothing to do; else xchg(REQUESTED) and, from IDLE, schedule the work.
        s[state] = R_REQUESTED;
      },
    },
    init: (s) => {
      // page_reporting_register(): "begin initial flush of zones".
      s[state] = R_REQUESTED;
      s[phase] = W_IDLE;
      s[cursor] = R;
      s[vq] = VQ_IDLE;
    },
    idle: (s) => s[phase] === W_IDLE && s[state] !== R_REQUESTED && s[vq] === VQ_IDLE && !anyInflight(m, s, HINTED) && !anyInflight(m, s, ACKED),
  };
}

function groups(v: PageReportingVariant) {
  return (cfg: Config): GroupDecl[] => {
    const out: GroupDecl[] = [
      {
        name: 'reporter',
        fields: {
          state: { domain: REQUEST_STATES, doc: 'prdev->state: IDLE, REQUESTED or ACTIVE' },
          phase: { domain: WORKER_PHASES, doc: 'where the reporting worker is in page_reporting_process()' },
          order: { domain: { max: cfg.maxOrder }, doc: 'the free-list order page_reporting_process_zone() is walking' },
          leftover: { domain: 'bool', doc: 'the batch in hand is the leftover reported after the walk ended' },
          vq: { domain: VQ_STATES, doc: 'the reporting virtqueue buffer: idle, posted to the host, or returned' },
        },
      },
    ];
    if (v.noIsolate) {
      out.push({
        name: 'batch', rows: cfg.pages, rowLabel: (p) => `page ${p}`,
        fields: { member: { domain: ['none', ...Array.from({ length: cfg.maxOrder + 1 }, (_, o) => `order-${o}`)], doc: 'the scatterlist entry this page heads, by order (the block stays on the free list)' } },
      });
    }
    return out;
  };
}

const DEFAULTS: Partial<Config> = { cpus: 2, pages: 8, maxOrder: 2, reportOrder: 1, capacity: 2 };

export function pageReportingDesign(
  id: string,
  title: string,
  summary: string,
  v: PageReportingVariant,
  expect: Design['expect'],
  broken?: string,
  defaults: Partial<Config> = {},
): Design {
  return {
    id, title, summary, defaults: { ...DEFAULTS, ...defaults }, actors: ['reporter'],
    ...(broken !== undefined ? { broken } : {}),
    ...(v.ackBeforeDiscard ? { hostAcksEarly: true } : {}),
    groups: groups(v),
    instantiate: (m) => instantiate(m, v),
    expect,
  };
}

