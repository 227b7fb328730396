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
import { defineDesign, type Args, type DesignHooks, type FieldsSpec } from '../../design-api.js';
import { FREE_HEAD, isFreeHead, isolateFreePage, putbackIsolatedPage } from '../../allocator.js';
import type { Config } from '../../config.js';
import { anyInflight, HINTED, hintRange, landDiscards } from '../../host.js';
import type { CoreFields, Design, Expectation, State } from '../../types.js';
import { lockFree } from '../../zone-lock.js';

export interface VirtioRingVariant {
  /** The completion asks for another pass over the free lists (MST's resync). */
  readonly resync: boolean;
  /** A broken variant: the parts it replaces (mutants.ts). */
  readonly overrides?: VirtioRingOverrides;
}

/** What a broken D4 replaces: fields of its own beside the hinter's, and the allocator hooks. */
export interface VirtioRingOverrides {
  readonly hinterState?: FieldsSpec;
  /** The hooks the variant runs, given the kit and the upstream ones. */
  readonly hooks?: (k: { readonly at: { readonly hinter: Readonly<Record<string, number>> }; readonly core: CoreFields }, upstream: DesignHooks<readonly []>) => DesignHooks<readonly []>;
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
        ...(v.overrides?.hinterState ?? {}),
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
      const { cfg, at } = k;
      const upstream: DesignHooks<readonly []> = {
        /** __free_one_page() tail, zone->lock held: a block of order >= R landed, schedule the hint work. */
        freeOnePageDone: (s, _head, order, notify) => {
          if (notify && order >= cfg.reportOrder) s[at.hinter.requested] = 1;
        },
      };
      return v.overrides?.hooks !== undefined ? v.overrides.hooks(k as never, upstream) : upstream;
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
