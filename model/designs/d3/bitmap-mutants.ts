/**
 * D3c/D3d's broken variants, each a named part of bitmap.ts's design
 * replaced by the code of the version that had the bug. An object here is
 * a variant's `overrides`.
 */
import type { Config } from '../../config.js';
import { ISOLATED_HEAD } from '../../allocator.js';
import { hintRange } from '../../host.js';
import type { State } from '../../types.js';
import type { BitmapOverrides } from './bitmap.js';

/** Row 12's explanation: v11's hint_pages() fills a max_pages array that is never cleared between batches, and QEMU reads it up to the first gpa 0. */
export const staleHintArray: BitmapOverrides = {
  report: {
    // The array's entries live in the guest between batches (read through the layout, not the kit).
    state: (cfg: Config) => ({
      hintArray: {
        head: { domain: { max: cfg.pages }, count: cfg.capacity, doc: 'isolated_pages[i].phys_addr as page + 1; 0: never written (QEMU stops at gpa 0)' },
        order: { domain: { max: cfg.maxOrder }, count: cfg.capacity, doc: 'isolated_pages[i].size as an order' },
      },
    }),
    /** hint_pages() over isolated_pages[], then page_hinting_report() with all max_pages entries; no lock. */
    post: (w) => {
      const { m, cfg } = w.k;
      const f = m.f;
      const slots = m.layout.at('hintArray', 'head');
      const slotOrders = m.layout.at('hintArray', 'order');
      return (s: State) => {
        // hint_pages() writes isolated_pages[0..idx); page_hinting_report() hands QEMU all
        // max_pages entries, and QEMU discards every entry up to the first gpa == 0.
        let i = 0;
        for (let p = 0; p < cfg.pages; p++) {
          if (s[f.owner + p] !== ISOLATED_HEAD) continue;
          s[slots + i] = p + 1;
          s[slotOrders + i] = s[f.order + p];
          i++;
        }
        for (let j = 0; j < cfg.capacity && s[slots + j] !== 0; j++) hintRange(m, s, s[slots + j] - 1, 1 << s[slotOrders + j]);
      };
    },
  },
};
