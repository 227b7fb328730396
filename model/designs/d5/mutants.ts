/**
 * The parts the D5 mutants put in place of mm/page_reporting.c's, each
 * one thing the kernel or the host relies on, undone.
 */
import type { StepSpec } from '../../design-api.js';
import { ACKED, ackBeforeDiscard, anyInflight, landDiscards } from '../../host.js';
import type { State } from '../../types.js';
import { acquire, lockHeldBy } from '../../zone-lock.js';
import type { ReporterKit, ReportLocking, Scatterlist } from './kit.js';
import { pageReportingRequest } from './reporter.js';

/** Report while still holding zone->lock (no spin_unlock before report). */
export const reportHoldingLock: ReportLocking = {
  phases: (report) => ({ isolated: [report], unlocked: [] }),
  // page_reporting_cycle() without spin_unlock_irq(): prdev->report() with zone->lock held.
  full: (k, s) => {
    s[k.at.reporter.phase] = k.phase.reporter.isolated;
  },
  // page_reporting_process_zone() takes zone->lock before reporting the leftover.
  leftover: (k, s) => {
    acquire(k.m, s, k.actor.reporter);
    s[k.at.reporter.phase] = k.phase.reporter.isolated;
  },
  // page_reporting_drain() runs under the lock the report never dropped.
  relock: (k, s) => lockHeldBy(k.m, s, k.actor.reporter),
};

/** Leave the batch on the free list while the host works (no __isolate_free_page). */
export const batchOnFreeList: Scatterlist = {
  // Only this variant needs to remember its scatterlist apart from the pages' owners.
  pages: (cfg) => ({
    batch: {
      member: {
        domain: ['none', ...Array.from({ length: cfg.maxOrder + 1 }, (_, o) => `order-${o}`)],
        doc: 'the scatterlist entry this page heads, by order (the block stays on the free list)',
      },
    },
  }),
  ops: (k) => {
    const inBatch = k.m.layout.at('batch', 'member');
    return {
      has: (s, head) => s[inBatch + head] !== 0,
      order: (s, head) => s[inBatch + head] - 1,
      // The block stays on its free list and in NR_FREE_PAGES.
      freeTaken: () => 0,
      // sg_set_page() of a block left on the free list; zone->lock held.
      add: (s, head, order) => {
        s[inBatch + head] = order + 1;
      },
      // page_reporting_drain() of a block that never left the free list; zone->lock held.
      drop: (s, head) => {
        s[inBatch + head] = 0;
      },
    };
  },
};

/** The host acks before its discard lands. */
export function pushBeforeDiscard(k: ReporterKit): StepSpec[] {
  const { m, at, is } = k;
  return [
    {
      name: 'virtqueue_push',
      kernel: 'virtio_balloon_handle_report(): buffer returned before the discard',
      pre: () => ({ at: at.reporter.vq, is: is.reporter.vq.posted }),
      apply: (s) => {
        // Broken host: push the buffer back first, discard later (at most one batch pending).
        if (s[at.reporter.vq] !== is.reporter.vq.posted || anyInflight(m, s, ACKED)) return false;
        ackBeforeDiscard(m, s);
        s[at.reporter.vq] = is.reporter.vq.done;
        s[m.f.evServed] = k.actor.reporter + 1;
        return true;
      },
    },
    {
      name: 'ram_block_discard_range',
      kernel: 'ram_block_discard_range(): the late discard lands',
      apply: (s) => {
        if (!anyInflight(m, s, ACKED)) return false;
        landDiscards(m, s, ACKED);
        return true;
      },
    },
  ];
}

/** __page_reporting_request() returns on any state but IDLE: a free during a pass asks for nothing. */
export function requestUnlessActive(k: ReporterKit, s: State): void {
  // "If reporting is already active there is nothing we need to do", read as returning on ACTIVE.
  if (s[k.at.reporter.state] === k.is.reporter.state.active) return;
  pageReportingRequest(k, s);
}
