/**
 * D3a: Nitesh Narayan Lal's capture-array design (designs.md D3a), "KVM:
 * Guest Free Page Hinting" v8 (Feb 2019, virt/kvm/page_hinting.c).
 *
 * arch_free_page() -> guest_free_page() records (pfn, order) of every
 * freed block in a per-CPU array kvm_pt[MAX_FGPT_ENTRIES], before the block
 * reaches the buddy and without zone->lock. When the array is full,
 * scan_array() folds entries that now lie inside a bigger free block into
 * that block's head (dropping duplicates) and, if it is still full, wakes the
 * CPU's smpboot thread "hinting/N". hinting_fn() walks every entry's range:
 * per pfn it takes zone->lock, __isolate_free_page()s the free block that
 * holds the pfn (any order) into hypervisor_pagelist, and drops the lock.
 * hyperlist_ready() then hands the list to the host and busy-waits
 * (virtqueue_kick_sync()) until the host has discarded it, gives every block
 * back with free_one_page() (zone->lock), and only then resets kvm_pt_idx:
 * frees on that CPU are not captured meanwhile. Patch 4/7 turns page
 * poisoning off at the first capture, because a discarded page comes back
 * zeroed and fails the 0xaa check.
 *
 * Model scale: the array holds --capacity entries (MAX_FGPT_ENTRIES = 1000).
 *
 * Abstractions: arrays are multisets (the kthread and the scan may take
 * entries in any order, which covers the order they were captured in); the
 * walk of one entry's range is one step under one lock hold (the kernel
 * retakes the lock per pfn); blocks go back in ascending page order; no
 * watermark check in __isolate_free_page(), no per-cpu lists
 * (drain_local_pages() has nothing to drain). Boot-time memory was freed
 * before virtio-balloon enabled the static key, so nothing is captured at
 * the start.
 */
import { defineDesign, type StepSpec } from '../../design-api.js';
import { FREE_HEAD, freeOnePage, ISOLATED_HEAD, isolateFreePage } from '../../allocator.js';
import type { Config } from '../../config.js';
import { HINTED, anyInflight, hintRange, landDiscards } from '../../host.js';
import type { Design, State } from '../../types.js';
import { acquire, lockFree, release } from '../../zone-lock.js';
import { D3AB_ACCEPTS, freeBlockOf } from './capture-common.js';

/** Every aligned (pfn, order) a freed block can have: the entries a v8 array slot can hold. */
function entryList(cfg: Config): { readonly pfn: number; readonly order: number }[] {
  const out: { pfn: number; order: number }[] = [];
  for (let order = 0; order <= cfg.maxOrder; order++) for (let pfn = 0; pfn < cfg.pages; pfn += 1 << order) out.push({ pfn, order });
  return out;
}

function entryIndex(cfg: Config, pfn: number, order: number): number {
  let base = 0;
  for (let o = 0; o < order; o++) base += cfg.pages >> o;
  return base + (pfn >> order);
}

const V8_THREAD = ['idle', 'scanning', 'isolated', 'waiting', 'returning'] as const;

const D3A_DEFAULTS: Partial<Config> = { cpus: 2, pages: 4, maxOrder: 2, reportOrder: 0, capacity: 2 };

export const d3aCaptureArray: Design = defineDesign({
  id: 'd3a-capture-array',
  title: 'Per-CPU capture array in arch_free_page(), kthread isolates, synchronous report (Nitesh v8)',
  summary:
    'arch_free_page() records (pfn, order) of every freed block in a per-CPU array of C entries; when it is full, a per-CPU kthread isolates, pfn by pfn under zone->lock, the free block holding each entry (any order), reports the batch synchronously (the host discards, then returns) and gives every block back with free_one_page(). Page poisoning is turned off at the first capture (v8 4/7); --poison on models the series without 4/7.',
  defaults: D3A_DEFAULTS,
  accepts: D3AB_ACCEPTS,
  actors: {
    // The per-CPU smpboot threads "hinting/N" as one actor: a design's actors are fixed names whatever
    // --cpus is, so each thread keeps its own phase in hinting.thread[cpu] and every step names its cpu.
    // The threads share only zone->lock (taken and dropped within a step) and the host, so every
    // interleaving of them is still explored; only the trace label is shared.
    hinting: ['running'],
  },
  state: (cfg) => ({
    hinting: {
      thread: {
        domain: V8_THREAD,
        count: cfg.cpus,
        doc: 'per CPU: idle (kvm_pt_idx < MAX); scanning (array full, hinting_fn() walking it); isolated (walk done, hypervisor_pagelist filled); waiting (virtqueue_kick_sync() spinning); returning (free_one_page() of the list)',
      },
    },
    kvmPt: {
      n: {
        domain: { max: cfg.capacity },
        count: cfg.cpus * entryList(cfg).length,
        doc: 'per CPU, per aligned (pfn, order): how many kvm_pt[] slots hold it',
      },
    },
  }),
  pages: (cfg) => ({
    hyper: {
      cpu: {
        domain: ['none', ...Array.from({ length: cfg.cpus }, (_, c) => `cpu${c}`)],
        doc: 'on an isolated head: whose hypervisor_pagelist holds the block',
      },
    },
  }),
  idle: (k) => {
    const { m, at, is, cfg } = k;
    return (s) => {
      for (let c = 0; c < cfg.cpus; c++) if (s[at.hinting.thread + c] !== is.hinting.thread.idle) return false;
      return !anyInflight(m, s, HINTED);
    };
  },
  hooks: (k) => {
    const { m, cfg, at, is } = k;
    const f = m.f;
    const E = entryList(cfg);
    const nAt = (c: number, e: number): number => at.kvmPt.n + c * E.length + e;
    const total = (s: State, c: number): number => {
      let n = 0;
      for (let e = 0; e < E.length; e++) n += s[nAt(c, e)];
      return n;
    };
    const listed = (s: State, c: number, pfn: number): boolean => {
      for (let e = 0; e < E.length; e++) if (E[e].pfn === pfn && s[nAt(c, e)] > 0) return true;
      return false;
    };
    return {
      /** guest_free_page() from arch_free_page(), no lock (irqs off): capture; when full, scan_array() and wake the kthread. */
      archFreePage: (s, c, head, order, when) => {
        if (when !== 'before-poison' || s[at.hinting.thread + c] !== is.hinting.thread.idle) return false;
        s[nAt(c, entryIndex(cfg, head, order))]++;
        if (total(s, c) < cfg.capacity) return false;
        // scan_array(): an entry that is no longer PageBuddy but lies in a free block becomes that block's head, once.
        for (let e = 0; e < E.length; e++) {
          const { pfn } = E[e];
          if (s[nAt(c, e)] === 0 || s[f.owner + pfn] === FREE_HEAD) continue;
          const h = freeBlockOf(m, s, pfn);
          if (h < 0) continue;
          s[nAt(c, e)] = 0;
          if (!listed(s, c, h)) s[nAt(c, entryIndex(cfg, h, s[f.order + h]))]++;
        }
        // pack_array(), then wake_up_process() only if the array is still full.
        if (total(s, c) === cfg.capacity) s[at.hinting.thread + c] = is.hinting.thread.scanning;
        return false;
      },
    };
  },
  steps: (k) => {
    const { m, cfg, at, is } = k;
    const f = m.f;
    const E = entryList(cfg);
    const hinting = k.actor.hinting;
    const T = is.hinting.thread;
    const nAt = (c: number, e: number): number => at.kvmPt.n + c * E.length + e;
    const tagAt = at.hyper.cpu;
    const isMine = (s: State, c: number, p: number): boolean => s[f.owner + p] === ISOLATED_HEAD && s[tagAt + p] === c + 1;

    const walk: StepSpec[] = [];
    for (let c = 0; c < cfg.cpus; c++) {
      E.forEach(({ pfn, order }, e) => {
        walk.push({
          name: 'hinting_fn',
          kernel: 'hinting_fn(): one kvm_pt[] entry; zone->lock per pfn, __isolate_free_page() of the free block holding it',
          args: [{ cpu: c, pfn, order }],
          pre: () => ({ at: at.hinting.thread + c, is: T.scanning }),
          /** hinting_fn(), one captured entry, zone->lock: isolate every free block its range touches, whatever its order. */
          apply: (s) => {
            if (s[at.hinting.thread + c] !== T.scanning || s[nAt(c, e)] === 0 || !lockFree(m, s)) return false;
            acquire(m, s, hinting);
            // PageBuddy: isolate it; inside a free block: isolate its head (get_buddy_page()); in use: skip the pfn.
            for (let p = pfn; p < pfn + (1 << order); ) {
              const h = freeBlockOf(m, s, p);
              if (h < 0) {
                p++;
                continue;
              }
              const size = 1 << s[f.order + h];
              isolateFreePage(m, s, h);
              s[tagAt + h] = c + 1;
              p = h + size;
            }
            release(m, s);
            s[nAt(c, e)]--;
            for (let x = 0; x < E.length; x++) if (s[nAt(c, x)] !== 0) return true;
            let any = false;
            for (let p = 0; p < cfg.pages; p++) if (isMine(s, c, p)) any = true;
            // hyp_idx == 0: nothing to report, kvm_pt_idx = 0 and captures resume.
            s[at.hinting.thread + c] = any ? T.isolated : T.idle;
            return true;
          },
        });
      });
    }

    const report: StepSpec[] = [];
    const returns: StepSpec[] = [];
    const host: StepSpec[] = [];
    for (let c = 0; c < cfg.cpus; c++) {
      report.push({
        name: 'hyperlist_ready',
        kernel: 'hyperlist_ready() -> virtballoon_page_hinting(): virtqueue_add_desc(), virtqueue_kick_sync(); no lock',
        args: [{ cpu: c }],
        pre: () => ({ at: at.hinting.thread + c, is: T.isolated }),
        /** hyperlist_ready(), no lock: hand hypervisor_pagelist to the host and spin until it is used. */
        apply: (s) => {
          if (s[at.hinting.thread + c] !== T.isolated) return false;
          for (let p = 0; p < cfg.pages; p++) if (isMine(s, c, p)) hintRange(m, s, p, 1 << s[f.order + p]);
          s[at.hinting.thread + c] = T.waiting;
          s[f.evHintBy] = hinting + 1;
          return true;
        },
      });
      returns.push({
        name: 'free_one_page',
        kernel: 'hyperlist_ready(): free_one_page() of one isolated block, zone->lock',
        args: [{ cpu: c }],
        pre: () => ({ at: at.hinting.thread + c, is: T.returning }),
        /** hyperlist_ready(), zone->lock: the lowest block of the list back through __free_one_page(), merging. */
        apply: (s) => {
          if (s[at.hinting.thread + c] !== T.returning || !lockFree(m, s)) return false;
          let head = -1;
          for (let p = 0; p < cfg.pages && head < 0; p++) if (isMine(s, c, p)) head = p;
          if (head < 0) return false;
          acquire(m, s, hinting);
          s[tagAt + head] = 0;
          freeOnePage(m, s, head, s[f.order + head], true);
          release(m, s);
          for (let p = 0; p < cfg.pages; p++) if (isMine(s, c, p)) return true;
          // hyp_idx = 0, kvm_pt_idx = 0: the CPU captures again.
          s[at.hinting.thread + c] = T.idle;
          return true;
        },
      });
      host.push({
        name: 'hinting_vq_handler',
        kernel: "host's hinting_vq handler: MADV_DONTNEED every range, then mark the descriptor used",
        args: [{ cpu: c }],
        pre: () => ({ at: at.hinting.thread + c, is: T.waiting }),
        /** The host side of virtqueue_kick_sync(), no guest lock: discard cpu c's list, then the guest's spin ends. */
        apply: (s) => {
          if (s[at.hinting.thread + c] !== T.waiting) return false;
          for (let p = 0; p < cfg.pages; p++) if (isMine(s, c, p)) landDiscards(m, s, HINTED, p, p + (1 << s[f.order + p]));
          s[at.hinting.thread + c] = T.returning;
          s[f.evServed] = hinting + 1;
          return true;
        },
      });
    }
    return { hinting: { running: [...walk, ...report, ...returns] }, host };
  },
  expect: [
    {
      violates: ['no-missed-hints', 'no-backed-free-blocks', 'no-double-report', 'no-fake-oom'],
      why: 'designs.md §4 row 7: while the kthread holds its isolated list (through the synchronous report and until free_one_page()), an allocation can fail with the memory only in flight. Row 5: a block given back by free_one_page() merges with a freed neighbour and the whole block is isolated and hinted again; the first report also covers memory the host never backed. no-missed-hints: accepted, a threshold design.',
    },
    {
      config: { poison: 'on', capacity: 1 },
      violates: ['poison-reads-back', 'no-missed-hints', 'no-backed-free-blocks', 'no-double-report', 'no-fake-oom'],
      why: 'designs.md §4 row 16: the series without 4/7 keeps poisoning on; a poisoned block is discarded, free_one_page() gives it back without poisoning it again, and the next allocation reads zero where it expects 0xaa. With every page backed at boot, the double report is row 5 proper: a block one CPU reported and returned is isolated and hinted again for another CPU\'s capture. An array of 1 entry, below the batch of 2 that designs.md §0 uses: at 2 this row alone takes 8 s.',
      smaller: 'a capture array of 1 entry, below the batch of 2 of designs.md §0: at 2 this row alone takes 8 s',
    },
  ],
});

export const D3A_DESIGNS: readonly Design[] = [d3aCaptureArray];
