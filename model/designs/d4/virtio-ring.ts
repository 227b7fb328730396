/**
 * D4: MST's proposal in the seed thread ("[RFC PATCH 3/4] kvm: Add guest
 * side support for free memory hints", Feb 2019): a batched virtio ring with
 * asynchronous completion, a "hinted" flag on free pages, and a resync from
 * the free lists. Never merged; it is the bridge from D1 to D5.
 *
 * "Really it seems we want a virtio ring so we can pass a batch of these."
 * A hint work item pulls free blocks of order >= R that are not flagged
 * hinted off the free lists (zone->lock held, one block per lock hold: "Just
 * plain alloc_pages"), while the ring of K slots has room; it posts them and
 * kicks without waiting. The host discards each entry and marks it used. The
 * completion (virtqueue callback, then the work item) retakes zone->lock and
 * puts every used block back without a notify, flagged hinted (PageReported)
 * only where the block is still a free head of its order: the flag is cleared
 * whenever a block leaves a free list, so a merge, split, allocation or
 * isolation drops it. "when you get an interrupt because outstanding hints
 * have been consumed, get unflagged/unhinted pages from buddy and pass them
 * to host": the completion asks for another pass (the resync).
 *
 * When is the work run? On a free that lands a block of order >= R on its
 * list (__free_one_page(), as D5's page_reporting_notify_free(); a merge up
 * to R counts, a split by expand() does not), after every completion (MST's
 * resync), and once at probe. The free is needed because with an empty ring
 * no interrupt will ever come; the resync because a pass never waits for a
 * slot ("no - wait for interrupt"), so a full ring leaves blocks behind that
 * only the completion can go back for; the probe because the free lists start
 * unflagged (with poisoning, every page is backed), as D5's initial flush.
 * A pass pulls until nothing unflagged is left or the ring is full, and its
 * end is checked under zone->lock, so a block freed after it asks again.
 *
 * Abstractions: the order of blocks on a list is free (a pull may take any
 * eligible block); the host consumes posted entries in any order; the
 * interrupt and the work item are one actor ("You get an interrupt, you
 * schedule a wq immediately"), so a completion runs between passes. No
 * watermark gate: MST only asked to "make sure we do not leave
 * less than X% off the free memory" (designs.md §4 row 7).
 */
import { defineDesign, type Args } from '../../design-api.js';
import { FREE_HEAD, isFreeHead, isolateFreePage, putbackIsolatedPage } from '../../allocator.js';
import type { Config } from '../../config.js';
import { anyInflight, HINTED, hintRange, landDiscards } from '../../host.js';
import type { Design, Expectation, State } from '../../types.js';
import { lockFree } from '../../zone-lock.js';

export interface VirtioRingVariant {
  /** The completion asks for another pass over the free lists (MST's resync). */
  readonly resync: boolean;
  /** A vCPU's merge keeps the lower half's hinted flag on the merged head (broken). */
  readonly flagSurvivesMerge?: boolean;
  /** del_page_from_free_list() does not clear the hinted flag (broken). */
  readonly flagSurvivesAlloc?: boolean;
}

/** Every block of order >= R a pull may name. */
function pullArgs(cfg: Config): Args[] {
  const out: Args[] = [];
  for (let order = cfg.reportOrder; order <= cfg.maxOrder; order++) {
    for (let block = 0; block < cfg.pages; block += 1 << order) out.push({ order, block });
  }
  return out;
}

/** Every head a ring entry may have: blocks of order >= R start at multiples of 2^R. */
function entryArgs(cfg: Config): Args[] {
  const out: Args[] = [];
  for (let block = 0; block < cfg.pages; block += 1 << cfg.reportOrder) out.push({ block });
  return out;
}

const DEFAULTS: Partial<Config> = { cpus: 2, pages: 8, maxOrder: 2, reportOrder: 1, capacity: 1 };

/** What the D4 family accepts by design. */
export const D4_ACCEPTS = {
  'no-double-report':
    'The flag lives only on free heads (designs.md D4 flag rule): a hinted block split by an allocation leaves an unflagged remainder, and a hinted block merged with anything is unflagged, so the resync reports memory the host already took back; the probe\'s first pass reports memory a fresh guest never touched.',
  'no-fake-oom':
    'designs.md §4 row 7: pulled blocks are off the free lists until the completion returns them, and MST\'s proposal has no watermark gate ("make sure we do not leave less than X% off the free memory" was only asked for).',
} as const;

export function virtioRingDesign(
  id: string,
  title: string,
  summary: string,
  v: VirtioRingVariant,
  expect: readonly Expectation[],
  broken?: string,
  defaults: Partial<Config> = {},
): Design {
  return defineDesign({
    id,
    title,
    summary,
    accepts: D4_ACCEPTS,
    ...(broken !== undefined ? { broken } : {}),
    defaults: { ...DEFAULTS, ...defaults },
    actors: {
      // idle: no pass running (a completion may run); pulling: a pass is taking unflagged
      // blocks off the free lists; posting: the pass ended with blocks pulled, about to post them.
      hinter: ['idle', 'pulling', 'posting'],
    },
    state: () => ({
      hinter: {
        requested: { domain: 'bool', doc: 'the hint work is scheduled: a free of order >= R, a completion (resync) or the probe asked for a pass' },
        ...(v.flagSurvivesMerge
          ? { keep: { domain: 'bool' as const, doc: 'the merged head had the flag in the merge loop (mutant; 0 between steps)' } }
          : {}),
      },
    }),
    // Named `batch` (the entries the ring carries) so traces show each page's slot, as they show D5's sg entries.
    pages: () => ({
      batch: {
        slot: {
          domain: ['none', 'pulled', 'posted', 'used'],
          doc: 'the ring slot this isolated block holds: pulled (reserved, not yet posted), posted to the host, or used by it (awaiting completion)',
        },
      },
    }),
    init: (k) => (s) => {
      // Probe: every free block starts unflagged, so the first resync is due.
      s[k.at.hinter.requested] = 1;
    },
    idle: (k) => {
      const { m, at, phase, cfg } = k;
      return (s) => {
        if (s[at.hinter.phase] !== phase.hinter.idle || s[at.hinter.requested]) return false;
        for (let p = 0; p < cfg.pages; p++) if (s[at.batch.slot + p]) return false;
        return !anyInflight(m, s, HINTED);
      };
    },
    hooks: (k) => {
      const { cfg, at, core: f } = k;
      const keep = v.flagSurvivesMerge ? (at.hinter as Record<string, number>).keep : -1;
      return {
        ...(v.flagSurvivesAlloc || v.flagSurvivesMerge ? { keepReportedOffList: true } : {}),
        ...(v.flagSurvivesMerge
          ? {
              /** __rmqueue_smallest(), zone->lock: the merge mutant still clears the flag on allocation. */
              allocated: (s: State, _cpu: number, head: number) => {
                s[f.reported + head] = 0;
              },
              /** __free_one_page() merge loop, zone->lock: the lowest page's flag is what the merged head will carry. */
              mergeStep: (s: State, _cpu: number, head: number) => {
                s[keep] = s[f.reported + head];
                return null;
              },
            }
          : {}),
        /** __free_one_page() tail, zone->lock held: a block of order >= R landed, schedule the hint work. */
        freeOnePageDone: (s, head, order, notify) => {
          if (keep >= 0) {
            // The mutant's merged head never lost the flag its lowest page had.
            if (s[keep]) s[f.reported + head] = 1;
            s[keep] = 0;
          }
          if (notify && order >= cfg.reportOrder) s[at.hinter.requested] = 1;
        },
      };
    },
    steps: (k) => {
      const { m, cfg, at, is, phase, core: f } = k;
      const hinter = k.actor.hinter;
      const P = phase.hinter;
      const slot = at.batch.slot;
      const S = is.batch.slot;

      const slotsInUse = (s: State): number => {
        let n = 0;
        for (let p = 0; p < cfg.pages; p++) if (s[slot + p] !== S.none) n++;
        return n;
      };

      /** A free block of order >= R without the hinted flag: what a pass pulls. */
      const eligible = (s: State, head: number): boolean =>
        s[f.owner + head] === FREE_HEAD && s[f.order + head] >= cfg.reportOrder && !s[f.reported + head];

      const anyEligible = (s: State): boolean => {
        for (let p = 0; p < cfg.pages; p++) if (eligible(s, p)) return true;
        return false;
      };

      return {
        hinter: {
          idle: [
            {
              name: 'hint_work',
              kernel: 'MST: "get unflagged/unhinted pages from buddy and pass them to host"; the work starts a pass, as page_reporting_process(); no lock',
              /** "get unflagged/unhinted pages from buddy": the work starts a pass, as page_reporting_process(); no lock. */
              apply: (s) => {
                if (!s[at.hinter.requested]) return false;
                s[at.hinter.requested] = 0;
                s[at.hinter.phase] = P.pulling;
                return true;
              },
            },
            {
              name: 'complete',
              kernel: v.resync
                ? 'virtqueue_get_buf() on the interrupt: __putback_isolated_page() (no notify), __SetPageReported() if the order is unchanged, then resync; zone->lock'
                : 'virtqueue_get_buf() on the interrupt: __putback_isolated_page() (no notify), __SetPageReported() if the order is unchanged; zone->lock',
              /** "when you get an interrupt": __putback_isolated_page() each used block as page_reporting_drain(), flag if its order held; zone->lock. */
              apply: (s) => {
                if (!lockFree(m, s)) return false;
                let used = false;
                for (let p = 0; p < cfg.pages && !used; p++) used = s[slot + p] === S.used;
                if (!used) return false;
                for (let p = 0; p < cfg.pages; p++) {
                  if (s[slot + p] !== S.used) continue;
                  const order = s[f.order + p];
                  s[slot + p] = S.none;
                  putbackIsolatedPage(m, s, p);
                  // A block that merged may be only partially hinted: leave it unflagged.
                  if (isFreeHead(m, s, p, order)) s[f.reported + p] = 1;
                }
                // "when you get an interrupt because outstanding hints have been consumed, get unflagged/unhinted pages from buddy".
                if (v.resync) s[at.hinter.requested] = 1;
                return true;
              },
            },
          ],
          pulling: [
            {
              name: 'pull',
              kernel: '__isolate_free_page() of an unflagged free block of order >= R into a free ring slot ("Just plain alloc_pages"); zone->lock taken and dropped',
              args: pullArgs(cfg),
              pre: (args) => ({ at: f.owner + Number(args.block), is: FREE_HEAD }),
              /** "Just plain alloc_pages": __isolate_free_page() of one unflagged block while a ring slot is free; zone->lock taken and dropped. */
              apply: (s, args) => {
                const head = Number(args.block);
                if (!lockFree(m, s) || !isFreeHead(m, s, head, Number(args.order)) || !eligible(s, head)) return false;
                if (slotsInUse(s) >= cfg.capacity) return false;
                isolateFreePage(m, s, head);
                s[slot + head] = S.pulled;
                return true;
              },
            },
            {
              name: 'pull_done',
              kernel: v.resync
                ? 'end of the pass: nothing unflagged left, or the ring is full ("no - wait for interrupt"); zone->lock taken and dropped'
                : 'end of the pass: nothing unflagged left, or the ring is full ("Host too busy - hinting is just skipped"); zone->lock taken and dropped',
              /** "no - wait for interrupt": the pass ends when nothing unflagged is left or no slot is free; zone->lock taken and dropped. */
              apply: (s) => {
                if (!lockFree(m, s)) return false;
                const n = slotsInUse(s);
                if (n < cfg.capacity && anyEligible(s)) return false;
                // A full ring leaves the rest to the completion's resync (or, skipping, to the next free).
                let pulled = false;
                for (let p = 0; p < cfg.pages && !pulled; p++) pulled = s[slot + p] === S.pulled;
                s[at.hinter.phase] = pulled ? P.posting : P.idle;
                return true;
              },
            },
          ],
          posting: [
            {
              name: 'post',
              kernel: 'virtqueue_add_inbuf() of every pulled block, virtqueue_kick(), no wait_event(); no lock',
              /** "pass a batch of these": virtqueue_add_inbuf() + virtqueue_kick() of the pulled blocks, no wait_event(); no lock. */
              apply: (s) => {
                for (let p = 0; p < cfg.pages; p++) {
                  if (s[slot + p] !== S.pulled) continue;
                  hintRange(m, s, p, 1 << s[f.order + p]);
                  s[slot + p] = S.posted;
                }
                s[f.evHintBy] = hinter + 1;
                s[at.hinter.phase] = P.idle;
                return true;
              },
            },
          ],
        },
        host: [
          {
            name: 'consume',
            kernel: 'host: ram_block_discard_range() of one ring entry, then virtqueue_push() and notify (marked used)',
            args: entryArgs(cfg),
            pre: (args) => ({ at: slot + Number(args.block), is: S.posted }),
            /** Host, as virtio_balloon_handle_report(): discard one posted entry, then mark it used; no guest lock. */
            apply: (s, args) => {
              const head = Number(args.block);
              if (s[slot + head] !== S.posted) return false;
              landDiscards(m, s, HINTED, head, head + (1 << s[f.order + head]));
              s[slot + head] = S.used;
              s[f.evServed] = hinter + 1;
              return true;
            },
          },
        ],
      };
    },
    expect,
  });
}

/** The accepted violations every D4 check shows. */
const ACCEPTED = ['no-double-report', 'no-fake-oom'];

/** The broken variants run at 4 pages (R = 1 stays below the largest order, so a hinted half can merge). */
const SMALL = { pages: 4 } as const;

export const d4VirtioRing = virtioRingDesign(
  'd4-virtio-ring',
  'Batched virtio ring with a hinted flag and resync (MST, seed thread)',
  'A hint work item pulls unflagged free blocks of order >= R off the free lists into a ring of C slots under the zone lock, posts them and kicks without waiting; the host discards each entry and marks it used; the completion puts the blocks back flagged hinted (if still of the same order) and resyncs with another pass. Runs on a free of order >= R, after each completion, and once at probe.',
  { resync: true },
  [
    {
      violates: [...ACCEPTED],
      why: 'designs.md D4 "Intended: I2, I5 via resync, I1": pulled blocks are isolated, posting takes no lock, and a pass that stops at a full ring is followed by the completion\'s resync; a pass ends only when nothing unflagged is left, so unlike D5 (row 25) a split behind it leaves nothing backed. Row 7: a pulled block makes an allocation fail (no watermark gate). A one-slot ring is the smallest K of designs.md D4 (K = 1..2).',
    },
    {
      config: { capacity: 2 },
      violates: [...ACCEPTED],
      why: 'The same with a two-slot ring (designs.md D4: K = 1..2).',
    },
    {
      config: { poison: 'on', host: 'dontneed' },
      violates: ['poison-reads-back', ...ACCEPTED],
      why: 'designs.md D4 Poisoning: the blocks on the free lists are poisoned before they are pulled, so a host that discards with MADV_DONTNEED hands back zero pages and the next allocation check fails (as D5 5.7.0, row 23).',
    },
    {
      config: { poison: 'on', host: 'poison-on-fault' },
      violates: [...ACCEPTED],
      why: 'MST (designs.md D4 Poisoning): "we just need to teach host to poison on fault"; with such a host the poison reads back and the memory still goes back.',
    },
  ],
);

export const d4SkipWhenBusy = virtioRingDesign(
  'd4-skip-when-busy',
  'D4 that skips hints when the ring is full, without a resync',
  'D4 with MST\'s "Host too busy - hinting is just skipped": a pass that finds the ring full leaves the remaining blocks unhinted, and the completion does not ask for another pass; only a later free of order >= R hints them.',
  { resync: false },
  [
    {
      violates: ['no-missed-hints', 'no-backed-free-blocks', ...ACCEPTED],
      why: 'designs.md §4 row 17: a block left behind by a full ring is skipped, and with no resync nothing pulls it again ("potential to end up missing hints for a large portion of memory").',
    },
    {
      config: { poison: 'on', host: 'poison-on-fault' },
      violates: ['no-missed-hints', 'no-backed-free-blocks', ...ACCEPTED],
      why: 'Row 17 at boot: with poisoning every free block is backed, the probe pass fits one of the two order-2 blocks in the ring and skips the other for good.',
    },
  ],
);

export const d4FlagSurvivesMerge = virtioRingDesign(
  'd4-flag-survives-merge',
  'D4 whose merged head keeps the hinted flag (broken)',
  'D4 whose __free_one_page() keeps the hinted flag of the lowest page on the merged head: a hinted block merged with a freshly freed, backed buddy looks hinted as a whole, so no pass ever pulls it.',
  { resync: true, flagSurvivesMerge: true },
  [
    {
      violates: ['no-missed-hints', 'no-backed-free-blocks', ...ACCEPTED],
      why: 'designs.md §4 row 18 (Mel Gorman: "the larger block may only be partially reported"): the merged head keeps the hinted flag of its lower half and hides the unhinted upper half. Runs at 4 pages, within designs.md §7\'s 4-8.',
    },
  ],
  'no-missed-hints',
  SMALL,
);

export const d4FlagSurvivesAlloc = virtioRingDesign(
  'd4-flag-survives-alloc',
  'D4 whose hinted flag survives allocation (broken)',
  'D4 whose del_page_from_free_list() forgets to clear the hinted flag: a hinted block handed out by __rmqueue_smallest() still carries PageReported (PG_uptodate) as an allocated page.',
  { resync: true, flagSurvivesAlloc: true },
  [
    {
      violates: ['allocator-conservation', ...ACCEPTED],
      why: 'designs.md §4 row 18: the flag survives allocation, so PG_uptodate (which PageReported aliases) leaks to an allocated page. Runs at 4 pages, within designs.md §7\'s 4-8.',
    },
  ],
  'allocator-conservation',
  SMALL,
);

export const D4_DESIGNS: readonly Design[] = [d4VirtioRing, d4SkipWhenBusy, d4FlagSurvivesMerge, d4FlagSurvivesAlloc];
