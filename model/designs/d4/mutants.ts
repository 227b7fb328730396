/** D4's broken variants, as parts that replace the upstream allocator hooks (virtio-ring.ts). */
import type { State } from '../../types.js';
import type { VirtioRingOverrides } from './virtio-ring.js';

/** del_page_from_free_list() forgets to clear the hinted flag: it survives allocation and merging. */
export const hintedFlagSurvivesAlloc: VirtioRingOverrides = {
  hooks: (_k, upstream) => ({ keepReportedOffList: true, ...upstream }),
};

/** __free_one_page() keeps the hinted flag of the lowest page on the merged head. */
export const headKeepsHintedFlag: VirtioRingOverrides = {
  hinterState: { keep: { domain: 'bool', doc: 'the merged head had the flag in the merge loop (mutant; 0 between steps)' } },
  hooks: (k, upstream) => {
    const f = k.core;
    const keep = k.at.hinter.keep;
    return {
      keepReportedOffList: true,
      /** __rmqueue_smallest(), zone->lock: the merge mutant still clears the flag on allocation. */
      allocated: (s: State, _cpu: number, head: number) => {
        s[f.reported + head] = 0;
      },
      /** __free_one_page() merge loop, zone->lock: the lowest page's flag is what the merged head will carry. */
      mergeStep: (s: State, _cpu: number, head: number) => {
        s[keep] = s[f.reported + head];
        return null;
      },
      /** __free_one_page() tail, zone->lock held: the merged head never lost the flag its lowest page had. */
      freeOnePageDone: (s, head, order, notify) => {
        if (s[keep]) s[f.reported + head] = 1;
        s[keep] = 0;
        upstream.freeOnePageDone!(s, head, order, notify);
      },
    };
  },
};
