/** D2's broken variant, as a part that replaces arch_merge_page()'s steps. */
import type { State } from '../../types.js';
import { lockHeldBy } from '../../zone-lock.js';
import { kvmHypercall2, type MergeSteps } from './merge-notifier.js';

/** arch_merge_page() without the spin_unlock()/spin_lock() around the hypercall: the host is asked, and waited for, with zone->lock held. */
export const archMergePageHoldingLock: MergeSteps = (m, P, resume: (s: State, c: number) => void) => ({
  'merge-locked': [kvmHypercall2(m, P, '__arch_merge_page(): kvm_hypercall2(KVM_HC_UNUSED_PAGE_HINT) with zone->lock held', true)],
  'merge-unlocked': [],
  'merge-hinting': [],
  'merge-hinted': [
    {
      name: '__free_one_page',
      kernel: '__free_one_page(): arch_merge_page() returned, the merge loop goes on; zone->lock held',
      /** __free_one_page(): the hypercall returned, merge on; zone->lock held throughout. */
      apply: (s, c) => {
        if (!lockHeldBy(m, s, c)) return false;
        resume(s, c);
        return true;
      },
    },
  ],
});
