/**
 * 4. allocator-conservation.
 *
 * The buddy allocator's own laws: every base page is in exactly one place
 * (allocated to exactly one vCPU, in exactly one free block on exactly one
 * list, isolated by the hint engine, or in merge limbo), free blocks are
 * aligned heads followed by their tail pages, PageReported sits only on free
 * heads, free_area[order].nr_free counts the blocks on each list, and,
 * outside zone->lock, no free block has a free buddy of its order (every
 * free merges as far as it can). A hint
 * engine takes pages off the lists and puts them back behind the
 * allocator's back; a slip there loses memory or hands one page out twice.
 */
import { conservation } from '../model/allocator-laws.js';
import { FREE_HEAD, FREE_TAIL } from '../model/allocator.js';
import type { Invariant, State } from '../model/types.js';


export const allocatorConservation: Invariant = {
  id: 'allocator-conservation',
  number: 4,
  short: '4 alloc',
  title: 'The buddy allocator\'s laws: every page in exactly one place, counts agree with the lists, free buddies merged',
  why: 'A hint engine moves pages off and back onto the free lists; a slip loses memory, gives one page to two owners, or leaves memory split for good.',
  applies: () => true,
  precondition: 'a block off the free lists',
  bind: (m) => {
    const f = m.f;
    const n = m.cfg.pages;
    const cover = new Uint8Array(n);
    const listed = new Int32Array(m.cfg.maxOrder + 1);
    // Bytes of the free lists' state: the pages' owner, order and PageReported, and nr_free.
    const spans: [number, number][] = [[f.owner, n], [f.order, n], [f.reported, n], [f.nrFree, m.cfg.maxOrder + 1]];
    const changesLists = (a: State, b: State): boolean => {
      for (const [at, len] of spans) for (let i = at; i < at + len; i++) if (a[i] !== b[i]) return true;
      return false;
    };
    return {
      state: (s) => conservation(m, s, cover, listed),
      /**
       * account_freepages() and __putback_isolated_page(): lockdep_assert_held(&zone->lock). A step
       * that changes the free lists runs with zone->lock free or held by its own actor, before and
       * after: never while another actor holds it.
       */
      edge: (before, after, action) => {
        if (f.evBadFree >= 0 && after[f.evBadFree] !== 0) return `page ${after[f.evBadFree] - 1} entered __free_one_page() still flagged Reported`;
        if (f.owner < 0 || !changesLists(before, after)) return null;
        const own = action.actor + 1;
        for (const s of [before, after]) {
          const holder = s[f.lock];
          if (holder !== 0 && holder !== own) return `${m.actors[action.actor]} changed the free lists while ${m.actors[holder - 1]} held zone->lock`;
        }
        return null;
      },
      // The merge law holds outside zone->lock: the lock is read too, so the check is not cached per allocator segment;
      // a design's limboHeld hook reads groups of its own.
      ...(m.hooks.limboHeld === undefined ? { reads: ['pages', 'freeArea', 'vcpus', 'zone', ...(f.pbMt >= 0 ? ['pageblocks'] : [])] } : {}),
      // Boot puts every page in a free block, where the laws hold by construction: a page can only be lost or handed out twice once some block has left the lists (allocated, isolated, or parked mid-merge).
      reached: {
        state: (s) => {
          for (let p = 0; p < n; p++) {
            const owner = s[f.owner + p];
            if (owner !== FREE_HEAD && owner !== FREE_TAIL) return true;
          }
          return false;
        },
      },
    };
  },
};
