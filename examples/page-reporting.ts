/**
 * A condensed free page reporting engine, written only against hintcheck's
 * public API: the worked example of docs/writing-a-design.md.
 *
 * Like mm/page_reporting.c it is started by a free of order >= R, isolates
 * up to `capacity` unreported free blocks of order >= R under the zone lock,
 * drops the lock, reports them and waits for the host, then retakes the lock,
 * puts the blocks back and marks Reported those that are still free blocks of
 * the order they were reported at. Unlike it, one step walks every order.
 *
 * `BUGGY=1` in the environment marks Reported whatever block a putback
 * ended in, merged or not: the bug the docs walk through.
 */
import { allocator, defineDesign, host, zoneLock, type State } from 'hintcheck';

const buggy = process.env.BUGGY === '1';

export default defineDesign({
  id: buggy ? 'my-reporting-buggy' : 'my-reporting',
  title: buggy ? 'Condensed page reporting, marking merged blocks Reported' : 'Condensed page reporting',
  summary: 'A free of order >= R requests a pass; the pass isolates up to C unreported free blocks of order >= R, reports them with the lock dropped, and marks them Reported once back.',
  defaults: { cpus: 2, pages: 4, maxOrder: 2, reportOrder: 1, capacity: 2 },
  actors: { reporter: ['idle', 'waiting'] },
  state: () => ({
    reporter: { requested: 'bool', vq: ['idle', 'posted', 'done'] },
  }),
  // The batch: which block each page heads in it, by order (none: not in the batch).
  pages: (cfg) => ({
    batch: { entry: ['none', ...Array.from({ length: cfg.maxOrder + 1 }, (_, o) => `order-${o}`)] },
  }),
  init: (k) => (s) => {
    // Register with one pass pending, as page_reporting_register() does.
    s[k.at.reporter.requested] = 1;
  },
  idle: (k) => (s) =>
    s[k.at.reporter.phase] === k.phase.reporter.idle && s[k.at.reporter.requested] === 0 && !host.anyInflight(k.m, s, host.HINTED),
  accepts: {
    'no-double-report': 'a block split by an allocation and merged back is reported whole again, as in D5',
    'no-fake-oom': 'blocks in flight are off the free lists, as in D5',
  },
  hooks: (k) => ({
    /** page_reporting_notify_free(), zone->lock held: a free of order >= R asks for a pass. */
    freeOnePageDone: (s, _head, order, notify) => {
      if (notify && order >= k.cfg.reportOrder) s[k.at.reporter.requested] = 1;
    },
  }),
  steps: (k) => {
    const { m, cfg, at, is } = k;
    const f = k.core;
    const reporter = k.actor.reporter;
    const inBatch = (s: State, p: number): boolean => s[at.batch.entry + p] !== is.batch.entry.none;
    return {
      reporter: {
        idle: [
          {
            name: 'page_reporting_cycle',
            kernel: 'page_reporting_process() + page_reporting_cycle(): isolate unreported blocks, zone->lock',
            apply: (s) => {
              if (!s[at.reporter.requested] || !zoneLock.lockFree(m, s)) return false;
              s[at.reporter.requested] = 0;
              let n = 0;
              for (let order = cfg.reportOrder; order <= cfg.maxOrder; order++) {
                for (let p = 0; p < cfg.pages && n < cfg.capacity; p += 1 << order) {
                  if (!allocator.isFreeHead(m, s, p, order) || s[f.reported + p]) continue;
                  allocator.isolateFreePage(m, s, p);
                  s[at.batch.entry + p] = 1 + order;
                  n++;
                }
              }
              if (n === 0) return true;
              // The lock is taken and dropped inside this step: the report happens without it.
              for (let p = 0; p < cfg.pages; p++) if (inBatch(s, p)) host.hintRange(m, s, p, 1 << (s[at.batch.entry + p] - 1));
              s[f.evHintBy] = reporter + 1;
              s[at.reporter.vq] = is.reporter.vq.posted;
              s[at.reporter.phase] = k.phase.reporter.waiting;
              return true;
            },
          },
        ],
        waiting: [
          {
            name: 'page_reporting_drain',
            kernel: 'page_reporting_drain(): __putback_isolated_page(), __SetPageReported(), zone->lock',
            apply: (s) => {
              if (s[at.reporter.vq] !== is.reporter.vq.done || !zoneLock.lockFree(m, s)) return false;
              for (let p = 0; p < cfg.pages; p++) {
                if (!inBatch(s, p)) continue;
                const order = s[at.batch.entry + p] - 1;
                s[at.batch.entry + p] = is.batch.entry.none;
                const head = allocator.putbackIsolatedPage(m, s, p);
                // Only a block still free at the order it was reported at was reported whole.
                if (buggy) s[f.reported + head] = 1;
                else if (allocator.isFreeHead(m, s, p, order)) s[f.reported + p] = 1;
              }
              s[at.reporter.vq] = is.reporter.vq.idle;
              s[at.reporter.phase] = k.phase.reporter.idle;
              return true;
            },
          },
        ],
      },
      host: [
        {
          name: 'virtio_balloon_handle_report',
          kernel: 'virtio_balloon_handle_report(): ram_block_discard_range(), then push the buffer back',
          apply: (s) => {
            if (s[at.reporter.vq] !== is.reporter.vq.posted) return false;
            host.landDiscards(m, s, host.HINTED);
            s[at.reporter.vq] = is.reporter.vq.done;
            s[f.evServed] = reporter + 1;
            return true;
          },
        },
      ],
    };
  },
  expect: buggy
    ? [{ violates: ['no-missed-hints', 'no-double-report', 'no-fake-oom', 'no-backed-free-blocks'], why: 'A merged block marked Reported hides its unreported half.' }]
    : [{ violates: ['no-double-report', 'no-fake-oom'], why: 'Holds 1-5; accepts double reports and the fake-OOM window, as D5 does.' }],
});
