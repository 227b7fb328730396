/**
 * D2: the seed RFC 4/4 "mm: Add merge page notifier" (Alexander Duyck,
 * Feb 2019), on top of RFC 3/4 (D1).
 *
 * D1 hints a block only at the order it is freed with, so memory that
 * reaches the hint order by merging in __free_one_page() slips past it.
 * RFC 4/4 calls arch_merge_page(zone, page, order) right after `order++` in
 * the merge loop, with zone->lock held. __arch_merge_page() acts only on the
 * exact crossing to KVM_PV_UNUSED_PAGE_HINT_MIN_ORDER (here: R): it drops
 * zone->lock, makes the synchronous KVM_HC_UNUSED_PAGE_HINT hypercall for
 * the merged block, and retakes the lock; the merge loop then goes on with
 * the migratetype it was called with. Meanwhile the merged block is in
 * limbo: off every list, no PageBuddy, so no allocator can see it ("This
 * should be safe as the page has not yet been added to the buddy list").
 * Both hooks hang off the pv_free_page_hint_enabled static key, which is off
 * under page poisoning. With poisoning off the guest has never touched its
 * free memory at boot, so the host starts with nothing backed, as for D1.
 *
 * Variants: Aaron Lu's placement after done_merging (hint every final order
 * >= R, no arch_free_page() hook: "any freed page will go through merge
 * anyway"); the hypercall made without dropping the lock; and D2 beside a
 * memory offliner that isolates a pageblock while the merge has the lock
 * dropped (designs.md §4 row 3), with per-pageblock migratetypes and
 * per-list free blocks of its own.
 */
import { defineDesign, type StepSpec, type VcpuStepSpec } from '../../design-api.js';
import { oneHintPerBlock } from './invariants/one-hint-per-block.js';
import { delPageFromFreeList, FREE_HEAD, FREE_TAIL, isFreeHead, LIMBO } from '../../allocator.js';
import { UsageError, type Config } from '../../config.js';
import { HINTED, hintRange, landDiscards } from '../../host.js';
import type { Design, Expectation, Model, State } from '../../types.js';
import { HINTING, HINTING_POISONED, hintReturned, resumeFreeOnePage } from '../../vcpu.js';
import { acquire, lockFree, lockHeldBy, release } from '../../zone-lock.js';

/**
 * A vCPU inside arch_merge_page(), its merged block in limbo: lock still held,
 * lock dropped, hypercall with the host, hypercall returned.
 */
const MERGE_PHASES = ['merge-locked', 'merge-unlocked', 'merge-hinting', 'merge-hinted'] as const;
export type MergePhase = (typeof MERGE_PHASES)[number];
export type MergePhases = { readonly [p in MergePhase]: number };

export interface MergeNotifierVariant {
  /** Where the hook sits: in the merge loop on the crossing to R (RFC 4/4), or after done_merging for every order >= R (Aaron Lu). */
  readonly at: 'merge-loop' | 'done-merging';
  /** arch_merge_page()'s steps; a broken variant replaces them (mutants.ts: the hypercall with zone->lock held). */
  readonly merge?: MergeSteps;
}

/** kvm_guest_init(): pv_free_page_hint_enabled only without page poisoning. */
function hintEnabled(cfg: Config): boolean {
  return cfg.poison === 'off';
}

/** The hint order's decision at a point of __free_one_page(): park the vCPU there, or go on. */
function wantsHint(v: MergeNotifierVariant, cfg: Config, order: number): boolean {
  if (!hintEnabled(cfg)) return false;
  return v.at === 'merge-loop' ? order === cfg.reportOrder : order >= cfg.reportOrder;
}

/** __arch_free_page() (RFC 3/4, kept by RFC 4/4): hint a block freed at order >= R, before poisoning; no lock. */
function archFreePage(m: Model) {
  return (s: State, c: number, head: number, order: number, when: 'before-poison' | 'after-poison'): boolean => {
    if (!hintEnabled(m.cfg) || when !== 'before-poison' || order < m.cfg.reportOrder) return false;
    hintRange(m, s, head, 1 << order);
    s[m.f.evHintBy] = c + 1;
    return true;
  };
}

/** The vCPU's steps inside arch_merge_page(), one list per merge phase; `resume` runs with zone->lock held by the vCPU. */
export type MergeSteps = (m: Model, P: MergePhases, resume: (s: State, c: number) => void) => { readonly [p in MergePhase]: readonly VcpuStepSpec[] };

/** __arch_merge_page(): hand the limbo block to the host and wait in the hypercall (`locked`: the caller holds zone->lock). */
export function kvmHypercall2(m: Model, P: MergePhases, kernel: string, locked: boolean): VcpuStepSpec {
  const f = m.f;
  return {
    name: 'kvm_hypercall2',
    kernel,
    /** __arch_merge_page(): hand the limbo block to the host and wait in the hypercall; no lock (held, in the mutant). */
    apply: (s, c) => {
      if (locked && !lockHeldBy(m, s, c)) return false;
      hintRange(m, s, s[f.vHead + c], 1 << s[f.vOrder + c]);
      s[f.evHintBy] = c + 1;
      s[f.vPhase + c] = P['merge-hinting'];
      return true;
    },
  };
}

/**
 * RFC 4/4's arch_merge_page(): drop the lock, hypercall, retake the lock and
 * resume __free_one_page().
 */
export const archMergePage: MergeSteps = (m, P, resume) => {
  const f = m.f;
  const hypercall = kvmHypercall2(m, P, '__arch_merge_page(): kvm_hypercall2(KVM_HC_UNUSED_PAGE_HINT, page_to_phys(page), PAGE_SIZE << order); no lock', false);
  return {
    'merge-locked': [
      {
        name: 'spin_unlock',
        kernel: '__arch_merge_page(): spin_unlock(&zone->lock), the merged block in limbo; zone->lock held on entry',
        /** __arch_merge_page(), zone->lock held: drop zone lock while processing the hypercall. */
        apply: (s, c) => {
          if (!lockHeldBy(m, s, c)) return false;
          release(m, s);
          s[f.vPhase + c] = P['merge-unlocked'];
          return true;
        },
      },
    ],
    'merge-unlocked': [hypercall],
    'merge-hinting': [],
    'merge-hinted': [
      {
        name: 'spin_lock',
        kernel: '__arch_merge_page(): spin_lock(&zone->lock); __free_one_page() goes on with the migratetype it was called with',
        /** __arch_merge_page(), takes zone->lock: reacquire lock and resume freeing memory. */
        apply: (s, c) => {
          if (!lockFree(m, s)) return false;
          acquire(m, s, c);
          resume(s, c);
          return true;
        },
      },
    ],
  };
};

/** The host side of both hypercalls, one step per vCPU: do_madvise_dontneed() on the range, then return to the guest. */
function hostSteps(m: Model, P: MergePhases): StepSpec[] {
  const f = m.f;
  const out: StepSpec[] = [];
  for (let c = 0; c < m.cfg.cpus; c++) {
    out.push({
      name: 'kvm_hc_unused_page_hint',
      kernel: 'KVM_HC_UNUSED_PAGE_HINT handler: do_madvise_dontneed(), then return to the guest',
      args: [{ vcpu: `vcpu${c}` }],
      /** KVM_HC_UNUSED_PAGE_HINT on the host, no guest lock: discard vCPU c's range, then the vCPU runs on. */
      apply: (s) => {
        const phase = s[f.vPhase + c];
        if (phase !== HINTING && phase !== HINTING_POISONED && phase !== P['merge-hinting']) return false;
        const head = s[f.vHead + c];
        landDiscards(m, s, HINTED, head, head + (1 << s[f.vOrder + c]));
        if (phase === P['merge-hinting']) s[f.vPhase + c] = P['merge-hinted'];
        else hintReturned(m, s, c);
        s[f.evServed] = c + 1;
        return true;
      },
    });
  }
  return out;
}

export interface DesignOptions {
  readonly broken?: string;
  readonly defaults?: Partial<Config>;
  readonly accepts?: Readonly<Record<string, string>>;
}

/** D2 and its placements; with --migratetypes on, beside the core's pageblock isolator. */
const DEFAULTS: Partial<Config> = { cpus: 2, pages: 8, maxOrder: 2, reportOrder: 1 };
const ISOLATION_DEFAULTS: Partial<Config> = { cpus: 2, pages: 4, maxOrder: 1, reportOrder: 1 };

export function mergeNotifierDesign(id: string, title: string, summary: string, v: MergeNotifierVariant, expect: readonly Expectation[], o: DesignOptions = {}): Design {
  return defineDesign({
    id,
    title,
    summary,
    ...(o.broken !== undefined ? { broken: o.broken } : {}),
    ...(o.accepts !== undefined ? { accepts: o.accepts } : {}),
    defaults: { ...DEFAULTS, ...o.defaults },
    // --migratetypes on: the core's pageblock types and isolator (the stale-migratetype race of row 3 is d2-isolation-race's own).
    migratetypes: true,
    actors: {},
    vcpuPhases: MERGE_PHASES,
    invariants: [oneHintPerBlock],
    idle: () => () => true,
    hooks: (k) => {
      const { m, cfg } = k;
      return {
        /** With the static key off nothing asks for a hint: the design's policy under poisoning. */
        asksForHint: () => hintEnabled(cfg),
        ...(v.at === 'merge-loop' ? { archFreePage: archFreePage(m) } : {}),
        /** arch_merge_page() after order++, zone->lock held: act only on the exact crossing to R. */
        ...(v.at === 'merge-loop' ? { mergeStep: (_s: State, _c: number, _head: number, order: number) => (wantsHint(v, cfg, order) ? 'merge-locked' : null) } : {}),
        /** The hook after done_merging, zone->lock held: every final order >= R. */
        ...(v.at === 'done-merging' ? { doneMerging: (_s: State, _c: number, _head: number, order: number) => (wantsHint(v, cfg, order) ? 'merge-locked' : null) } : {}),
      };
    },
    steps: (k) => ({
      host: hostSteps(k.m, k.phase.vcpu),
      vcpu: (v.merge ?? archMergePage)(k.m, k.phase.vcpu, (s, c) => resumeFreeOnePage(k.m, s, c, v.at === 'done-merging')),
    }),
    expect,
  });
}

/** MIGRATE_MOVABLE and MIGRATE_ISOLATE: the two migratetypes the isolation race needs. */
const MT = ['movable', 'isolate'] as const;
const ISOLATE = 1;
/** A free list by migratetype, or none (a page in no free block; a vCPU not parked in the merge). */
const LISTS = ['none', 'movable', 'isolate'] as const;
const NONE = 0;
const MOVABLE_LIST = 1;
const ISOLATE_LIST = 2;
/** The list of a pageblock migratetype. */
const listOf = (mt: number): number => mt + 1;

/**
 * D2 beside a memory offliner (offline_pages()) on one pageblock, the
 * pageblock standing in for pageblock_order = R. Per pageblock a migratetype;
 * per free block the free_list[migratetype] it is on; per vCPU the
 * migratetype its __free_one_page() was called with. An allocation only
 * takes blocks on a MOVABLE list. Run with the largest order = R, so no merge
 * crosses a pageblock and the core merge (which does not look at
 * migratetypes) is the kernel's.
 */
export function isolationRaceDesign(id: string, title: string, summary: string, v: Pick<MergeNotifierVariant, 'merge'>, expect: readonly Expectation[], o: DesignOptions = {}): Design {
  const variant: MergeNotifierVariant = { at: 'merge-loop', ...v };
  return defineDesign({
    id,
    title,
    summary,
    ...(o.broken !== undefined ? { broken: o.broken } : {}),
    ...(o.accepts !== undefined ? { accepts: o.accepts } : {}),
    defaults: { ...ISOLATION_DEFAULTS, ...o.defaults },
    actors: {
      // idle: not started; isolated: start_isolate_page_range() done, offline_pages() waits for
      // every page of the range to be free; checked: test_pages_isolated() passed ("Ok, all of
      // our target is isolated. We cannot do rollback at this point."); offline: the range is gone.
      offliner: ['idle', 'isolated', 'checked', 'offline'],
    },
    vcpuPhases: MERGE_PHASES,
    invariants: [oneHintPerBlock],
    state: (cfg) => {
      if (cfg.maxOrder !== cfg.reportOrder) {
        throw new UsageError(
          `${id}: --max-order ${cfg.maxOrder} differs from --report-order ${cfg.reportOrder}: the offliner's pageblocks are the blocks of order R and the model's merge does not look at migratetypes, so no merge may cross a pageblock; accepted --max-order equal to --report-order`,
        );
      }
      return {
        offliner: { block: { domain: { max: (cfg.pages >> cfg.reportOrder) - 1 }, doc: 'the pageblock offline_pages() works on' } },
        pageblock: { mt: { domain: MT, count: cfg.pages >> cfg.reportOrder, doc: 'get_pageblock_migratetype() of each pageblock' } },
      };
    },
    pages: () => ({
      freelist: { mt: { domain: LISTS, doc: 'the free_list[migratetype] the free block holding this page is on (none off the lists)' } },
    }),
    cpus: () => ({
      merging: { mt: { domain: LISTS, doc: 'the migratetype __free_one_page() was called with, kept across the lock drop (none when not parked)' } },
    }),
    init: (k) => (s) => {
      // The booted zone: every block free on a MOVABLE list.
      for (let p = 0; p < k.cfg.pages; p++) s[k.at.freelist.mt + p] = MOVABLE_LIST;
    },
    idle: () => () => true,
    hooks: (k) => {
      const { m, cfg, at } = k;
      const R = cfg.reportOrder;
      const setList = (s: State, head: number, order: number, mt: number): void => {
        for (let p = head; p < head + (1 << order); p++) s[at.freelist.mt + p] = mt;
      };
      return {
        archFreePage: archFreePage(m),
        /** __offline_isolated_pages() left the offlined pageblock in limbo: the offliner's, not a vCPU's. */
        limboHeld: (s, p) => s[at.offliner.phase] === k.phase.offliner.offline && p >> R === s[at.offliner.block],
        /** arch_merge_page() after order++, zone->lock held: on the crossing to R the vCPU parks with its migratetype cached. */
        mergeStep: (s, c, head, order) => {
          if (!wantsHint(variant, cfg, order)) return null;
          s[at.merging.mt + c] = listOf(s[at.pageblock.mt + (head >> R)]);
          setList(s, head, order, NONE);
          return 'merge-locked';
        },
        /** add_to_free_list(page, zone, order, migratetype): free_one_page() read the pageblock's migratetype under this same lock. */
        freeOnePageDone: (s, head, order) => setList(s, head, order, listOf(s[at.pageblock.mt + (head >> R)])),
        /** __rmqueue_smallest(): the block leaves its list; expand() put the halves on the MOVABLE list it came from. */
        allocated: (s, _c, head, order) => setList(s, head, order, NONE),
        /** __rmqueue_smallest(zone, order, MIGRATE_MOVABLE) looks only at MOVABLE lists; nothing falls back to MIGRATE_ISOLATE. */
        allocatable: (s, head) => s[at.freelist.mt + head] === MOVABLE_LIST,
        /** What an ISOLATE list keeps from the allocator is the offliner's (offline_pages()), not the hint engine's. */
        withheldByEngine: () => false,
      };
    },
    steps: (k) => {
      const { m, cfg, at, phase } = k;
      const f = m.f;
      const R = cfg.reportOrder;
      const size = 1 << R;
      const P = phase.offliner;
      const blocks = cfg.pages >> R;
      const pb = (s: State): number => s[at.offliner.block] * size;

      /** Resume __free_one_page() and add the block to the list of the migratetype cached before the drop. */
      const resume = (s: State, c: number): void => {
        const head = s[f.vHead + c];
        const order = s[f.vOrder + c];
        const mt = s[at.merging.mt + c];
        resumeFreeOnePage(m, s, c, false);
        s[at.merging.mt + c] = NONE;
        for (let o = order; o <= cfg.maxOrder; o++) {
          const h = head & ~((1 << o) - 1);
          if (!isFreeHead(m, s, h, o)) continue;
          for (let p = h; p < h + (1 << o); p++) s[at.freelist.mt + p] = mt;
          break;
        }
      };

      return {
        offliner: {
          idle: [
            {
              name: 'start_isolate_page_range',
              kernel: 'start_isolate_page_range() -> set_migratetype_isolate(): MIGRATE_ISOLATE, move_freepages_block(); zone->lock',
              args: Array.from({ length: blocks }, (_, b) => ({ pageblock: b })),
              /** set_migratetype_isolate(), zone->lock: mark the pageblock ISOLATE and move the free blocks listed in it. */
              apply: (s, args) => {
                if (!lockFree(m, s)) return false;
                const b = Number(args.pageblock);
                s[at.pageblock.mt + b] = ISOLATE;
                s[at.offliner.block] = b;
                // move_freepages_block() moves PageBuddy pages only: a block in merge limbo stays where it is.
                for (let p = b * size; p < (b + 1) * size; p++) if (s[f.owner + p] === FREE_HEAD || s[f.owner + p] === FREE_TAIL) s[at.freelist.mt + p] = ISOLATE_LIST;
                s[at.offliner.phase] = P.isolated;
                return true;
              },
            },
          ],
          isolated: [
            {
              name: 'test_pages_isolated',
              kernel: 'test_pages_isolated() -> __test_page_isolated_in_pageblock(): every page PageBuddy; zone->lock',
              /** test_pages_isolated(), zone->lock: every page of the range is in a free block (which list, it cannot tell). */
              apply: (s) => {
                if (!lockFree(m, s)) return false;
                for (let p = pb(s); p < pb(s) + size; p++) if (s[f.owner + p] !== FREE_HEAD && s[f.owner + p] !== FREE_TAIL) return false;
                s[at.offliner.phase] = P.checked;
                return true;
              },
            },
          ],
          checked: [
            {
              name: 'offline_isolated_pages',
              kernel: '__offline_isolated_pages(): list_del(), nr_free--, SetPageReserved() on the whole range; zone->lock',
              /**
               * __offline_isolated_pages(), zone->lock: take the range, trusting the isolation.
               * The kernel BUG()s on a page that is no longer PageBuddy; the model takes it
               * anyway, so a page allocated meanwhile has two owners.
               */
              apply: (s) => {
                if (!lockFree(m, s)) return false;
                const lo = pb(s);
                for (let p = lo; p < lo + size; p++) if (s[f.owner + p] === FREE_HEAD) delPageFromFreeList(m, s, p, s[f.order + p]);
                // Offlined pages sit on no list and belong to no vCPU: the allocator's limbo.
                for (let p = lo; p < lo + size; p++) {
                  s[f.owner + p] = LIMBO;
                  s[f.order + p] = 0;
                  s[f.reported + p] = 0;
                  s[at.freelist.mt + p] = NONE;
                }
                s[at.offliner.phase] = P.offline;
                return true;
              },
            },
          ],
          offline: [],
        },
        host: hostSteps(m, phase.vcpu),
        vcpu: (variant.merge ?? archMergePage)(m, phase.vcpu, resume),
      };
    },
    expect,
  });
}
