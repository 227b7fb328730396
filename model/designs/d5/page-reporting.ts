/**
 * D5: upstream free page reporting (mm/page_reporting.c, Linux 5.7+, with
 * virtio-balloon VIRTIO_BALLOON_F_REPORTING and QEMU's
 * virtio_balloon_handle_report()).
 *
 * __free_one_page() of a block of order >= page_reporting_order calls
 * page_reporting_notify_free(), which moves prdev->state to REQUESTED and,
 * coming from IDLE, schedules the worker. The worker sets ACTIVE, and
 * page_reporting_process_zone() cancels the pass unless the zone is above
 * low_wmark + (PAGE_REPORTING_CAPACITY << R). It walks the free lists from
 * page_reporting_order upwards; for each, page_reporting_cycle() takes
 * zone->lock, computes the list's budget, DIV_ROUND_UP(nr_free, CAPACITY *
 * 16), and isolates unreported blocks into a scatterlist of CAPACITY entries
 * until __isolate_free_page() refuses one on its watermark (min + 2^order),
 * the list ends (a full sgl is carried into the next list), or it meets an
 * unreported block with the sgl full: then it drops the lock, hands the
 * batch to the device and waits until the host has discarded it, retakes the
 * lock, puts every block back with __putback_isolated_page() (no new notify),
 * sets PageReported only on a block that is still a free head of the same
 * order, and goes on from the head of the same list with one report less of
 * budget. With the budget spent, the next unreported block ends the list
 * with the state back at REQUESTED, so another pass comes. PageReported is
 * cleared whenever a block leaves a free list. After the last list the
 * leftover batch is reported and drained, and the pass goes back to IDLE
 * unless a free asked for another pass meanwhile.
 *
 * The budget is the kernel's, unscaled: at these zone sizes it is 1 (two
 * reports per list and pass), which binds at CAPACITY 1 with three
 * unreported blocks of one order. designs.md §7's scaled divisor,
 * DIV_ROUND_UP(nr_free, CAPACITY), never binds at these bounds.
 *
 * Abstractions: one zone and one migratetype (page_reporting_process_zone()
 * visits the lists of every migratetype of an order in turn; with one there
 * is one list per order); the vCPUs' own allocations ignore the watermarks
 * (an allocation fails only when no block is free), which lets them do more
 * than the kernel's would, never less; the order of blocks on a list is
 * free (a run of the cycle may isolate any unreported blocks of its order),
 * which covers list_rotate_to_front(); prdev->report() never fails
 * (virtqueue_add_inbuf() on a vring of at least CAPACITY entries, with
 * indirect descriptors off); the drain returns the batch in ascending page
 * order. The 2 s delayed work may start at any time.
 */
import { defineDesign, type Args, type GroupsSpec, type Kit, type StepSpec } from '../../design-api.js';
import { FREE_HEAD, ISOLATED_HEAD, isFreeHead, isolateFreePage, nrFreePages, putbackIsolatedPage, waiveHint, zoneWatermarkOk } from '../../allocator.js';
import { lowWatermark, type Config } from '../../config.js';
import { onIsolateList } from '../../isolator.js';
import { ACKED, anyInflight, HINTED, hintRange, landDiscards } from '../../host.js';
import type { Design, Expectation, State } from '../../types.js';
import { acquire, lockFree, lockHeldBy, release } from '../../zone-lock.js';
import { popcount } from '../../math.js';

const ACTORS = {
  // idle: work not running; zone: ACTIVE set, page_reporting_process_zone()'s watermark
  // check next; walking: about to run page_reporting_cycle() at `order` (with zone->lock
  // held: resuming it after a drain); isolated: a batch to report with the lock still held
  // (the report-under-lock variant); unlocked: the lock dropped, the batch about to be
  // reported; waiting: prdev->report() waits for the host to return the buffer.
  reporter: ['idle', 'zone', 'walking', 'isolated', 'unlocked', 'waiting'],
} as const;

const reporterState = (cfg: Config) =>
  ({
    reporter: {
      state: { domain: ['idle', 'requested', 'active'], doc: 'prdev->state' },
      order: { domain: { max: cfg.maxOrder }, doc: 'the free-list order page_reporting_process_zone() is walking' },
      budget: {
        domain: { max: Math.ceil(cfg.pages / (cfg.capacity * 16)) + 1 },
        doc: "page_reporting_cycle()'s budget + 1 while a report of the list is out (0: budget < 0, spent); DIV_ROUND_UP(nr_free, CAPACITY * 16)",
      },
      leftover: { domain: 'bool', doc: 'the batch in hand is the leftover reported after the walk ended' },
      vq: { domain: ['idle', 'posted', 'done'], doc: 'the reporting virtqueue buffer: idle, posted to the host, or returned' },
    },
  }) as const;

/** What the reporter's steps and parts work with. */
export type ReporterKit = Kit<ReturnType<typeof reporterState>, Record<never, never>, Record<never, never>, typeof ACTORS, readonly []>;

/** The blocks in hand between page_reporting_cycle() and page_reporting_drain(): the scatterlist. */
export interface Scatterlist {
  /** Page fields the list keeps of its own. */
  readonly pages: (cfg: Config) => GroupsSpec;
  readonly ops: (k: ReporterKit) => {
    /** Whether `head` is a block in the list (a scatterlist entry). */
    readonly has: (s: State, head: number) => boolean;
    /** Order of the entry at `head` (the sg entry's length). */
    readonly order: (s: State, head: number) => number;
    /** Pages NR_FREE_PAGES loses as a block of `order` joins the list. */
    readonly freeTaken: (order: number) => number;
    /** The free block at `head` joins the list; zone->lock held. */
    readonly add: (s: State, head: number, order: number) => void;
    /** The entry at `head` leaves the list; zone->lock held. */
    readonly drop: (s: State, head: number) => void;
  };
}

/** zone->lock around prdev->report(): dropped before, retaken for page_reporting_drain(). */
export interface ReportLocking {
  /** The reporter phase prdev->report() runs in. */
  readonly phases: (report: StepSpec) => { readonly isolated: readonly StepSpec[]; readonly unlocked: readonly StepSpec[] };
  /** page_reporting_cycle() with a full sgl, zone->lock held: on to prdev->report(). */
  readonly full: (k: ReporterKit, s: State) => void;
  /** page_reporting_process_zone() with the leftover, zone->lock dropped: on to prdev->report(). */
  readonly leftover: (k: ReporterKit, s: State) => void;
  /** Whether page_reporting_drain() can have zone->lock now. */
  readonly relock: (k: ReporterKit, s: State) => boolean;
}

/** The parts of mm/page_reporting.c, and of the device behind prdev->report(), a variant may replace. */
export interface PageReportingParts {
  /** __page_reporting_request(), from page_reporting_notify_free(); zone->lock held. */
  readonly request: (k: ReporterKit, s: State) => void;
  readonly sgl: Scatterlist;
  readonly report: ReportLocking;
  /** The host's side of the reporting virtqueue; no guest lock. */
  readonly host: (k: ReporterKit) => StepSpec[];
  /** The host acks before its discard lands. */
  readonly hostAcksEarly?: boolean;
  /** del_page_from_free_list() does not clear PageReported. */
  readonly keepReportedOffList?: boolean;
}

/** A variant: the parts it replaces. */
export type PageReportingVariant = Partial<PageReportingParts>;

/**
 * __page_reporting_request(); zone->lock held: atomic_read() == REQUESTED,
 * nothing to do; else atomic_xchg(REQUESTED) and, from IDLE, schedule the work.
 */
export function pageReportingRequest(k: ReporterKit, s: State): void {
  s[k.at.reporter.state] = k.is.reporter.state.requested;
}

/** __isolate_free_page() takes the block off its free list; __putback_isolated_page() puts it back without a notify. */
const isolatedBlocks: Scatterlist = {
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
const unlockAroundReport: ReportLocking = {
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

/** virtio_balloon_handle_report(): ram_block_discard_range() of every entry, then virtqueue_push() and notify; no guest lock. */
function virtioBalloonHandleReport(k: ReporterKit): StepSpec[] {
  const { m, at, is } = k;
  return [
    {
      name: 'virtio_balloon_handle_report',
      kernel: 'virtio_balloon_handle_report(): ram_block_discard_range(), then push and notify',
      pre: () => ({ at: at.reporter.vq, is: is.reporter.vq.posted }),
      apply: (s) => {
        if (s[at.reporter.vq] !== is.reporter.vq.posted) return false;
        landDiscards(m, s, HINTED);
        s[at.reporter.vq] = is.reporter.vq.done;
        s[m.f.evServed] = k.actor.reporter + 1;
        return true;
      },
    },
  ];
}

/** The upstream parts. */
const KERNEL: PageReportingParts = {
  request: pageReportingRequest,
  sgl: isolatedBlocks,
  report: unlockAroundReport,
  host: virtioBalloonHandleReport,
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

/**
 * A min watermark of 1 page makes low 1: a pass needs 6 free pages of 8 at
 * R = 1 (low + CAPACITY << R = 5), an order-1 isolation 4 and an order-2 one
 * 6, so both gates refuse in reachable states and pass in others.
 */
const DEFAULTS: Partial<Config> = { cpus: 2, pages: 8, maxOrder: 2, reportOrder: 1, capacity: 2, watermarkMin: 1 };

export function pageReportingDesign(
  id: string,
  title: string,
  summary: string,
  v: PageReportingVariant,
  expect: readonly Expectation[],
  broken?: string,
  defaults: Partial<Config> = {},
  accepts?: Readonly<Record<string, string>>,
): Design {
  const parts: PageReportingParts = { ...KERNEL, ...v };
  return defineDesign({
    id,
    title,
    summary,
    ...(accepts !== undefined ? { accepts } : {}),
    ...(broken !== undefined ? { broken } : {}),
    defaults: { ...DEFAULTS, ...defaults },
    // Nothing but the vCPUs' own rows and the lock names a vCPU.
    symmetricCpus: true,
    watermarks: true,
    migratetypes: true,
    checkConfig: (cfg) => {
      const gate = lowWatermark(cfg) + (cfg.capacity << cfg.reportOrder);
      return gate >= cfg.pages
        ? `page_reporting_process_zone() starts a pass only above low_wmark + (CAPACITY << R) = ${gate} free pages, and the zone has ${cfg.pages}: no pass could ever run; lower --capacity, --report-order or --watermark-min, or raise --pages`
        : undefined;
    },
    ...(parts.hostAcksEarly ? { hostAcksEarly: true } : {}),
    actors: ACTORS,
    state: reporterState,
    pages: (cfg) => parts.sgl.pages(cfg) as Record<never, never>,
    init: (k) => (s) => {
      // page_reporting_register(): "Begin initial flush of zones".
      s[k.at.reporter.state] = k.is.reporter.state.requested;
    },
    idle: (k) => {
      const { m, at, is, phase } = k;
      return (s) =>
        s[at.reporter.phase] === phase.reporter.idle &&
        s[at.reporter.state] !== is.reporter.state.requested &&
        s[at.reporter.vq] === is.reporter.vq.idle &&
        !anyInflight(m, s, HINTED) &&
        !anyInflight(m, s, ACKED);
    },
    hooks: (k) => ({
      ...(parts.keepReportedOffList ? { keepReportedOffList: true } : {}),
      /** page_reporting_notify_free() from __free_one_page(), zone->lock held: __page_reporting_request(). */
      freeOnePageDone: (s, _head, order, notify) => {
        if (!notify || order < k.cfg.reportOrder) return;
        parts.request(k, s);
      },
    }),
    steps: (k) => {
      const { m, cfg, at, is, phase } = k;
      const f = m.f;
      const reporter = k.actor.reporter;
      const R = cfg.reportOrder;
      const P = phase.reporter;
      const st = is.reporter.state;
      const sgl = parts.sgl.ops(k);
      const wmarkMin = cfg.watermarkMin ?? 0;
      const lowWmark = lowWatermark(cfg);

      const batchCount = (s: State): number => {
        let n = 0;
        for (let p = 0; p < cfg.pages; p++) if (sgl.has(s, p)) n++;
        return n;
      };

      /** Unreported free blocks of `order` not already in the batch, as a mask over block numbers. */
      const eligible = (s: State, order: number): number => {
        let mask = 0;
        for (let j = 0; j < cfg.pages >> order; j++) {
          const head = j << order;
          // "We do not pull pages from the isolate free list."
          if (isFreeHead(m, s, head, order) && !s[f.reported + head] && !sgl.has(s, head) && !onIsolateList(m, s, head)) mask |= 1 << j;
        }
        return mask;
      };

      /**
       * How many blocks of `order` __isolate_free_page() would take in a row
       * before its watermark (min + 2^order) refuses one: NR_FREE_PAGES drops
       * by what each takes.
       */
      const isolations = (s: State, order: number, want: number): number => {
        let free = nrFreePages(m, s);
        let n = 0;
        while (n < want && free > wmarkMin + (1 << order)) {
          n++;
          free -= sgl.freeTaken(order);
        }
        return n;
      };

      /** End of page_reporting_process(): cmpxchg(ACTIVE, IDLE); a pending REQUESTED reschedules the work. */
      const finishPass = (s: State): void => {
        s[at.reporter.phase] = P.idle;
        s[at.reporter.order] = 0;
        s[at.reporter.budget] = 0;
        if (s[at.reporter.state] === st.active) s[at.reporter.state] = st.idle;
      };

      /**
       * The walk leaves the list of its order (page_reporting_cycle() returns,
       * zone->lock dropped): on to the next order, or, past the last,
       * page_reporting_process_zone() reports the leftover or the pass ends.
       */
      const leaveList = (s: State, order: number): void => {
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
        if (batchCount(s) === 0) {
          finishPass(s);
          return;
        }
        // "report the leftover pages before going idle"
        s[at.reporter.order] = 0;
        s[at.reporter.leftover] = 1;
        parts.report.leftover(k, s);
      };

      /**
       * The sgl is full and the walk meets the next unreported block:
       * list_rotate_to_front(), then prdev->report(). The budget is kept for
       * the drain's budget--.
       */
      const reportFull = (s: State, budget: number): void => {
        s[at.reporter.budget] = budget + 1;
        parts.report.full(k, s);
      };

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
      const cycle = (outcome: Outcome) => (s: State, args: Args): boolean => {
        const order = Number(args.order);
        const take = takeMask(args);
        if (s[at.reporter.order] !== order) return false;
        // After a drain the loop goes on under the lock the drain took; else page_reporting_cycle() takes it.
        const resumed = lockHeldBy(m, s, reporter);
        if (!resumed && !lockFree(m, s)) return false;
        const can = eligible(s, order);
        if ((take & can) !== take) return false;
        // "budget = DIV_ROUND_UP(area->nr_free, PAGE_REPORTING_CAPACITY * 16)", read under the lock.
        const budget = resumed ? s[at.reporter.budget] - 1 : Math.ceil(s[f.nrFree + order] / (cfg.capacity * 16));
        const unreported = popcount(can);
        if (budget < 0) {
          if (outcome !== 'spent' || take !== 0 || unreported === 0) return false;
          s[at.reporter.state] = st.requested;
          acquire(m, s, reporter);
          leaveList(s, order);
          return true;
        }
        if (outcome === 'spent') return false;
        const room = cfg.capacity - batchCount(s);
        const fit = Math.min(unreported, room);
        const took = isolations(s, order, fit);
        if (popcount(take) !== took) return false;
        if ((took < fit) !== (outcome === 'refused')) return false;
        acquire(m, s, reporter);
        for (let j = 0; j < cfg.pages >> order; j++) if (take & (1 << j)) sgl.add(s, j << order, order);
        if (outcome === 'refused') {
          // The walk leaves the list: the blocks it did not take were turned away by the watermark.
          for (let j = 0; j < cfg.pages >> order; j++) if (can & ~take & (1 << j)) waiveHint(m, s, j << order, order);
          leaveList(s, order);
          return true;
        }
        if (took === room && unreported > room) reportFull(s, budget);
        else leaveList(s, order);
        return true;
      };

      const cycleStep = (outcome: Outcome, name: string, kernel: string): StepSpec => ({
        name,
        kernel,
        args: outcome === 'spent' ? cycleArgs(cfg).filter((a) => a.isolate === 'none') : cycleArgs(cfg),
        // Pre-guard: the step's first block is a free head, or (taking none) the walk is at its order.
        pre: (args) =>
          args.isolate === 'none'
            ? { at: at.reporter.order, is: Number(args.order) }
            : { at: f.owner + Number(String(args.isolate).split(',')[0]), is: FREE_HEAD },
        apply: cycle(outcome),
      });

      /** page_reporting_process(): atomic_set(&prdev->state, PAGE_REPORTING_ACTIVE); no lock. */
      const pageReportingProcess = (s: State): boolean => {
        if (s[at.reporter.state] !== st.requested) return false;
        s[at.reporter.state] = st.active;
        s[at.reporter.phase] = P.zone;
        return true;
      };

      /** page_reporting_process_zone(): zone_watermark_ok() above low_wmark + (CAPACITY << R), then the walk from R; no lock. */
      const pageReportingProcessZone = (s: State): boolean => {
        if (!zoneWatermarkOk(m, s, lowWmark + (cfg.capacity << R))) return false;
        s[at.reporter.phase] = P.walking;
        s[at.reporter.order] = R;
        return true;
      };

      /** page_reporting_process_zone(): "Cancel request if insufficient free memory"; no lock. */
      const processZoneRefused = (s: State): boolean => {
        if (zoneWatermarkOk(m, s, lowWmark + (cfg.capacity << R))) return false;
        // The request is cancelled: what it asked for is waived (no-backed-free-blocks still sees the memory).
        for (let p = 0; p < cfg.pages; p++) waiveHint(m, s, p, 0);
        finishPass(s);
        return true;
      };

      /** prdev->report() = virtballoon_free_page_report(): add the sgl, kick, then wait; zone->lock as the cycle left it. */
      const virtballoonFreePageReport = (s: State): boolean => {
        for (let p = 0; p < cfg.pages; p++) if (sgl.has(s, p)) hintRange(m, s, p, 1 << sgl.order(s, p));
        s[at.reporter.vq] = is.reporter.vq.posted;
        s[at.reporter.phase] = P.waiting;
        s[f.evHintBy] = reporter + 1;
        return true;
      };

      /**
       * page_reporting_drain(), after the report returned; zone->lock taken:
       * every block put back (no notify), PageReported set only where the
       * block is still a free head of its order. After a full batch the walk
       * goes on under the lock, from the head of the same list ("Reset next
       * to first entry"), with the budget one report lower; after the
       * leftover the lock is dropped and the pass is over.
       */
      const pageReportingDrain = (s: State): boolean => {
        if (s[at.reporter.vq] !== is.reporter.vq.done) return false;
        if (!parts.report.relock(k, s)) return false;
        acquire(m, s, reporter);
        s[at.reporter.vq] = is.reporter.vq.idle;
        for (let p = 0; p < cfg.pages; p++) {
          if (!sgl.has(s, p)) continue;
          const order = sgl.order(s, p);
          sgl.drop(s, p);
          if (isFreeHead(m, s, p, order)) s[f.reported + p] = 1;
        }
        if (s[at.reporter.leftover]) {
          s[at.reporter.leftover] = 0;
          release(m, s);
          finishPass(s);
        } else {
          // "update budget to reflect call to report function"
          if (s[at.reporter.budget] > 0) s[at.reporter.budget]--;
          s[at.reporter.phase] = P.walking;
        }
        return true;
      };

      const report: StepSpec = {
        name: 'report',
        kernel: 'virtballoon_free_page_report(): virtqueue_add_inbuf(), kick, wait_event()',
        apply: virtballoonFreePageReport,
      };

      return {
        reporter: {
          idle: [
            {
              name: 'page_reporting_process',
              kernel: 'page_reporting_process(): atomic_set(&prdev->state, PAGE_REPORTING_ACTIVE); no lock',
              apply: pageReportingProcess,
            },
          ],
          zone: [
            {
              name: 'page_reporting_process_zone',
              kernel: 'page_reporting_process_zone(): watermark = low_wmark_pages(zone) + (PAGE_REPORTING_CAPACITY << page_reporting_order); zone_watermark_ok(); no lock',
              apply: pageReportingProcessZone,
            },
            {
              name: 'process_zone_refused',
              kernel: 'page_reporting_process_zone(): "Cancel request if insufficient free memory": return before the walk; no lock',
              apply: processZoneRefused,
            },
          ],
          walking: [
            cycleStep(
              'isolate',
              'page_reporting_cycle',
              'page_reporting_cycle(): __isolate_free_page() unreported blocks into the sgl; zone->lock',
            ),
            cycleStep(
              'refused',
              'isolate_refused',
              'page_reporting_cycle(): __isolate_free_page() fails on zone->_watermark[WMARK_MIN] + (1UL << order): next = page; break; zone->lock',
            ),
            cycleStep(
              'spent',
              'budget_spent',
              'page_reporting_cycle(): budget < 0: atomic_set(&prdev->state, PAGE_REPORTING_REQUESTED); next = page; break; zone->lock',
            ),
          ],
          ...parts.report.phases(report),
          waiting: [
            {
              name: 'page_reporting_drain',
              kernel: 'page_reporting_drain(): __putback_isolated_page(), __SetPageReported(), zone->lock',
              apply: pageReportingDrain,
            },
          ],
        },
        host: parts.host(k),
      };
    },
    expect,
  });
}
