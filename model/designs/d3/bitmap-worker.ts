/**
 * D3c/D3d's hinting worker: the one work item, which walks the zone's set
 * bits, isolates under zone->lock, reports the batch synchronously and gives
 * it back with hint=false: v11's process_one_work() -> init_hinting_wq() ->
 * scan_zone_free_area() -> hint_pages() -> release_buddy_pages(), v12's
 * page_reporting_wq() -> scan_zone_bitmap() -> report() ->
 * return_isolated_page(). QEMU's handler, the other end of the report, is
 * here too.
 */
import type { GroupsSpec, StepSpec } from '../../design-api.js';
import { FREE_HEAD, ISOLATED_HEAD, isolateFreePage, putbackIsolatedPage } from '../../allocator.js';
import { HINTED, hintRange, landDiscards } from '../../host.js';
import type { Config } from '../../config.js';
import type { State } from '../../types.js';
import { lockFree } from '../../zone-lock.js';
import { batchCount, bitCount, type BitmapKit, type BitmapOptions } from './bitmap-kit.js';

/** The worker's state and helpers, which its steps (and a broken variant's replacement parts) are written against. */
export interface Worker {
  readonly k: BitmapKit;
  /** Bits the bitmap has. */
  readonly nbits: number;
  /** find_next_bit(bitmap, nbits, from), or -1. */
  readonly nextSetBit: (s: State, from: number) => number;
  /** What goes to the host for the batch the worker isolated. */
  readonly postBatch: (s: State) => void;
}

/** How the batch reaches the host: the state it keeps, if any, and the ranges it hands over. */
export interface ReportPart {
  /** Groups the report keeps beside the worker's and the bitmap's. */
  readonly state?: (cfg: Config) => GroupsSpec;
  readonly post: (w: Worker) => (s: State) => void;
}

/** The parts of the worker a broken variant may replace. */
export interface WorkerOverrides {
  readonly report?: ReportPart;
}

/** The report as both versions' drivers hand it over: exactly the isolated blocks. */
export const exactBatch: ReportPart = {
  post: (w) => (s) => {
    const { m, cfg } = w.k;
    for (let p = 0; p < cfg.pages; p++) if (s[m.f.owner + p] === ISOLATED_HEAD) hintRange(m, s, p, 1 << s[m.f.order + p]);
  },
};

export function bitmapWorker(k: BitmapKit, v: BitmapOptions, o: WorkerOverrides): Worker {
  const nbits = bitCount(v, k.cfg);
  const bits = k.at.bitmap.bits;
  const nextSetBit = (s: State, from: number): number => {
    for (let b = from; b < nbits; b++) if (s[bits + b]) return b;
    return -1;
  };
  const w = { k, nbits, nextSetBit, postBatch: (_s: State): void => {} };
  w.postBatch = (o.report ?? exactBatch).post(w);
  return w;
}

/** The work function's check: walk the zone only if free_pages reached max_pages, else drop the gate again. */
function startPass(w: Worker, dropGate: (s: State) => void, s: State): void {
  const { at, cfg, phase } = w.k;
  if (s[at.bitmap.freePages] >= cfg.capacity) {
    s[at.worker.cursor] = 0;
    s[at.worker.phase] = phase.worker.scanning;
    return;
  }
  dropGate(s);
  s[at.worker.phase] = phase.worker.idle;
}

/** v11: atomic_set(&page_hinting_active, 0). */
const clearActive = (w: Worker) => (s: State): void => {
  s[w.k.at.worker.active] = 0;
};

/** v12: atomic_set(&phconf->refcnt, 0). */
const dropRefcnt = (w: Worker) => (s: State): void => {
  s[w.k.at.worker.refcnt] = 0;
};

/**
 * The walk's step, zone->lock per bit: the next set bit's block is isolated
 * if still a buddy of order >= MIN; `processed` says what becomes of the bit.
 */
function scanStep(w: Worker, name: string, kernel: string, processed: (s: State, b: number) => void): StepSpec {
  const { m, cfg, at } = w.k;
  const f = m.f;
  const R = cfg.reportOrder;
  return {
    name,
    kernel,
    /** scan_zone_free_area() / scan_zone_bitmap(), zone->lock per bit: isolate the next set bit's block if still a buddy of order >= MIN. */
    apply: (s) => {
      const from = s[at.worker.cursor];
      if (from >= w.nbits || batchCount(m, s) >= cfg.capacity) return false;
      const b = w.nextSetBit(s, from);
      if (b >= 0 && !lockFree(m, s)) return false;
      if (b < 0) {
        s[at.worker.cursor] = w.nbits;
        return true;
      }
      const head = b << R;
      if (s[f.owner + head] === FREE_HEAD && s[f.order + head] >= R) isolateFreePage(m, s, head);
      processed(s, b);
      return true;
    },
  };
}

/** v11 process_one_work(): the work dequeued before init_hinting_wq() runs; no lock. */
function processOneWork(w: Worker): StepSpec {
  const { at, phase } = w.k;
  return {
    name: 'process_one_work',
    kernel: 'process_one_work(): clear WORK_STRUCT_PENDING, call init_hinting_wq(); no lock',
    /** process_one_work(), no lock: the work is dequeued before init_hinting_wq() sets page_hinting_active, so a free meanwhile queues it again. */
    apply: (s: State) => {
      if (!s[at.worker.pending]) return false;
      s[at.worker.pending] = 0;
      s[at.worker.phase] = phase.worker.starting;
      return true;
    },
  };
}

/** v11 init_hinting_wq(): page_hinting_active set, then the walk if free_pages >= max_pages; no lock. */
function initHintingWq(w: Worker): StepSpec {
  return {
    name: 'init_hinting_wq',
    kernel: 'init_hinting_wq(): atomic_set(&page_hinting_active, 1); scan if free_pages >= max_pages; no lock',
    /** init_hinting_wq(), no lock: atomic_set(&page_hinting_active, 1), then walk if free_pages >= max_pages. */
    apply: (s) => {
      s[w.k.at.worker.active] = 1;
      startPass(w, clearActive(w), s);
      return true;
    },
  };
}

/** v11 scan_zone_free_area(): isolate, clear_bit() and free_pages-- all under zone->lock. */
function scanZoneFreeArea(w: Worker): StepSpec {
  const { at } = w.k;
  return scanStep(
    w,
    'scan_zone_free_area',
    'scan_zone_free_area(): next set bit; zone->lock: __isolate_free_page() if PageBuddy and order >= MIN, clear_bit(), free_pages--',
    (s, b) => {
      s[at.bitmap.bits + b] = 0;
      s[at.bitmap.freePages]--;
      s[at.worker.cursor] = b + 1;
    },
  );
}

/** The synchronous report, no lock: a full batch, or the leftover once the walk is over, goes to the host; the worker waits. */
function reportStep(w: Worker, name: string, kernel: string): StepSpec {
  const { m, cfg, at, is, phase } = w.k;
  const worker = w.k.actor.worker;
  return {
    name,
    kernel,
    /** hint_pages() / phconf->report(), no lock: a full batch, or the leftover once the walk is over, goes to the host; the worker waits. */
    apply: (s) => {
      const n = batchCount(m, s);
      if (n !== cfg.capacity && (n === 0 || s[at.worker.cursor] < w.nbits)) return false;
      w.postBatch(s);
      s[at.worker.vq] = is.worker.vq.posted;
      s[at.worker.phase] = phase.worker.waiting;
      s[m.f.evHintBy] = worker + 1;
      return true;
    },
  };
}

/** v11 hint_pages() -> page_hinting_report(): add the buffer, kick, wait_event(); no lock. */
function hintPages(w: Worker): StepSpec {
  return reportStep(w, 'hint_pages', 'hint_pages() -> page_hinting_report(): virtqueue_add_outbuf(), kick, wait_event(); no lock');
}

/** The end of a pass once the walk is over and the batch is back: the gate drops; no lock. */
function passDone(w: Worker, name: string, kernel: string, dropGate: (s: State) => void): StepSpec {
  const { m, at, phase } = w.k;
  return {
    name,
    kernel,
    /** End of init_hinting_wq() / page_reporting_wq(), no lock: the gate drops, so frees may queue the work again. */
    apply: (s) => {
      if (s[at.worker.cursor] < w.nbits || batchCount(m, s) !== 0) return false;
      dropGate(s);
      s[at.worker.cursor] = 0;
      s[at.worker.phase] = phase.worker.idle;
      return true;
    },
  };
}

/** v11 init_hinting_wq()'s end: atomic_set(&page_hinting_active, 0); no lock. */
function hintingDone(w: Worker): StepSpec {
  return passDone(w, 'hinting_done', 'init_hinting_wq(): atomic_set(&page_hinting_active, 0) once the scan returned; no lock', clearActive(w));
}

/** The batch back through __free_one_page(hint=false), which merges but sets no bit; `perPage`: one page per zone->lock. */
function returnStep(w: Worker, name: string, kernel: string, perPage: boolean): StepSpec {
  const { m, cfg, at, is, phase } = w.k;
  const f = m.f;
  return {
    name,
    kernel,
    /** release_buddy_pages() (zone->lock per page) / return_isolated_page() (zone->lock once): __free_one_page(hint=false) merges but sets no bit. */
    apply: (s) => {
      if (s[at.worker.vq] !== is.worker.vq.done || !lockFree(m, s)) return false;
      for (let p = 0; p < cfg.pages; p++) {
        if (s[f.owner + p] !== ISOLATED_HEAD) continue;
        putbackIsolatedPage(m, s, p);
        if (perPage) break;
      }
      if (batchCount(m, s) === 0) {
        s[at.worker.vq] = is.worker.vq.idle;
        s[at.worker.phase] = phase.worker.scanning;
      }
      return true;
    },
  };
}

/** v11 release_buddy_pages(): one page per zone->lock. */
function releaseBuddyPages(w: Worker): StepSpec {
  return returnStep(w, 'release_buddy_pages', 'release_buddy_pages(): one page: zone->lock, __free_one_page(hint=false)', true);
}

/** v12 page_reporting_wq(): the work scheduled under refcnt runs; no lock. */
function pageReportingWq(w: Worker): StepSpec {
  const { at } = w.k;
  return {
    name: 'page_reporting_wq',
    kernel: 'page_reporting_wq(): scan_zone_bitmap() if free_pages >= max_pages; no lock',
    /** page_reporting_wq(), no lock: the work scheduled under refcnt runs. */
    apply: (s: State) => {
      if (!s[at.worker.pending]) return false;
      s[at.worker.pending] = 0;
      startPass(w, dropRefcnt(w), s);
      return true;
    },
  };
}

/** v12 scan_zone_bitmap(): isolate under zone->lock, the bit left for after spin_unlock(). */
function scanZoneBitmap(w: Worker): StepSpec {
  const { at, phase } = w.k;
  return scanStep(
    w,
    'scan_zone_bitmap',
    'scan_zone_bitmap(): for_each_set_bit(); zone->lock: process_free_page() (__isolate_free_page()) if PageBuddy and order >= MIN',
    (s, b) => {
      // "Page has been processed, adjust its bit and zone counter": after spin_unlock().
      s[at.worker.cursor] = b;
      s[at.worker.phase] = phase.worker.clearing;
    },
  );
}

/** v12 phconf->report() = virtballoon_report_pages(): add the buffer, kick, wait_event(); no lock. */
function report(w: Worker): StepSpec {
  return reportStep(w, 'report', 'phconf->report() = virtballoon_report_pages(): virtqueue_add_inbuf(), kick, wait_event(); no lock');
}

/** v12 page_reporting_wq()'s end: atomic_set(&phconf->refcnt, 0); no lock. */
function reportingDone(w: Worker): StepSpec {
  return passDone(w, 'reporting_done', 'page_reporting_wq(): atomic_set(&phconf->refcnt, 0); no lock', dropRefcnt(w));
}

/** v12 scan_zone_bitmap(): clear_bit() and free_pages-- after spin_unlock(); no lock. */
function clearBit(w: Worker): StepSpec {
  const { at, phase } = w.k;
  return {
    name: 'clear_bit',
    kernel: 'scan_zone_bitmap(): clear_bit(setbit), atomic_dec(&zone->free_pages) after spin_unlock(); no lock',
    /** scan_zone_bitmap(): clear_bit() and free_pages-- after spin_unlock(); no lock. A free in between found the bit set and counted nothing. */
    apply: (s) => {
      const b = s[at.worker.cursor];
      s[at.bitmap.bits + b] = 0;
      s[at.bitmap.freePages]--;
      s[at.worker.cursor] = b + 1;
      s[at.worker.phase] = phase.worker.scanning;
      return true;
    },
  };
}

/** v12 return_isolated_page(): the whole batch under one zone->lock (__return_isolated_page()). */
function returnIsolatedPage(w: Worker): StepSpec {
  return returnStep(w, 'return_isolated_page', 'return_isolated_page(): zone->lock, __return_isolated_page() for the whole batch', false);
}

/** The worker's steps per phase, v11's or v12's. */
export function workerSteps(w: Worker, v: BitmapOptions) {
  if (v.v12) {
    return {
      idle: [pageReportingWq(w)],
      starting: [],
      scanning: [scanZoneBitmap(w), report(w), reportingDone(w)],
      clearing: [clearBit(w)],
      waiting: [returnIsolatedPage(w)],
    };
  }
  return {
    idle: [processOneWork(w)],
    starting: [initHintingWq(w)],
    scanning: [scanZoneFreeArea(w), hintPages(w), hintingDone(w)],
    clearing: [],
    waiting: [releaseBuddyPages(w)],
  };
}

/** QEMU virtio_balloon_handle_page_hinting(), no guest lock: discard every reported range, then return the buffer. */
export function virtioBalloonHandlePageHinting(k: BitmapKit): StepSpec {
  const { m, at, is } = k;
  const worker = k.actor.worker;
  return {
    name: 'virtio_balloon_handle_page_hinting',
    kernel: 'QEMU virtio_balloon_handle_page_hinting(): madvise every reported range, then virtqueue_push() and notify',
    /** QEMU virtio_balloon_handle_page_hinting(), no guest lock: discard every reported range, then return the buffer. */
    apply: (s) => {
      if (s[at.worker.vq] !== is.worker.vq.posted) return false;
      landDiscards(m, s, HINTED);
      s[at.worker.vq] = is.worker.vq.done;
      s[m.f.evServed] = worker + 1;
      return true;
    },
  };
}
