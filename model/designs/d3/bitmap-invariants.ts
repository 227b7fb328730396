/**
 * D3c/D3d's own invariants: the bitmap's claim that a free block has its
 * bit, the threshold form of I5, and (with a disabling thread) nothing
 * touching the bitmap once it is freed.
 */
import { FREE_HEAD } from '../../allocator.js';
import { BACKED } from '../../host.js';
import type { Invariant, State } from '../../types.js';
import { quiescent } from '../../vcpu.js';
import { backed, bitCount, BITMAP_ACTORS, DISABLED, ENQUEUE, type BitmapOptions } from './bitmap-kit.js';

/** The design's own invariants are not in the project's numbering. */
const OWN = 0;

/**
 * The designs' own claim, "the bits are an indication whether a page might
 * be free": once all is quiet, a free block of order >= MIN that the host
 * still backs has its bit set, so a later pass will look at it. A block
 * whose bit is clear is lost for good: no free elsewhere brings a pass to
 * it, only its own allocation and free. (A set bit with no work queued is a
 * miss until the next free; no-missed-hints catches both.)
 */
export function freeBlocksMarked(v: BitmapOptions): Invariant {
  return {
    id: 'free-blocks-marked',
    number: OWN,
    short: 'marked',
    title: 'When all is quiet, every backed free block of order >= R the bitmap covers has its bit set',
    why: 'The walk only looks at set bits: a free block whose bit is clear is never hinted until it is allocated and freed again.',
    applies: () => true,
    precondition: 'a quiescent state with a free block of order >= R the bitmap covers',
    bind: (m) => {
      const bits = m.layout.at('bitmap', 'bits');
      const nbits = bitCount(v, m.cfg);
      const R = m.cfg.reportOrder;
      const disabler = v.disable ? m.layout.at('disabler', 'phase') : -1;
      // Only while the bitmap is kept: v11 until the disable frees it, v12 until the config is unpublished.
      const kept = v.v12 ? BITMAP_ACTORS.disabler.indexOf('enabled') : BITMAP_ACTORS.disabler.indexOf('cancelled');
      return {
        state: (s) => {
          if (!quiescent(m, s) || (disabler >= 0 && s[disabler] > kept)) return null;
          for (let p = 0; p < nbits << R; p += 1 << R) {
            if (s[m.f.owner + p] !== FREE_HEAD || s[m.f.order + p] < R || s[bits + (p >> R)] || !backed(m, s, p)) continue;
            return `quiescent, yet the free order-${s[m.f.order + p]} block at page ${p} is backed and its bit ${p >> R} is clear`;
          }
          return null;
        },
        // The check's own antecedent: a quiet moment, with the bitmap kept, and a free block of order >= MIN whose bit it reads.
        reached: {
          state: (s) => {
            if (!quiescent(m, s) || (disabler >= 0 && s[disabler] > kept)) return false;
            for (let p = 0; p < nbits << R; p += 1 << R) if (s[m.f.owner + p] === FREE_HEAD && s[m.f.order + p] >= R) return true;
            return false;
          },
        },
      };
    },
  };
}

/**
 * designs.md §7: for a threshold design, I5 reads "unreported < threshold".
 * What a threshold design promises is the obligation form of it: a free of
 * order >= MIN asks for a hint (the ghost obligations.owed, as for
 * no-missed-hints), and the design may sit on fewer than max_pages such
 * requests, since free_pages counts them and a pass starts at max_pages.
 * So once all is quiet, fewer than max_pages free blocks of order >= MIN
 * that a free asked for may still be backed. A block nothing asked for (the
 * half expand() puts back after a split) is not counted: free-blocks-marked
 * and the strict no-backed-free-blocks see that one.
 */
export const unhintedBelowThreshold: Invariant = {
  id: 'unhinted-below-threshold',
  number: OWN,
  short: 'thresh',
  title: 'When all is quiet, fewer than max_pages free blocks of order >= R that a free asked a hint for are still backed',
  why: 'A threshold design may sit on up to max_pages - 1 requests; more than that is work the threshold does not explain.',
  applies: () => true,
  precondition: 'a quiescent state with a free block of order >= R that a free asked a hint for',
  bind: (m) => {
    const R = m.cfg.reportOrder;
    const f = m.f;
    /** Whether a free asked a hint for some page of the block at head that the host still backs. */
    const owedBacked = (s: State, head: number): boolean => {
      for (let q = head; q < head + (1 << s[f.order + head]); q++) if (s[f.owed + q] && s[f.backing + q] === BACKED) return true;
      return false;
    };
    const asked = (s: State, head: number): boolean => s[f.owner + head] === FREE_HEAD && s[f.order + head] >= R && owedBacked(s, head);
    return {
      state: (s) => {
        if (!quiescent(m, s)) return null;
        const heads: number[] = [];
        for (let p = 0; p < m.cfg.pages; p++) if (asked(s, p)) heads.push(p);
        if (heads.length < m.cfg.capacity) return null;
        const n = heads.length;
        return `quiescent, yet ${n} free block${n === 1 ? '' : 's'} of order >= ${R} that frees asked a hint for ${n === 1 ? 'is' : 'are'} still backed (page${n === 1 ? '' : 's'} ${heads.join(', ')}), with max_pages ${m.cfg.capacity}`;
      },
      // The check's own antecedent: a quiet moment with at least one such block it could count.
      reached: {
        state: (s) => {
          if (!quiescent(m, s)) return false;
          for (let p = 0; p < m.cfg.pages; p++) if (asked(s, p)) return true;
          return false;
        },
      },
    };
  },
};

/**
 * Row 13. Once the disabling thread freed the bitmaps, no vCPU is about to
 * write one (it passed the config check before the free), and the work is
 * neither queued nor running (it would walk a freed bitmap with a NULL
 * config). v11 frees with no lock and no RCU; v12 unpublishes the config,
 * waits in synchronize_rcu() for enqueues under rcu_read_lock(), then
 * cancels the work, so the same interleavings find nothing to use.
 */
export const noUseAfterFree: Invariant = {
  id: 'no-use-after-free',
  number: OWN,
  short: 'uaf',
  title: 'Nothing uses the bitmap or the config after the disable freed them',
  why: 'A write into a freed bitmap corrupts whatever the allocator gave that memory to next; a pass run after the disable dereferences a NULL config.',
  applies: () => true,
  precondition: 'the disable freed the bitmap',
  bind: (m) => {
    const disabler = m.layout.at('disabler', 'phase');
    const worker = m.layout.at('worker', 'phase');
    const pending = m.layout.at('worker', 'pending');
    return {
      state: (s) => {
        if (s[disabler] !== DISABLED) return null;
        for (let c = 0; c < m.cfg.cpus; c++) {
          if (s[m.f.vPhase + c] === ENQUEUE) return `vcpu${c} is about to set its bit after the disable freed the bitmap: test_and_set_bit() writes freed memory`;
        }
        if (s[worker] !== 0) return 'the hinting work runs after the disable freed the bitmap it walks';
        if (s[pending]) return 'the hinting work is queued after the disable: it will run with a NULL config and a freed bitmap';
        return null;
      },
      // Nothing can be used after a free that has not happened: the disabling thread must have freed the bitmap.
      reached: { state: (s) => s[disabler] === DISABLED },
    };
  },
};
