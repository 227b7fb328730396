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
 * The budget of v16 is kept, scaled as designs.md §7 suggests: a list gets
 * DIV_ROUND_UP(nr_free, CAPACITY) + 1 reports per pass before the walk leaves
 * it with the state back at REQUESTED.
 *
 * Abstractions: one zone and one migratetype; no watermark check; the order
 * of blocks on a list is free (the cycle may isolate any unreported blocks of
 * its order), which also covers list_rotate_to_front(); the drain returns the
 * batch in ascending page order. The 2 s delayed work may start at any time.
 */
import { defineDesign, type Args } from '../../api.js';
import { FREE_HEAD, ISOLATED_HEAD, isFreeHead, isolateFreePage, putbackIsolatedPage } from '../allocator.js';
import type { Config } from '../config.js';
import { ACKED, ackBeforeDiscard, anyInflight, HINTED, hintRange, landDiscards } from '../host.js';
import type { Design, Expectation, State } from '../types.js';
import { acquire, lockFree, lockHeldBy, release } from '../zone-lock.js';

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

const DEFAULTS: Partial<Config> = { cpus: 2, pages: 8, maxOrder: 2, reportOrder: 1, capacity: 2 };

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
  return defineDesign({
    id,
    title,
    summary,
    ...(accepts !== undefined ? { accepts } : {}),
    ...(broken !== undefined ? { broken } : {}),
    defaults: { ...DEFAULTS, ...defaults },
    // Nothing but the vCPUs' own rows and the lock names a vCPU.
    symmetricCpus: true,
    ...(v.ackBeforeDiscard ? { hostAcksEarly: true } : {}),
    actors: {
      // idle: work not running; walking: in page_reporting_process_zone(), about to run
      // page_reporting_cycle() at `order`; isolated: a batch is isolated and the lock still
      // held; unlocked: the lock dropped, the batch about to be reported; waiting: prdev->report()
      // waits for the host to return the buffer.
      reporter: ['idle', 'walking', 'isolated', 'unlocked', 'waiting'],
    },
    state: (cfg) => ({
      reporter: {
        state: { domain: ['idle', 'requested', 'active'], doc: 'prdev->state' },
        order: { domain: { max: cfg.maxOrder }, doc: 'the free-list order page_reporting_process_zone() is walking' },
        budget: {
          domain: { max: Math.ceil(cfg.pages / cfg.capacity) + 1 },
          doc: 'reports left for this list + 1 (0: used up); DIV_ROUND_UP(nr_free, CAPACITY * 16), scaled to DIV_ROUND_UP(nr_free, CAPACITY)',
        },
        leftover: { domain: 'bool', doc: 'the batch in hand is the leftover reported after the walk ended' },
        vq: { domain: ['idle', 'posted', 'done'], doc: 'the reporting virtqueue buffer: idle, posted to the host, or returned' },
      },
    }),
    // Only the no-isolate variant needs to remember its scatterlist apart from the pages' owners.
    pages: (cfg) =>
      (v.noIsolate
        ? {
            batch: {
              member: {
                domain: ['none', ...Array.from({ length: cfg.maxOrder + 1 }, (_, o) => `order-${o}`)],
                doc: 'the scatterlist entry this page heads, by order (the block stays on the free list)',
              },
            },
          }
        : {}) as Record<never, never>,
    init: (k) => (s) => {
      // page_reporting_register(): "begin initial flush of zones".
      s[k.at.reporter.state] = k.is.reporter.state.requested;
      s[k.at.reporter.order] = k.cfg.reportOrder;
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
      ...(v.keepReportedOffList ? { keepReportedOffList: true } : {}),
      /** page_reporting_notify_free() from __free_one_page(), zone->lock held: __page_reporting_request(). */
      freeOnePageDone: (s, _head, order, notify) => {
        if (!notify || order < k.cfg.reportOrder) return;
        // atomic_read() == REQUESTED: nothing to do; else xchg(REQUESTED) and, from IDLE, schedule the work.
        s[k.at.reporter.state] = k.is.reporter.state.requested;
      },
    }),
    steps: (k) => {
      const { m, cfg, at, is, phase } = k;
      const f = m.f;
      const reporter = k.actor.reporter;
      const R = cfg.reportOrder;
      const P = phase.reporter;
      const inBatch = v.noIsolate ? m.layout.at('batch', 'member') : -1;

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

      /**
       * Walk the list of `order` next, with its budget: "enough calls to
       * process over a sixteenth of the current list plus one additional
       * call" (the sixteenth scaled away, designs.md §7). Read as the walk
       * reaches the list, one step before page_reporting_cycle() takes the lock.
       */
      const enterList = (s: State, order: number): void => {
        s[at.reporter.order] = order;
        s[at.reporter.budget] = Math.ceil(s[f.nrFree + order] / cfg.capacity) + 1;
      };

      /** End of page_reporting_process(): cmpxchg(ACTIVE, IDLE); a pending REQUESTED reschedules the work. */
      const finishPass = (s: State): void => {
        release(m, s);
        s[at.reporter.phase] = P.idle;
        if (s[at.reporter.state] === is.reporter.state.active) s[at.reporter.state] = is.reporter.state.idle;
      };

      return {
        reporter: {
          idle: [
            {
              name: 'page_reporting_process',
              kernel: 'page_reporting_process(): atomic_set(state, ACTIVE); no lock',
              apply: (s) => {
                if (s[at.reporter.state] !== is.reporter.state.requested) return false;
                s[at.reporter.state] = is.reporter.state.active;
                s[at.reporter.phase] = P.walking;
                enterList(s, R);
                return true;
              },
            },
          ],
          walking: [
            {
              name: 'page_reporting_cycle',
              kernel: 'page_reporting_cycle(): __isolate_free_page() into the sgl, zone->lock',
              args: cycleArgs(cfg),
              // Pre-guard: the step's first block is a free head, or (taking none) the walk is at its order.
              pre: (args) =>
                args.isolate === 'none'
                  ? { at: at.reporter.order, is: Number(args.order) }
                  : { at: f.owner + Number(String(args.isolate).split(',')[0]), is: FREE_HEAD },
              /**
               * page_reporting_cycle() at the walk's order, zone->lock: isolate the
               * unreported blocks in `take` (all of them if they fit, else exactly
               * as many as fit). A full batch keeps the lock for the unlock-and-report
               * step; otherwise the walk moves up an order, or ends: report the
               * leftover, or finish the pass with cmpxchg(ACTIVE, IDLE). With the
               * budget used up, an unreported block ends the list instead: state
               * back to REQUESTED, so another pass comes.
               */
              apply: (s, args) => {
                const order = Number(args.order);
                const take = takeMask(args);
                if (s[at.reporter.order] !== order) return false;
                if (!lockFree(m, s) && !lockHeldBy(m, s, reporter)) return false;
                for (let j = 0; j < cfg.pages >> order; j++) {
                  const head = j << order;
                  if (take & (1 << j) && (!isFreeHead(m, s, head, order) || s[f.reported + head] || batched(s, head))) return false;
                }
                const room = cfg.capacity - batchCount(s);
                const can = eligible(s, order);
                const spent = s[at.reporter.budget] === 0;
                if (spent ? take !== 0 : (take & can) !== take) return false;
                if (!spent && (popcount(can) <= room ? take !== can : popcount(take) !== room)) return false;
                acquire(m, s, reporter);
                if (spent && can !== 0) s[at.reporter.state] = is.reporter.state.requested;
                for (let j = 0; j < cfg.pages >> order; j++) {
                  if (!(take & (1 << j))) continue;
                  const head = j << order;
                  if (v.noIsolate) s[inBatch + head] = order + 1;
                  else isolateFreePage(m, s, head);
                }
                const n = batchCount(s);
                if (n === cfg.capacity) {
                  s[at.reporter.phase] = P.isolated;
                  return true;
                }
                if (order < cfg.maxOrder) {
                  enterList(s, order + 1);
                  release(m, s);
                  return true;
                }
                s[at.reporter.order] = R;
                s[at.reporter.budget] = 0;
                if (n === 0) {
                  finishPass(s);
                  return true;
                }
                // page_reporting_process_zone(): the leftover batch is reported after the walk.
                s[at.reporter.leftover] = 1;
                if (v.reportUnderLock) s[at.reporter.phase] = P.isolated;
                else {
                  release(m, s);
                  s[at.reporter.phase] = P.unlocked;
                }
                return true;
              },
            },
          ],
          isolated: v.reportUnderLock
            ? [report()]
            : [
                {
                  name: 'spin_unlock',
                  kernel: 'page_reporting_cycle(): spin_unlock_irq(&zone->lock) before reporting',
                  apply: (s) => {
                    if (!lockHeldBy(m, s, reporter)) return false;
                    release(m, s);
                    s[at.reporter.phase] = P.unlocked;
                    return true;
                  },
                },
              ],
          unlocked: v.reportUnderLock ? [] : [report()],
          waiting: [
            {
              name: 'page_reporting_drain',
              kernel: 'page_reporting_drain(): __putback_isolated_page(), __SetPageReported(), zone->lock',
              /**
               * page_reporting_drain(), after the report returned: zone->lock taken,
               * every block put back (no notify), PageReported set only where the
               * block is still a free head of its order. After a full batch the walk
               * goes on under the lock; after the leftover the pass is over.
               */
              apply: (s) => {
                if (s[at.reporter.vq] !== is.reporter.vq.done) return false;
                if (v.reportUnderLock ? !lockHeldBy(m, s, reporter) : !lockFree(m, s)) return false;
                acquire(m, s, reporter);
                s[at.reporter.vq] = is.reporter.vq.idle;
                for (let p = 0; p < cfg.pages; p++) {
                  if (!batched(s, p)) continue;
                  const order = batchOrder(s, p);
                  if (v.noIsolate) s[inBatch + p] = 0;
                  else putbackIsolatedPage(m, s, p);
                  if (isFreeHead(m, s, p, order)) s[f.reported + p] = 1;
                }
                if (s[at.reporter.leftover]) {
                  s[at.reporter.leftover] = 0;
                  finishPass(s);
                } else {
                  // "update budget to reflect call to report function"
                  if (s[at.reporter.budget] > 0) s[at.reporter.budget]--;
                  s[at.reporter.phase] = P.walking;
                }
                return true;
              },
            },
          ],
        },
        host: v.ackBeforeDiscard
          ? [
              {
                name: 'virtqueue_push',
                kernel: 'virtio_balloon_handle_report(): buffer returned before the discard',
                pre: () => ({ at: at.reporter.vq, is: is.reporter.vq.posted }),
                apply: (s) => {
                  // Broken host: push the buffer back first, discard later (at most one batch pending).
                  if (s[at.reporter.vq] !== is.reporter.vq.posted || anyInflight(m, s, ACKED)) return false;
                  ackBeforeDiscard(m, s);
                  s[at.reporter.vq] = is.reporter.vq.done;
                  s[f.evServed] = reporter + 1;
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
            ]
          : [
              {
                name: 'virtio_balloon_handle_report',
                kernel: 'virtio_balloon_handle_report(): ram_block_discard_range(), then push and notify',
                pre: () => ({ at: at.reporter.vq, is: is.reporter.vq.posted }),
                apply: (s) => {
                  if (s[at.reporter.vq] !== is.reporter.vq.posted) return false;
                  landDiscards(m, s, HINTED);
                  s[at.reporter.vq] = is.reporter.vq.done;
                  s[f.evServed] = reporter + 1;
                  return true;
                },
              },
            ],
      };

      /** prdev->report() = virtballoon_free_page_report(): add the sgl, kick, then wait. */
      function report() {
        return {
          name: 'report',
          kernel: 'virtballoon_free_page_report(): virtqueue_add_inbuf(), kick, wait_event()',
          apply: (s: State) => {
            for (let p = 0; p < cfg.pages; p++) if (batched(s, p)) hintRange(m, s, p, 1 << batchOrder(s, p));
            s[at.reporter.vq] = is.reporter.vq.posted;
            s[at.reporter.phase] = P.waiting;
            s[f.evHintBy] = reporter + 1;
            return true;
          },
        };
      }
    },
    expect,
  });
}
