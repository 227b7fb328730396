/**
 * D5's actor and state fields, declared once for the assembly
 * (page-reporting.ts), the kit type the actor files (reporter.ts, host.ts)
 * are written against, and the parts a variant may replace.
 */
import type { GroupsSpec, Kit, StepSpec } from '../../design-api.js';
import type { Config } from '../../config.js';
import type { State } from '../../types.js';

export const D5_ACTORS = {
  // idle: work not running; zone: ACTIVE set, page_reporting_process_zone()'s watermark
  // check next; walking: about to run page_reporting_cycle() at `order` (with zone->lock
  // held: resuming it after a drain); isolated: a batch to report with the lock still held
  // (the report-under-lock variant); unlocked: the lock dropped, the batch about to be
  // reported; waiting: prdev->report() waits for the host to return the buffer.
  reporter: ['idle', 'zone', 'walking', 'isolated', 'unlocked', 'waiting'],
} as const;

export const reporterState = (cfg: Config) =>
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
export type ReporterKit = Kit<ReturnType<typeof reporterState>, Record<never, never>, Record<never, never>, typeof D5_ACTORS, readonly []>;

/** The blocks in hand between page_reporting_cycle() and page_reporting_drain(): the scatterlist. */
export interface Scatterlist {
  /** Page fields the list keeps of its own. */
  readonly pages: (cfg: Config) => GroupsSpec;
  readonly ops: (k: ReporterKit) => ScatterlistOps;
}

/** What the reporter does with the scatterlist. */
export interface ScatterlistOps {
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
