/**
 * D6: virtio-balloon VIRTIO_BALLOON_F_FREE_PAGE_HINT (Wei Wang, v37, 2018;
 * Linux drivers/virtio/virtio_balloon.c, QEMU hw/virtio/virtio-balloon.c),
 * for live migration: the guest tells QEMU which pages are free so that the
 * migration thread need not send them.
 *
 * Around every bitmap sync QEMU's precopy notifier stops the current round
 * (BEFORE_BITMAP_SYNC: status STOP) and, while the VM runs, starts a new one
 * under a new command id (AFTER_BITMAP_SYNC: cmd_id++, status REQUESTED),
 * with a config interrupt. The driver's work reads the id and, if it is new,
 * sends it back as an out-buffer (START), then allocates MAX_ORDER-1 blocks
 * one at a time, adding each as an in-buffer and keeping it on its
 * free_page_list, until the allocation fails or the id it reads changes; a
 * STOP out-buffer ends its round. QEMU's iothread pops the buffers in order
 * under free_page_lock: the START id of a REQUESTED round moves the round to
 * START, and while START each in-buffer clears its pages' bits in the
 * migration bitmap. The migration sends marked pages only; KVM's dirty log
 * records every guest write, and the next sync marks the page again. The
 * blocks go back to the buddy allocator when the guest reads DONE (set when
 * the VM stops for the last sync, and at cleanup), through the shrinker at
 * any time, or when the driver is removed.
 *
 * Abstractions: one migration, with SYNC_ROUNDS syncs while the VM runs (so
 * command ids never wrap); the VM's stop, the last sync and the sending of
 * what is left happen in one step (nothing of the guest runs meanwhile,
 * and QEMU blocks the iothread while the VM is stopped); each QEMU step that
 * touches status or cmd_id is one step, which is what free_page_lock buys,
 * so the lock needs no field of its own. The dirty log is KVM's classic one,
 * which a sync collects and clears, unless a variant asks for the manual
 * clear QEMU 4.0+ uses (with a clear_bmap chunk of one page). The ring has a
 * slot for every block of the zone plus two, so that, like QEMU's 1024-entry
 * queue, it fills only when QEMU falls behind. An out-buffer is held by
 * reference, as the driver adds it: START points at the driver's one
 * cmd_id_active, which every send_cmd_id_start() rewrites, and QEMU reads
 * the id when it pops the buffer, so a START still queued when the driver
 * starts the next round is read with the next round's id; STOP points at
 * cmd_id_stop, which never changes. No mutant relies on the id held by
 * value: the stale STARTs of rows 32 and S17 are popped while cmd_id_active
 * still holds their own round's id (the driver has not read a newer one),
 * so their races are the ones they were built for (the by-reference START
 * adds paths to them, not a new meaning); the startByValue option keeps the
 * by-value semantics, as a candidate fix. The iothread may fall any number of
 * steps behind: nothing in QEMU waits for the ring to drain. Balloon
 * inflation and deflation are not modelled, so only hinting raises config
 * interrupts.
 */
import { defineDesign } from '../../design-api.js';
import type { Config } from '../../config.js';
import type { Design, Expectation } from '../../types.js';
import { balloonDriver, driverSteps, type DriverOverrides } from './driver.js';
import { d6AllocatorConservation } from './invariants/allocator-conservation.js';
import { driverReturnsBlocks } from './invariants/driver-returns-blocks.js';
import { migratedPagesCurrent } from './invariants/migrated-pages-current.js';
import { postcopyPagesArrive } from './invariants/postcopy-pages-arrive.js';
import { D6_ACTORS, d6Pages, d6State, type D6Options } from './kit.js';
import { dirtyLog, migrationSteps, migrationThread, type MigrationOverrides } from './migration.js';
import { iothreadSteps, qemuDevice, type QemuOverrides } from './qemu.js';
import { ringAt } from './ring.js';
import { CMD_STOP, dirtyLogging } from './state.js';

/** The named parts a broken variant replaces (mutants.ts), each built from the correct ones. */
export type FreePageHintOverrides = QemuOverrides & DriverOverrides & MigrationOverrides;

/** A D6 variant: the options of a correct design, and the parts a broken one replaces. */
export interface FreePageHintVariant extends D6Options {
  readonly overrides?: FreePageHintOverrides;
}

/** 1 vCPU, 2 pages in one order-1 block (the driver's MAX_ORDER-1 block is the whole zone), as designs.md §7 suggests. */
const DEFAULTS: Partial<Config> = { cpus: 1, pages: 2, maxOrder: 1, reportOrder: 1 };

export function freePageHintDesign(
  id: string,
  title: string,
  summary: string,
  v: FreePageHintVariant,
  expect: readonly Expectation[],
  broken?: string,
  defaults: Partial<Config> = {},
): Design {
  const o = v.overrides ?? {};
  const postcopy = v.postcopy === true;
  return defineDesign({
    id,
    title,
    summary,
    ...(broken !== undefined ? { broken } : {}),
    defaults: { ...DEFAULTS, ...defaults },
    actors: D6_ACTORS,
    state: (cfg) => d6State(cfg, v.startByValue === true),
    pages: (cfg) => d6Pages(cfg, v.manualDirtyLog === true),
    init: (k) => (s) => {
      // virtballoon_probe(): cmd_id_received_cache and cmd_id_active start as STOP; QEMU's status starts at S_STOP.
      s[k.at.balloon.received] = CMD_STOP;
      s[k.at.balloon.active] = CMD_STOP;
    },
    idle: (k) => {
      const { at, phase } = k;
      return (s) =>
        s[at.balloon.phase] === phase.balloon.idle && !s[at.balloon.queued] && !s[at.dev.irq] && s[at.vq.slot] === 0;
    },
    hooks: (k) => ({
      /** A guest write with dirty logging on: KVM marks the page in its dirty log (and the destination's copy is now old). */
      pageWritten: (s, p) => {
        if (!dirtyLogging(k.m, s)) return;
        s[k.at.mig.dlog + p] = 1;
        s[k.at.mig.fresh + p] = 0;
      },
    }),
    steps: (k) => {
      const ring = ringAt(k.at.vq.slot, k.at.balloon.active, k.cfg, v.startByValue === true);
      const qemu = qemuDevice(k, postcopy, o);
      const log = dirtyLog(k, v, o);
      return {
        ...driverSteps(balloonDriver(k, ring, qemu, o), o),
        iothread: iothreadSteps(qemu, ring, log.guestFreePageHint),
        migration: migrationSteps(migrationThread(qemu, log, v), v, o),
      };
    },
    expect,
    accepts: {
      'no-reuse-while-hinting':
        'designs.md D6 and §4 row 34: the shrinker may give back a block whose hint is still in the ring ("We\'re allowed to reuse any free pages, even if they are still to be processed by the host"). Nothing is discarded; the write that follows is in the dirty log, and d6-migrated-pages-current checks that it is sent.',
    },
    skip: {
      'no-missed-hints': 'D6 never gives memory back to the host: a hint only keeps a free page out of the migration stream (d6-driver-returns-blocks is what D6 must not miss).',
      'no-backed-free-blocks': 'D6 never gives memory back to the host (as for no-missed-hints).',
      'no-double-report': 'Nothing is discarded, so the host never stops backing a page; a page hinted twice only has a migration-bitmap bit cleared twice.',
      'no-fake-oom': 'The driver\'s blocks are allocated, not isolated: an allocation that fails here stands for one that enters reclaim, where the balloon shrinker (a step that may run at any time) gives them back.',
      'allocator-conservation': 'Blocks on the driver\'s free_page_list are allocated pages no vCPU holds, which the shared check cannot place; d6-allocator-conservation checks the same laws with the driver as an owner.',
    },
    invariants: [migratedPagesCurrent, driverReturnsBlocks, d6AllocatorConservation, ...(postcopy ? [postcopyPagesArrive] : [])],
  });
}
