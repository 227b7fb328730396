/** The D4 family's catalogue: MST's ring with and without resync, and its two broken flag rules; bounds, expected verdicts and why. */
import type { Design } from '../../types.js';
import { headKeepsHintedFlag, hintedFlagSurvivesAlloc } from './mutants.js';
import { virtioRingDesign } from './virtio-ring.js';

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
  { resync: true, overrides: headKeepsHintedFlag },
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
  { resync: true, overrides: hintedFlagSurvivesAlloc },
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
