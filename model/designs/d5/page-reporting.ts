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
import { defineDesign } from '../../design-api.js';
import { lowWatermark, type Config } from '../../config.js';
import { ACKED, anyInflight, HINTED } from '../../host.js';
import type { Design, Expectation } from '../../types.js';
import { hostSteps, virtioBalloonHandleReport } from './host.js';
import { D5_ACTORS, reporterState, type PageReportingParts, type PageReportingVariant } from './kit.js';
import { isolatedBlocks, pageReportingRequest, reporterSteps, unlockAroundReport } from './reporter.js';

/** The upstream parts. */
const KERNEL: PageReportingParts = {
  request: pageReportingRequest,
  sgl: isolatedBlocks,
  report: unlockAroundReport,
  host: virtioBalloonHandleReport,
};

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
    actors: D5_ACTORS,
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
    steps: (k) => ({
      reporter: reporterSteps(k, parts),
      host: hostSteps(k, parts),
    }),
    expect,
  });
}
