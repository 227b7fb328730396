/**
 * D3b: Nitesh Narayan Lal's capture-array design after merging (designs.md
 * D3b), "KVM: Guest Free Page Hinting" v9 (Mar 2019).
 *
 * free_one_page() calls guest_free_page_enqueue() after __free_one_page(),
 * zone->lock held: the head of the merged block, if its order is at least
 * FREE_PAGE_HINTING_MIN_ORDER (MAX_ORDER - 1), goes into a per-CPU array
 * (the containing head only if it is not there yet). After the unlock,
 * guest_free_page_try_hinting() runs guest_free_page_hinting() in the
 * freeing task once HINTING_THRESHOLD entries are in: it takes zone->lock,
 * isolates every still-free block of order >= MIN, drops the lock, and posts
 * them (virtqueue_add_outbuf() + kick) without waiting. The host's answer
 * runs hinting_ack() -> release_buddy_pages(), which gives every block back
 * with __free_one_page() *without* zone->lock (designs.md §4 row 6); the fix
 * Alexander Duyck asked for takes the lock there.
 *
 * Model scale: the array holds --capacity entries (HINTING_THRESHOLD = 128
 * of 256, and since a vCPU scans right after the free that reached the
 * threshold, the array never holds more); MIN is --report-order, by default
 * the largest order (MAX_ORDER - 1).
 *
 * Abstractions: blocks go back in ascending page order; no watermark check
 * in __isolate_free_page(), no per-cpu lists (drain_local_pages() has
 * nothing to drain). Boot-time memory was freed before virtio-balloon
 * enabled the static key, so nothing is captured at the start. Several
 * posted requests are answered by one host step.
 */
import { defineDesign, type StepSpec, type VcpuStepSpec } from '../../design-api.js';
import { addToFreeList, delPageFromFreeList, freeOnePage, ISOLATED_HEAD, ISOLATED_TAIL, isFreeHead, isolateFreePage } from '../../allocator.js';
import type { Config } from '../../config.js';
import { HINTED, anyInflight, hintRange, landDiscards } from '../../host.js';
import type { Design, Expectation, State } from '../../types.js';
import { FREE_LOCKED, IDLE } from '../../vcpu.js';
import { acquire, lockFree, lockHeldBy, lockOwner, release } from '../../zone-lock.js';
import { D3AB_ACCEPTS, freeBlockOf } from './capture-common.js';

export interface AsyncReturnVariant {
  /** release_buddy_pages() takes zone->lock around __free_one_page() (Alexander's fix). */
  readonly locked?: boolean;
}

const D3B_DEFAULTS: Partial<Config> = { cpus: 2, pages: 8, maxOrder: 2, reportOrder: 2, capacity: 2 };

function asyncReturnDesign(id: string, title: string, summary: string, v: AsyncReturnVariant, expect: readonly Expectation[], broken?: string): Design {
  // 'batch-hinting', not the core 'hinting' (a vCPU waiting on a synchronous hint): guest_free_page_hinting() isolates the array's blocks.
  const VCPU = ['enqueued', 'batch-hinting', 'report'] as const;
  return defineDesign({
    id,
    title,
    summary,
    ...(broken !== undefined ? { broken } : {}),
    defaults: D3B_DEFAULTS,
    accepts: D3AB_ACCEPTS,
    vcpuPhases: VCPU,
    actors: {
      // hinting_ack(): the virtqueue callback that runs release_buddy_pages() once the host answered.
      // merging: __free_one_page() of `head` at `order`, about to look at the buddy; buddy-free:
      // page_is_buddy() said yes, list_del() to come; add: done merging; corrupt: list_del() of a page
      // that was no longer on the free list (the lists are broken; the model stops the releaser).
      // With the lock (d3b-locked-return) a block goes back in one step and only idle is used.
      hinting_ack: ['idle', 'merging', 'buddy-free', 'add', 'corrupt'],
    },
    state: (cfg) => ({
      hinting_ack: {
        head: { domain: { max: cfg.pages - 1 }, doc: 'the block release_buddy_pages() is merging back (unlocked variant)' },
        order: { domain: { max: cfg.maxOrder }, doc: 'its order so far' },
      },
      freePages: {
        n: {
          domain: { max: cfg.capacity },
          count: cfg.cpus * (cfg.pages >> cfg.reportOrder),
          doc: 'per CPU, per 2^MIN-aligned pfn: how many free_page_arr[] slots hold it',
        },
      },
    }),
    pages: (cfg) => ({
      batch: {
        tag: {
          domain: ['none', 'posted', 'returned', ...Array.from({ length: cfg.cpus }, (_, c) => `local-vcpu${c}`)],
          doc: "on an isolated head: in vCPU N's isolated_pages_obj (local), with the host (posted), or answered and waiting for release_buddy_pages() (returned)",
        },
      },
    }),
    idle: (k) => {
      const { m, at, phase, cfg } = k;
      return (s) => {
        if (s[at.hinting_ack.phase] !== phase.hinting_ack.idle) return false;
        for (let p = 0; p < cfg.pages; p++) if (s[at.batch.tag + p] !== 0) return false;
        return !anyInflight(m, s, HINTED);
      };
    },
    hooks: (k) => {
      const { m, cfg, at, phase } = k;
      const f = m.f;
      const MIN = cfg.reportOrder;
      const slots = cfg.pages >> MIN;
      const nAt = (c: number, b: number): number => at.freePages.n + c * slots + b;
      const total = (s: State, c: number): number => {
        let n = 0;
        for (let b = 0; b < slots; b++) n += s[nAt(c, b)];
        return n;
      };
      return {
        /**
         * guest_free_page_enqueue() from free_one_page(), zone->lock held. The kernel calls it
         * after __free_one_page(); done_merging is the same atomic step and still knows the freed page.
         */
        doneMerging: (s, c, head, order) => {
          if (total(s, c) >= cfg.capacity || order < MIN) return null;
          // PageBuddy(page) with order >= MIN: recorded as is; else the containing head, unless if_exist().
          if (s[f.vHead + c] === head || s[nAt(c, head >> MIN)] === 0) s[nAt(c, head >> MIN)]++;
          return null;
        },
        /**
         * End of __free_one_page() in free_one_page(), zone->lock held by the freeing vCPU: once the
         * threshold is reached, its unlock is followed by guest_free_page_try_hinting(), so it
         * leaves free-locked for the design's own unlock step.
         */
        freeOnePageDone: (s, _head, _order, notify) => {
          const c = lockOwner(m, s);
          if (!notify || c < 0 || c >= cfg.cpus || s[f.vPhase + c] !== FREE_LOCKED) return;
          if (total(s, c) >= cfg.capacity) s[f.vPhase + c] = phase.vcpu.enqueued;
        },
      };
    },
    steps: (k) => {
      const { m, cfg, at, is, phase } = k;
      const f = m.f;
      const MIN = cfg.reportOrder;
      const slots = cfg.pages >> MIN;
      const nAt = (c: number, b: number): number => at.freePages.n + c * slots + b;
      const tagAt = at.batch.tag;
      const TAG = is.batch.tag as Record<string, number>;
      const local = (c: number): number => TAG[`local-vcpu${c}`];
      const ack = k.actor.hinting_ack;
      const A = phase.hinting_ack;

      const vcpu: Record<(typeof VCPU)[number], VcpuStepSpec[]> = {
        enqueued: [
          {
            name: 'spin_unlock',
            kernel: 'free_one_page(): spin_unlock(); guest_free_page_try_hinting(): free_pages_idx >= HINTING_THRESHOLD',
            /** free_one_page(): drop zone->lock; the threshold is reached, so guest_free_page_hinting() runs next. */
            apply: (s, c) => {
              if (!lockHeldBy(m, s, c)) return false;
              release(m, s);
              s[f.vPhase + c] = phase.vcpu['batch-hinting'];
              return true;
            },
          },
        ],
        'batch-hinting': [
          {
            name: 'guest_free_page_hinting',
            kernel: 'guest_free_page_hinting(): zone->lock over the whole array, __isolate_free_page() of blocks of order >= MIN',
            /** guest_free_page_hinting(), zone->lock: isolate every still-free block of order >= MIN the array names; reset the array. */
            apply: (s, c) => {
              if (!lockFree(m, s)) return false;
              acquire(m, s, c);
              let any = false;
              for (let b = 0; b < slots; b++) {
                if (s[nAt(c, b)] === 0) continue;
                s[nAt(c, b)] = 0;
                const pfn = b << MIN;
                for (let p = pfn; p < pfn + (1 << MIN); ) {
                  const h = freeBlockOf(m, s, p);
                  if (h < 0 || s[f.order + h] < MIN) {
                    p++;
                    continue;
                  }
                  const size = 1 << s[f.order + h];
                  isolateFreePage(m, s, h);
                  s[tagAt + h] = local(c);
                  any = true;
                  p = h + size;
                }
              }
              release(m, s);
              s[f.vPhase + c] = any ? phase.vcpu.report : IDLE;
              return true;
            },
          },
        ],
        report: [
          {
            name: 'guest_free_page_report',
            kernel: 'guest_free_page_report() -> virtballoon_page_hinting(): virtqueue_add_outbuf(), kick; no wait, no lock',
            /** guest_free_page_report(), no lock: post the isolated blocks and return; the host answers later. */
            apply: (s, c) => {
              for (let p = 0; p < cfg.pages; p++) {
                if (s[tagAt + p] !== local(c)) continue;
                hintRange(m, s, p, 1 << s[f.order + p]);
                s[tagAt + p] = TAG.posted;
              }
              s[f.evHintBy] = c + 1;
              s[f.vPhase + c] = IDLE;
              return true;
            },
          },
        ],
      };

      const host: StepSpec[] = [
        {
          name: 'hinting_vq_handler',
          kernel: "host's hinting_vq handler: MADV_DONTNEED every posted range, then push the buffer (hinting_ack() runs)",
          /** The host, no guest lock: answer every posted request (discard), and the used buffer raises hinting_ack(). */
          apply: (s) => {
            if (!anyInflight(m, s, HINTED)) return false;
            landDiscards(m, s, HINTED);
            for (let p = 0; p < cfg.pages; p++) if (s[tagAt + p] === TAG.posted) s[tagAt + p] = TAG.returned;
            return true;
          },
        },
      ];

      /** Lowest block whose request was answered, or -1. */
      const nextReturned = (s: State): number => {
        for (let p = 0; p < cfg.pages; p++) if (s[tagAt + p] === TAG.returned && s[f.owner + p] === ISOLATED_HEAD) return p;
        return -1;
      };

      /** The merging block, [head, head + 2^order), held by the releaser: isolated pages off every list. */
      const holdBlock = (s: State, head: number, order: number): void => {
        s[f.owner + head] = ISOLATED_HEAD;
        s[f.order + head] = order;
        for (let p = head + 1; p < head + (1 << order); p++) {
          s[f.owner + p] = ISOLATED_TAIL;
          s[f.order + p] = 0;
        }
      };

      const release_: StepSpec[] = v.locked
        ? [
            {
              name: 'release_buddy_pages',
              kernel: 'release_buddy_pages() with the fix: zone->lock, __free_one_page() of one block, unlock',
              /** release_buddy_pages(), zone->lock taken: one answered block back through __free_one_page(), merging; no enqueue. */
              apply: (s) => {
                const head = nextReturned(s);
                if (head < 0 || !lockFree(m, s)) return false;
                acquire(m, s, ack);
                s[tagAt + head] = TAG.none;
                freeOnePage(m, s, head, s[f.order + head], false);
                release(m, s);
                return true;
              },
            },
          ]
        : [
            {
              name: 'release_buddy_pages',
              kernel: 'release_buddy_pages(): __free_one_page() of the next answered block, no zone->lock',
              /** release_buddy_pages(), no lock: take the next answered block into __free_one_page(). */
              apply: (s) => {
                const head = nextReturned(s);
                if (head < 0) return false;
                s[tagAt + head] = TAG.none;
                s[at.hinting_ack.head] = head;
                s[at.hinting_ack.order] = s[f.order + head];
                s[at.hinting_ack.phase] = A.merging;
                return true;
              },
            },
          ];

      // Without the lock, __free_one_page() is three kinds of steps a vCPU can run between.
      const unlocked: Record<'merging' | 'buddy-free' | 'add', StepSpec[]> = {
        merging: [
          {
            name: 'page_is_buddy',
            kernel: '__free_one_page(): page_is_buddy(buddy, order), no zone->lock',
            /** __free_one_page() merge loop, no lock: is the buddy a free block of the same order? */
            apply: (s) => {
              const head = s[at.hinting_ack.head];
              const order = s[at.hinting_ack.order];
              const free = order < cfg.maxOrder && isFreeHead(m, s, head ^ (1 << order), order);
              s[at.hinting_ack.phase] = free ? A['buddy-free'] : A.add;
              return true;
            },
          },
        ],
        'buddy-free': [
          {
            name: 'list_del_buddy',
            kernel: '__free_one_page(): list_del(&buddy->lru), nr_free--, rmv_page_order(buddy); no zone->lock',
            /** __free_one_page(), no lock: take the buddy off its list as page_is_buddy() saw it, and merge. */
            apply: (s) => {
              const head = s[at.hinting_ack.head];
              const order = s[at.hinting_ack.order];
              const buddy = head ^ (1 << order);
              const merged = Math.min(head, buddy);
              // The buddy may have left the list since page_is_buddy(): then list_del() corrupts the lists
              // and the block swallows pages someone else owns. nr_free is left alone there (the kernel's
              // would wrap); the pages say what went wrong, and the releaser stops.
              const stale = !isFreeHead(m, s, buddy, order);
              if (!stale) delPageFromFreeList(m, s, buddy, order);
              holdBlock(s, merged, order + 1);
              s[at.hinting_ack.head] = merged;
              s[at.hinting_ack.order] = order + 1;
              s[at.hinting_ack.phase] = stale ? A.corrupt : A.merging;
              return true;
            },
          },
        ],
        add: [
          {
            name: 'add_to_free_list',
            kernel: '__free_one_page() done_merging: set_page_order(), list_add(), nr_free++; no zone->lock, no enqueue',
            /** __free_one_page() done_merging, no lock: the merged block goes on its free list. */
            apply: (s) => {
              addToFreeList(m, s, s[at.hinting_ack.head], s[at.hinting_ack.order]);
              s[at.hinting_ack.head] = 0;
              s[at.hinting_ack.order] = 0;
              s[at.hinting_ack.phase] = A.idle;
              return true;
            },
          },
        ],
      };
      const none: Record<'merging' | 'buddy-free' | 'add', StepSpec[]> = { merging: [], 'buddy-free': [], add: [] };

      return { hinting_ack: { idle: release_, ...(v.locked ? none : unlocked), corrupt: [] }, host, vcpu };
    },
    expect,
  });
}

const ROW6_WHY =
  'designs.md §4 row 6 as the doc writes it needs a returned block with a buddy, so MIN sits one order below the top here (v10 later hinted at MAX_ORDER - 2): release_buddy_pages() sees the buddy free without zone->lock, a vCPU holding the lock allocates it, and __free_one_page() list_del()s it anyway: the pages are both merged and allocated. The lock law sees it first (21 steps): the unlocked list change while the vCPU holds zone->lock. 4 pages, the bound designs.md §7 names for this race.';

export const d3bAsyncReturn = asyncReturnDesign(
  'd3b-async-return',
  'Capture after merging, isolate under the lock, report asynchronously, return without the lock (Nitesh v9)',
  'free_one_page() records the head of every merged block of order >= MIN in a per-CPU array; at the threshold the freeing vCPU isolates the blocks it names under zone->lock and posts them without waiting; when the host answers, release_buddy_pages() gives them back with __free_one_page() without taking zone->lock.',
  {},
  [
    {
      violates: ['allocator-conservation', 'no-missed-hints', 'no-backed-free-blocks', 'no-double-report', 'no-fake-oom'],
      why: 'MIN = MAX_ORDER - 1: a returned block has no buddy, so the unlocked __free_one_page() only touches the top-order list (list_add, nr_free++), which the model\'s lists, sets of heads, keep consistent; what breaks is the lock law (lockdep_assert_held(&zone->lock) in account_freepages()): release_buddy_pages() lists the block while a vCPU holds zone->lock in its allocation (19 steps). Row 7: both top-order blocks isolated, an allocation fails. Row 5 (D5 row 24 in kind): a reported block split by an allocation and freed back is captured and hinted whole again.',
    },
    {
      config: { pages: 4, reportOrder: 1 },
      violates: ['allocator-conservation', 'no-missed-hints', 'no-backed-free-blocks', 'no-double-report', 'no-fake-oom'],
      why: ROW6_WHY,
    },
    {
      config: { poison: 'on' },
      violates: ['poison-reads-back', 'allocator-conservation', 'no-missed-hints', 'no-backed-free-blocks', 'no-double-report', 'no-fake-oom'],
      why: 'The unlocked return of the defaults row breaks the lock law here too. v9 4/6 tells the host the poison value but keeps poisoning on; a host that discards anyway (MADV_DONTNEED) hands back zero pages, as in designs.md §4 rows 16 and 23. With every page backed at boot the double report is row 5 proper: a returned block split by an allocation, freed back, captured and hinted whole again.',
    },
  ],
  'allocator-conservation',
);

export const d3bLockedReturn = asyncReturnDesign(
  'd3b-locked-return',
  'D3b with release_buddy_pages() under zone->lock (Alexander Duyck\'s fix)',
  'Nitesh v9 with the fix Alexander Duyck asked for ("you forgot to handle the zone lock"): release_buddy_pages() takes zone->lock around each __free_one_page().',
  { locked: true },
  [
    {
      violates: ['no-missed-hints', 'no-backed-free-blocks', 'no-double-report', 'no-fake-oom'],
      why: 'With the lock the release is one critical section and allocator-conservation holds; rows 5 and 7 remain as in v9.',
    },
    {
      config: { pages: 4, reportOrder: 1 },
      violates: ['no-missed-hints', 'no-backed-free-blocks', 'no-double-report', 'no-fake-oom'],
      why: 'The configuration where the unlocked v9 breaks allocator-conservation (row 6): with zone->lock around __free_one_page() it holds.',
    },
  ],
);

export const D3B_DESIGNS: readonly Design[] = [d3bAsyncReturn, d3bLockedReturn];
