/**
 * D5's reporter: the page_reporting work of mm/page_reporting.c, from
 * page_reporting_process() and page_reporting_process_zone() through
 * page_reporting_cycle()'s isolation, prdev->report() (virtio-balloon's
 * virtballoon_free_page_report()) and page_reporting_drain(), with the
 * upstream parts of it a variant may replace.
 */
import type { Args, StepSpec } from '../../design-api.js';
import { FREE_HEAD, ISOLATED_HEAD, isFreeHead, isolateFreePage, nrFreePages, putbackIsolatedPage, waiveHint, zoneWatermarkOk } from '../../allocator.js';
import { lowWatermark, type Config } from '../../config.js';
import { onIsolateList } from '../../isolator.js';
import { hintRange } from '../../host.js';
import type { State } from '../../types.js';
import { acquire, lockFree, lockHeldBy, release } from '../../zone-lock.js';
import { popcount } from '../../math.js';
import type { PageReportingParts, ReporterKit, ReportLocking, Scatterlist, ScatterlistOps } from './kit.js';

/**
 * __page_reporting_request(); zone->lock held: atomic_read() == REQUESTED,
 * nothing to do; else atomic_xchg(REQUESTED) and, from IDLE, schedule the work.
 */
export function pageReportingRequest(k: ReporterKit, s: State): void {
  s[k.at.reporter.state] = k.is.reporter.state.requested;
}

/** __isolate_free_page() takes the block off its free list; __putback_isolated_page() puts it back without a notify. */
export const isolatedBlocks: Scatterlist = {
  pages: () => ({}),
  ops: (k) => {
    const { m } = k;
    const f = m.f;
    return {
      has: (s, head) => s[f.owner + head] === ISOLATED_HEAD,
      order: (s, head) => s[f.order + head],
      // __isolate_free_page(): __mod_zone_freepage_state(zone, -(1UL << order), mt).
      freeTaken: (order) => 1 << order,
      // __isolate_free_page(); zone->lock held.
      add: (s, head) => isolateFreePage(m, s, head),
      // __putback_isolated_page(); zone->lock held.
      drop: (s, head) => {
        putbackIsolatedPage(m, s, head);
      },
    };
  },
};

/** page_reporting_cycle(): "release lock and report", then spin_lock_irq() for page_reporting_drain(). */
export const unlockAroundReport: ReportLocking = {
  phases: (report) => ({ isolated: [], unlocked: [report] }),
  // page_reporting_cycle(): spin_unlock_irq(&zone->lock) before prdev->report().
  full: (k, s) => {
    release(k.m, s);
    s[k.at.reporter.phase] = k.phase.reporter.unlocked;
  },
  // page_reporting_process_zone(): the leftover goes to prdev->report() as the cycle left it, unlocked.
  leftover: (k, s) => {
    s[k.at.reporter.phase] = k.phase.reporter.unlocked;
  },
  // spin_lock_irq(&zone->lock) before page_reporting_drain().
  relock: (k, s) => lockFree(k.m, s),
};

/** page_reporting_cycle()'s choices at one order: which blocks (a mask over block numbers) it isolates. */
function cycleArgs(cfg: Config): Args[] {
  const out: Args[] = [];
  for (let order = cfg.reportOrder; order <= cfg.maxOrder; order++) {
    const n = cfg.pages >> order;
    for (let take = 0; take < 1 << n; take++) {
      if (popcount(take) > cfg.capacity) continue;
      const blocks: number[] = [];
      for (let j = 0; j < n; j++) if (take & (1 << j)) blocks.push(j << order);
      out.push({ order, isolate: blocks.length ? blocks.join(',') : 'none' });
    }
  }
  return out;
}

function takeMask(args: Args): number {
  if (args.isolate === 'none') return 0;
  let mask = 0;
  for (const head of String(args.isolate).split(',')) mask |= 1 << (Number(head) >> Number(args.order));
  return mask;
}

/** What the worker's steps share: the kit, the parts in place, the scatterlist's operations and the zone's watermarks. */
interface Worker {
  readonly k: ReporterKit;
  readonly parts: PageReportingParts;
  readonly sgl: ScatterlistOps;
  readonly wmarkMin: number;
  readonly lowWmark: number;
}

/** The blocks in the sgl (PAGE_REPORTING_CAPACITY - *offset). */
function batchCount(w: Worker, s: State): number {
  let n = 0;
  for (let p = 0; p < w.k.cfg.pages; p++) if (w.sgl.has(s, p)) n++;
  return n;
}

/** Unreported free blocks of `order` not already in the batch, as a mask over block numbers. */
function eligible(w: Worker, s: State, order: number): number {
  const { m, cfg } = w.k;
  let mask = 0;
  for (let j = 0; j < cfg.pages >> order; j++) {
    const head = j << order;
    // "We do not pull pages from the isolate free list."
    if (isFreeHead(m, s, head, order) && !s[m.f.reported + head] && !w.sgl.has(s, head) && !onIsolateList(m, s, head)) mask |= 1 << j;
  }
  return mask;
}

/**
 * How many blocks of `order` __isolate_free_page() would take in a row
 * before its watermark (min + 2^order) refuses one: NR_FREE_PAGES drops
 * by what each takes.
 */
function isolations(w: Worker, s: State, order: number, want: number): number {
  let free = nrFreePages(w.k.m, s);
  let n = 0;
  while (n < want && free > w.wmarkMin + (1 << order)) {
    n++;
    free -= w.sgl.freeTaken(order);
  }
  return n;
}

/** End of page_reporting_process(): cmpxchg(ACTIVE, IDLE); a pending REQUESTED reschedules the work. */
function finishPass(w: Worker, s: State): void {
  const { at, is, phase } = w.k;
  s[at.reporter.phase] = phase.reporter.idle;
  s[at.reporter.order] = 0;
  s[at.reporter.budget] = 0;
  if (s[at.reporter.state] === is.reporter.state.active) s[at.reporter.state] = is.reporter.state.idle;
}

/**
 * The walk leaves the list of its order (page_reporting_cycle() returns,
 * zone->lock dropped): on to the next order, or, past the last,
 * page_reporting_process_zone() reports the leftover or the pass ends.
 */
function leaveList(w: Worker, s: State, order: number): void {
  const { k } = w;
  const { m, cfg, at } = k;
  // Then the isolate list of this order, the last migratetype: "We do not pull pages from the isolate
  // free list", so what a free asked for there is given up.
  if (m.f.pbMt >= 0) {
    for (let j = 0; j < cfg.pages >> order; j++) {
      const head = j << order;
      if (isFreeHead(m, s, head, order) && onIsolateList(m, s, head)) waiveHint(m, s, head, order);
    }
  }
  release(m, s);
  s[at.reporter.budget] = 0;
  if (order < cfg.maxOrder) {
    s[at.reporter.order] = order + 1;
    return;
  }
  if (batchCount(w, s) === 0) {
    finishPass(w, s);
    return;
  }
  // "report the leftover pages before going idle"
  s[at.reporter.order] = 0;
  s[at.reporter.leftover] = 1;
  w.parts.report.leftover(k, s);
}

/**
 * The sgl is full and the walk meets the next unreported block:
 * list_rotate_to_front(), then prdev->report(). The budget is kept for
 * the drain's budget--.
 */
function reportFull(w: Worker, s: State, budget: number): void {
  s[w.k.at.reporter.budget] = budget + 1;
  w.parts.report.full(w.k, s);
}

/** What one locked run of page_reporting_cycle()'s loop does (see cycle()). */
type Outcome = 'isolate' | 'refused' | 'spent';

/**
 * One run of page_reporting_cycle()'s list_for_each_entry_safe() under
 * zone->lock, from spin_lock_irq() (or the relock after a drain) to the
 * next spin_unlock_irq(). Nothing that takes zone->lock can come
 * between, so the run is one step; the list's order is free, so `take`
 * names which unreported blocks it isolates. Returns false unless the
 * run, from this state, ends as `outcome` says:
 *  - isolate: every unreported block fits in the sgl and passes the
 *    watermark, or the sgl fills and the next unreported block is
 *    reported (a full sgl left at the end of the list is carried into
 *    the next one, as the kernel's offset is);
 *  - refused: __isolate_free_page() fails on its watermark, "next =
 *    page; break": the blocks not taken are waived;
 *  - spent: budget < 0 (only after a report in this list): state :=
 *    REQUESTED and leave the list.
 */
function cycle(w: Worker, outcome: Outcome) {
  const { m, cfg, at, is } = w.k;
  const f = m.f;
  const reporter = w.k.actor.reporter;
  return (s: State, args: Args): boolean => {
    const order = Number(args.order);
    const take = takeMask(args);
    if (s[at.reporter.order] !== order) return false;
    // After a drain the loop goes on under the lock the drain took; else page_reporting_cycle() takes it.
    const resumed = lockHeldBy(m, s, reporter);
    if (!resumed && !lockFree(m, s)) return false;
    const can = eligible(w, s, order);
    if ((take & can) !== take) return false;
    // "budget = DIV_ROUND_UP(area->nr_free, PAGE_REPORTING_CAPACITY * 16)", read under the lock.
    const budget = resumed ? s[at.reporter.budget] - 1 : Math.ceil(s[f.nrFree + order] / (cfg.capacity * 16));
    const unreported = popcount(can);
    if (budget < 0) {
      if (outcome !== 'spent' || take !== 0 || unreported === 0) return false;
      s[at.reporter.state] = is.reporter.state.requested;
      acquire(m, s, reporter);
      leaveList(w, s, order);
      return true;
    }
    if (outcome === 'spent') return false;
    const room = cfg.capacity - batchCount(w, s);
    const fit = Math.min(unreported, room);
    const took = isolations(w, s, order, fit);
    if (popcount(take) !== took) return false;
    if ((took < fit) !== (outcome === 'refused')) return false;
    acquire(m, s, reporter);
    for (let j = 0; j < cfg.pages >> order; j++) if (take & (1 << j)) w.sgl.add(s, j << order, order);
    if (outcome === 'refused') {
      // The walk leaves the list: the blocks it did not take were turned away by the watermark.
      for (let j = 0; j < cfg.pages >> order; j++) if (can & ~take & (1 << j)) waiveHint(m, s, j << order, order);
      leaveList(w, s, order);
      return true;
    }
    if (took === room && unreported > room) reportFull(w, s, budget);
    else leaveList(w, s, order);
    return true;
  };
}

/** A page_reporting_cycle() step that ends as `outcome`, for every choice of blocks at every order; zone->lock. */
function cycleStep(w: Worker, outcome: Outcome, name: string, kernel: string): StepSpec {
  const { m, cfg, at } = w.k;
  const f = m.f;
  return {
    name,
    kernel,
    args: outcome === 'spent' ? cycleArgs(cfg).filter((a) => a.isolate === 'none') : cycleArgs(cfg),
    // Pre-guard: the step's first block is a free head, or (taking none) the walk is at its order.
    pre: (args) =>
      args.isolate === 'none'
        ? { at: at.reporter.order, is: Number(args.order) }
        : { at: f.owner + Number(String(args.isolate).split(',')[0]), is: FREE_HEAD },
    apply: cycle(w, outcome),
  };
}

/** page_reporting_process(): atomic_set(&prdev->state, PAGE_REPORTING_ACTIVE); no lock. */
function pageReportingProcess(w: Worker): StepSpec {
  const { at, is, phase } = w.k;
  return {
    name: 'page_reporting_process',
    kernel: 'page_reporting_process(): atomic_set(&prdev->state, PAGE_REPORTING_ACTIVE); no lock',
    apply: (s) => {
      if (s[at.reporter.state] !== is.reporter.state.requested) return false;
      s[at.reporter.state] = is.reporter.state.active;
      s[at.reporter.phase] = phase.reporter.zone;
      return true;
    },
  };
}

/** page_reporting_process_zone(): zone_watermark_ok() above low_wmark + (CAPACITY << R), then the walk from R; no lock. */
function pageReportingProcessZone(w: Worker): StepSpec {
  const { m, cfg, at, phase } = w.k;
  const R = cfg.reportOrder;
  return {
    name: 'page_reporting_process_zone',
    kernel: 'page_reporting_process_zone(): watermark = low_wmark_pages(zone) + (PAGE_REPORTING_CAPACITY << page_reporting_order); zone_watermark_ok(); no lock',
    apply: (s) => {
      if (!zoneWatermarkOk(m, s, w.lowWmark + (cfg.capacity << R))) return false;
      s[at.reporter.phase] = phase.reporter.walking;
      s[at.reporter.order] = R;
      return true;
    },
  };
}

/** page_reporting_process_zone(): "Cancel request if insufficient free memory"; no lock. */
function processZoneRefused(w: Worker): StepSpec {
  const { m, cfg } = w.k;
  return {
    name: 'process_zone_refused',
    kernel: 'page_reporting_process_zone(): "Cancel request if insufficient free memory": return before the walk; no lock',
    apply: (s) => {
      if (zoneWatermarkOk(m, s, w.lowWmark + (cfg.capacity << cfg.reportOrder))) return false;
      // The request is cancelled: what it asked for is waived (no-backed-free-blocks still sees the memory).
      for (let p = 0; p < cfg.pages; p++) waiveHint(m, s, p, 0);
      finishPass(w, s);
      return true;
    },
  };
}

/** page_reporting_cycle(): __isolate_free_page() into the sgl, then report or leave the list; zone->lock. */
function pageReportingCycle(w: Worker): StepSpec {
  return cycleStep(w, 'isolate', 'page_reporting_cycle', 'page_reporting_cycle(): __isolate_free_page() unreported blocks into the sgl; zone->lock');
}

/** page_reporting_cycle(): __isolate_free_page() refuses a block on its watermark; zone->lock. */
function isolateRefused(w: Worker): StepSpec {
  return cycleStep(
    w,
    'refused',
    'isolate_refused',
    'page_reporting_cycle(): __isolate_free_page() fails on zone->_watermark[WMARK_MIN] + (1UL << order): next = page; break; zone->lock',
  );
}

/** page_reporting_cycle(): budget < 0, the list is left with the state back at REQUESTED; zone->lock. */
function budgetSpent(w: Worker): StepSpec {
  return cycleStep(
    w,
    'spent',
    'budget_spent',
    'page_reporting_cycle(): budget < 0: atomic_set(&prdev->state, PAGE_REPORTING_REQUESTED); next = page; break; zone->lock',
  );
}

/** prdev->report() = virtballoon_free_page_report(): add the sgl, kick, then wait; zone->lock as the cycle left it. */
function virtballoonFreePageReport(w: Worker): StepSpec {
  const { m, cfg, at, is, phase } = w.k;
  const reporter = w.k.actor.reporter;
  return {
    name: 'report',
    kernel: 'virtballoon_free_page_report(): virtqueue_add_inbuf(), kick, wait_event()',
    apply: (s) => {
      for (let p = 0; p < cfg.pages; p++) if (w.sgl.has(s, p)) hintRange(m, s, p, 1 << w.sgl.order(s, p));
      s[at.reporter.vq] = is.reporter.vq.posted;
      s[at.reporter.phase] = phase.reporter.waiting;
      s[m.f.evHintBy] = reporter + 1;
      return true;
    },
  };
}

/**
 * page_reporting_drain(), after the report returned; zone->lock taken:
 * every block put back (no notify), PageReported set only where the
 * block is still a free head of its order. After a full batch the walk
 * goes on under the lock, from the head of the same list ("Reset next
 * to first entry"), with the budget one report lower; after the
 * leftover the lock is dropped and the pass is over.
 */
function pageReportingDrain(w: Worker): StepSpec {
  const { k, sgl } = w;
  const { m, cfg, at, is, phase } = k;
  return {
    name: 'page_reporting_drain',
    kernel: 'page_reporting_drain(): __putback_isolated_page(), __SetPageReported(), zone->lock',
    apply: (s) => {
      if (s[at.reporter.vq] !== is.reporter.vq.done) return false;
      if (!w.parts.report.relock(k, s)) return false;
      acquire(m, s, k.actor.reporter);
      s[at.reporter.vq] = is.reporter.vq.idle;
      for (let p = 0; p < cfg.pages; p++) {
        if (!sgl.has(s, p)) continue;
        const order = sgl.order(s, p);
        sgl.drop(s, p);
        if (isFreeHead(m, s, p, order)) s[m.f.reported + p] = 1;
      }
      if (s[at.reporter.leftover]) {
        s[at.reporter.leftover] = 0;
        release(m, s);
        finishPass(w, s);
      } else {
        // "update budget to reflect call to report function"
        if (s[at.reporter.budget] > 0) s[at.reporter.budget]--;
        s[at.reporter.phase] = phase.reporter.walking;
      }
      return true;
    },
  };
}

/** The page_reporting work's steps, per phase: the parts in place decide where prdev->report() runs. */
export function reporterSteps(k: ReporterKit, parts: PageReportingParts) {
  const w: Worker = { k, parts, sgl: parts.sgl.ops(k), wmarkMin: k.cfg.watermarkMin ?? 0, lowWmark: lowWatermark(k.cfg) };
  return {
    idle: [pageReportingProcess(w)],
    zone: [pageReportingProcessZone(w), processZoneRefused(w)],
    walking: [pageReportingCycle(w), isolateRefused(w), budgetSpent(w)],
    ...parts.report.phases(virtballoonFreePageReport(w)),
    waiting: [pageReportingDrain(w)],
  };
}
