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
import type { Config } from '../config.js';
import { discardPage, HINTED, hintRange, landDiscards } from '../host.js';
import type { ActionSpec, Design, DesignInstance, Model, State } from '../types.js';
import { HINTING, HINTING_POISONED, hintReturned } from '../vcpu.js';

export interface ArchFreePageVariant {
  /** Hint after kernel_poison_pages(), with the static key on despite poisoning. */
  readonly hintAfterPoison?: boolean;
}

function instantiate(m: Model, v: ArchFreePageVariant): DesignInstance {
  const f = m.f;
  const cfg = m.cfg;
  // kvm_guest_init(): the static key is enabled only without page poisoning.
  const enabled = v.hintAfterPoison || cfg.poison === 'off';
  const when = v.hintAfterPoison ? 'after-poison' : 'before-poison';

  /** kvm_hc_unused_page_hint(): do_madvise_dontneed() on the range, then the hypercall returns. */
  const kvmHcUnusedPageHint = (s: State, c: number): boolean => {
    const phase = s[f.vPhase + c];
    if (phase !== HINTING && phase !== HINTING_POISONED) return false;
    const head = s[f.vHead + c];
    const end = head + (1 << s[f.vOrder + c]);
    landDiscards(m, s, HINTED, head, end);
    hintReturned(m, s, c);
    s[f.evServed] = c + 1;
    return true;
  };

  const actions: ActionSpec[] = [];
  for (let c = 0; c < cfg.cpus; c++) {
    actions.push({
      actor: m.host, name: 'kvm_hc_unused_page_hint',
      kernel: 'KVM_HC_UNUSED_PAGE_HINT handler: do_madvise_dontneed(), then return to the guest',
      args: { vcpu: `vcpu${c}` }, guardAt: -1, guardIs: 0,
      apply: (s) => kvmHcUnusedPageHint(s, c),
    });
  }

  return {
    actions,
    hooks: {
      /** __arch_free_page(): kvm_hypercall2(KVM_HC_UNUSED_PAGE_HINT, phys, PAGE_SIZE << order); no lock. */
      archFreePage: (s, c, head, order, at) => {
        if (!enabled || at !== when || order < cfg.reportOrder) return false;
        hintRange(m, s, head, 1 << order);
        s[f.evHintBy] = c + 1;
        return true;
      },
    },
    init: (s) => {
      // Boot-time frees of the largest blocks went through the same hook.
      if (enabled && cfg.maxOrder >= cfg.reportOrder) for (let p = 0; p < cfg.pages; p++) discardPage(m, s, p);
    },
    idle: () => true,
  };
}

const DEFAULTS: Partial<Config> = { cpus: 2, pages: 8, maxOrder: 2, reportOrder: 2 };

export function archFreePageDesign(
  id: string,
  title: string,
  summary: string,
  v: ArchFreePageVariant,
  expect: Design['expect'],
  broken?: string,
): Design {
  return {
    id, title, summary, defaults: DEFAULTS, actors: [],
    ...(broken !== undefined ? { broken } : {}),
    groups: () => [],
    instantiate: (m) => instantiate(m, v),
    expect,
  };
}
