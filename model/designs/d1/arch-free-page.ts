/**
 * D1: the seed RFC 3/4 ("kvm: Add guest side support for free memory
 * hints", Alexander Duyck, Feb 2019). arch_free_page() runs at the top of
 * free_pages_prepare(), before kernel_poison_pages() and before the zone
 * lock is taken; for a block of order >= KVM_PV_UNUSED_PAGE_HINT_MIN_ORDER
 * it makes the KVM_HC_UNUSED_PAGE_HINT hypercall, and the vCPU stays in the
 * host until do_madvise_dontneed() has run on the range. The static key is
 * only enabled when page poisoning is off, "because a write to the page after
 * doing an MADV_DONTNEED would effectively negate the hint".
 *
 * Only the order the block is freed with counts: a block that reaches the
 * hint order by merging in __free_one_page() is never hinted (the reason for
 * RFC 4/4). Boot-time frees of the largest blocks go through the same path,
 * so the host starts with nothing backed when poisoning is off.
 */
import { defineDesign, type StepSpec } from '../../design-api.js';
import type { Config } from '../../config.js';
import { discardPage, HINTED, hintRange, landDiscards } from '../../host.js';
import type { Design, Expectation } from '../../types.js';
import { HINTING, HINTING_POISONED, hintReturned } from '../../vcpu.js';

export interface ArchFreePageVariant {
  /** Hint after kernel_poison_pages(), with the static key on despite poisoning. */
  readonly hintAfterPoison?: boolean;
}

const DEFAULTS: Partial<Config> = { cpus: 2, pages: 8, maxOrder: 2, reportOrder: 2 };

export function archFreePageDesign(
  id: string,
  title: string,
  summary: string,
  v: ArchFreePageVariant,
  expect: readonly Expectation[],
  broken?: string,
  accepts?: Readonly<Record<string, string>>,
): Design {
  // kvm_guest_init(): the static key is enabled only without page poisoning.
  const enabled = (cfg: Config): boolean => Boolean(v.hintAfterPoison) || cfg.poison === 'off';
  const when = v.hintAfterPoison ? 'after-poison' : 'before-poison';
  return defineDesign({
    id,
    title,
    summary,
    ...(broken !== undefined ? { broken } : {}),
    ...(accepts !== undefined ? { accepts } : {}),
    defaults: DEFAULTS,
    // Nothing but the vCPUs' own rows and the lock names a vCPU.
    symmetricCpus: true,
    actors: {},
    init: (k) => (s) => {
      // Boot-time frees of the largest blocks went through the same hook.
      if (enabled(k.cfg) && k.cfg.maxOrder >= k.cfg.reportOrder) for (let p = 0; p < k.cfg.pages; p++) discardPage(k.m, s, p);
    },
    idle: () => () => true,
    hooks: (k) => ({
      /** With the static key off nothing asks for a hint: the design's policy under poisoning. */
      asksForHint: () => enabled(k.cfg),
      /** __arch_free_page(): kvm_hypercall2(KVM_HC_UNUSED_PAGE_HINT, phys, PAGE_SIZE << order); no lock. */
      archFreePage: (s, c, head, order, at) => {
        if (!enabled(k.cfg) || at !== when || order < k.cfg.reportOrder) return false;
        hintRange(k.m, s, head, 1 << order);
        s[k.core.evHintBy] = c + 1;
        return true;
      },
    }),
    steps: (k) => {
      const { m, core: f } = k;
      const host: StepSpec[] = [];
      for (let c = 0; c < k.cfg.cpus; c++) {
        host.push({
          name: 'kvm_hc_unused_page_hint',
          kernel: 'KVM_HC_UNUSED_PAGE_HINT handler: do_madvise_dontneed(), then return to the guest',
          args: [{ vcpu: `vcpu${c}` }],
          /** The hypercall's host side: discard the range of vCPU c's hint, then the vCPU runs on. */
          apply: (s) => {
            const phase = s[f.vPhase + c];
            if (phase !== HINTING && phase !== HINTING_POISONED) return false;
            const head = s[f.vHead + c];
            landDiscards(m, s, HINTED, head, head + (1 << s[f.vOrder + c]));
            hintReturned(m, s, c);
            s[f.evServed] = c + 1;
            return true;
          },
        });
      }
      return { host };
    },
    expect,
  });
}

export const d1ArchFreePage = archFreePageDesign(
  'd1-arch-free-page',
  'Synchronous hypercall from arch_free_page() (seed RFC 3/4)',
  'A freed block of order >= R is hinted with a synchronous KVM hypercall from arch_free_page(), before poisoning and without the zone lock; the host discards it with MADV_DONTNEED before the vCPU continues. Disabled when page poisoning is on.',
  {},
  [
    {
      violates: ['no-missed-hints', 'no-backed-free-blocks'],
      why: 'designs.md §4 row 1: a block that reaches order R only by merging in __free_one_page() is never hinted (the reason RFC 4/4 exists).',
    },
    {
      config: { poison: 'on' },
      violates: ['no-backed-free-blocks'],
      why: 'kvm_guest_init() leaves the static key off under poisoning, so nothing is ever hinted and nothing asks for a hint: no-missed-hints holds, and the strict form shows the booted guest keeping all its poisoned memory backed. The poison itself always reads back.',
    },
  ],
  undefined,
  {
    'no-backed-free-blocks':
      'The seed RFC hints the block arch_free_page() frees, nothing else: the halves expand() puts back and, under poisoning (static key off), all free memory stay with the host.',
  },
);

export const d1HintAfterPoison = archFreePageDesign(
  'd1-hint-after-poison',
  'D1 with the hint after kernel_poison_pages() (broken)',
  'D1 with the static key on despite page poisoning and the hypercall moved after kernel_poison_pages(): the host discards pages that hold the poison, so the next allocation check reads zero.',
  { hintAfterPoison: true },
  [
    {
      config: { poison: 'on' },
      violates: ['poison-reads-back', 'no-missed-hints', 'no-backed-free-blocks'],
      why: 'MADV_DONTNEED drops the poison written just before the hint; the check in prep_new_page() reads zero (seed thread, MST/Alexander on poisoning after the hint). Merged blocks stay unhinted as in D1.',
    },
    {
      config: { poison: 'on', host: 'poison-on-fault' },
      violates: ['no-missed-hints', 'no-backed-free-blocks'],
      why: 'A host that fills faulted pages with the poison value keeps the poison; only the D1 merge gap remains.',
    },
  ],
  'poison-reads-back',
);

export const D1_DESIGNS: readonly Design[] = [d1ArchFreePage, d1HintAfterPoison];
