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
import { defineDesign, type StepSpec } from '../../design-api.js';
import { d6AllocatorConservation } from './invariants/allocator-conservation.js';
import { driverReturnsBlocks } from './invariants/driver-returns-blocks.js';
import { migratedPagesCurrent } from './invariants/migrated-pages-current.js';
import { postcopyPagesArrive } from './invariants/postcopy-pages-arrive.js';
import { freeOnePage, isFreeHead, rmqueue, smallestFreeOrder } from '../../allocator.js';
import type { Config } from '../../config.js';
import { BACKED, CONTENTS, contentAfterFree, guestRead, guestWrite, HINTED, NOT_INFLIGHT, STALE, UNBACKED, ZERO } from '../../host.js';
import type { Design, Expectation, State } from '../../types.js';
import { IN_USE } from '../../vcpu.js';
import { acquire, lockFree, release } from '../../zone-lock.js';
import {
  BALLOON_PHASES, CMD_DONE, CMD_IDS, CMD_STOP, cmdIdOf, dirtyLogging, MIGRATION_PHASES, STATUS, SYNC_ROUNDS,
} from './state.js';

export interface FreePageHintVariant {
  /** §4 row 30, before dd8eeb9671fc: PRECOPY_NOTIFY_CLEANUP (and COMPLETE) only stop hinting; a cancelled migration never says DONE. */
  readonly noDoneOnCancel?: boolean;
  /** §4 row 32, before 1a83e0b9c4: free_page_start() updates cmd_id and status without free_page_lock, so the iothread may see either store first. */
  readonly startUnlocked?: boolean;
  /** Before 20a4da0f2307: the iothread starts a round on any out-buffer carrying the current cmd_id, whatever the status. */
  readonly startWithoutRequest?: boolean;
  /** §4 row 33, before 6c22dc61c76b: remove_common() does not return_free_pages_to_mm(). */
  readonly unloadLeaks?: boolean;
  /** §4 row 35: a guest that gives a block back without re-initialising it (no free_pages_prepare()). */
  readonly noReinitOnReturn?: boolean;
  /**
   * §4 row 36: the migration may switch to postcopy. 'guarded' is QEMU as it
   * is (the notifier does nothing when postcopy-ram is on); 'unguarded' hints
   * as under precopy.
   */
  readonly postcopy?: 'guarded' | 'unguarded';
  /** Syncs while the VM runs, 1 or SYNC_ROUNDS (the default): a race that needs no second round is checked with one. */
  readonly rounds?: number;
  /**
   * KVM's dirty log with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 and
   * KVM_DIRTY_LOG_INITIALLY_SET, as QEMU 4.0+ uses it: a sync reports the
   * dirty bits without clearing them; QEMU clears a page's bit (and KVM
   * write-protects it) just before sending it. The clear_bmap chunk is one page.
   */
  readonly manualDirtyLog?: boolean;
  /** QEMU 6.1+ (3143577d6a3f): a hint also clears the hinted pages' dirty bits, as a send would (with manualDirtyLog). */
  readonly clearLogOnHint?: boolean;
  /**
   * A driver whose every START carries its id by value (its own buffer, the
   * id copied when it is added), so that a later round cannot rewrite it: a
   * candidate fix, and the semantics the model had before it followed
   * send_cmd_id_start()'s &vb->cmd_id_active. No built-in design uses it.
   */
  readonly startByValue?: boolean;
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
  const notifier = v.postcopy !== 'guarded';
  const rounds = v.rounds ?? SYNC_ROUNDS;
  return defineDesign({
    id,
    title,
    summary,
    ...(broken !== undefined ? { broken } : {}),
    defaults: { ...DEFAULTS, ...defaults },
    actors: {
      balloon: BALLOON_PHASES,
      shrinker: ['idle'],
      iothread: ['idle'],
      migration: MIGRATION_PHASES,
    },
    state: (cfg) => ({
      dev: {
        status: { domain: STATUS, doc: 'QEMU free_page_hint_status (under free_page_lock)' },
        cmdId: { domain: { max: SYNC_ROUNDS }, doc: 'QEMU free_page_hint_cmd_id, as the number of rounds started (0: none handed out yet)' },
        irq: { domain: 'bool', doc: 'a config interrupt virtio_notify_config() raised that the guest has not handled yet' },
      },
      vq: {
        slot: {
          domain: vqElements(cfg, v),
          count: vqSize(cfg),
          doc: 'free_page_vq: the buffers the guest added and QEMU has not popped yet, oldest first (an out-buffer is the word it points at, read when popped)',
        },
      },
      balloon: {
        readBit: { domain: 'bool', doc: 'VIRTIO_BALLOON_CONFIG_READ_CMD_ID in config_read_bitmap: the config changed since the driver last read it' },
        queued: { domain: 'bool', doc: 'report_free_page_work is queued on balloon_wq' },
        received: { domain: CMD_IDS, doc: 'cmd_id_received_cache: the command id the driver last read' },
        active: { domain: CMD_IDS, doc: 'cmd_id_active: the id of the round the driver is hinting for; the START out-buffer points at it' },
        unloaded: { domain: 'bool', doc: 'virtballoon_remove() ran: the driver is gone' },
      },
      migration: {
        syncs: { domain: { max: SYNC_ROUNDS }, doc: 'bitmap syncs made while the VM runs (each starts a hinting round)' },
        lost: { domain: { max: cfg.pages }, doc: 'page + 1 a vCPU was using at the switchover whose latest content the destination lacks (0: none)' },
        stall: { domain: { max: cfg.pages }, doc: 'page + 1 the destination lacked at the switch to postcopy and the source will never send (0: none)' },
      },
    }),
    pages: (cfg) => ({
      mig: {
        bmap: { domain: 'bool', doc: 'the page\'s bit in the migration bitmap (RAMBlock bmap): still to be sent' },
        dlog: { domain: 'bool', doc: 'the page\'s bit in KVM\'s dirty log: written since the last sync (manual clear: since its bit was last cleared)' },
        dest: {
          // Without poisoning nothing reads a free page, so only whether the destination has a copy matters.
          domain: cfg.poison === 'off' ? ['none', 'copy'] : ['none', ...CONTENTS],
          doc: 'what the destination holds for the page (none: never received; copy: some content, when poisoning is off)',
        },
        fresh: { domain: 'bool', doc: 'the destination holds the page\'s latest content (cleared by every guest write)' },
        ...(v.manualDirtyLog
          ? { logged: { domain: 'bool' as const, doc: 'KVM reported the page dirty at the last sync and its bit is not cleared yet (QEMU\'s KVMSlot dirty_bmap)' } }
          : {}),
      },
      fpl: {
        held: { domain: 'bool', doc: 'the MAX_ORDER-1 block this page heads is on the driver\'s free_page_list' },
      },
    }),
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
      const { m, cfg, at, is, phase } = k;
      const f = m.f;
      const balloon = k.actor.balloon;
      const B = phase.balloon;
      const M = phase.migration;
      const order = cfg.maxOrder;
      const size = 1 << order;
      const heads = Array.from({ length: cfg.pages >> order }, (_, j) => j << order);
      const Q = vqSize(cfg);
      const firstIn = inBuffer(0, order, v);
      const st = is.dev.status;

      // ------------------------------------------------------------ device

      /** virtio_notify_config(): a config interrupt, unless the driver is gone (no DRIVER_OK). */
      const notifyConfig = (s: State): void => {
        if (!s[at.balloon.unloaded]) s[at.dev.irq] = 1;
      };

      /** What the guest reads in free_page_hint_cmd_id (virtio_balloon_get_config()); S_START leaves the field 0, i.e. STOP. */
      const configCmdId = (s: State): number => {
        switch (s[at.dev.status]) {
          case st.requested:
            return cmdIdOf(s[at.dev.cmdId]);
          case st.done:
            return CMD_DONE;
          default:
            return CMD_STOP;
        }
      };

      /** virtio_balloon_free_page_stop(): S_STOP under free_page_lock, then notify. */
      const freePageStop = (s: State): void => {
        if (s[at.dev.status] === st.stop) return;
        s[at.dev.status] = st.stop;
        notifyConfig(s);
      };

      /** virtio_balloon_free_page_done(): S_DONE under free_page_lock, then notify. */
      const freePageDone = (s: State): void => {
        if (s[at.dev.status] === st.done) return;
        s[at.dev.status] = st.done;
        notifyConfig(s);
      };

      // ------------------------------------------------------------ guest

      /** virtio_balloon_cmd_id_received(), without its side effect: the id the driver would now see. */
      const peekReceived = (s: State): number => (s[at.balloon.readBit] ? configCmdId(s) : s[at.balloon.received]);

      /** virtio_balloon_cmd_id_received(): test_and_clear_bit(), and re-read the config if it was set. */
      const readReceived = (s: State): number => {
        if (s[at.balloon.readBit]) {
          s[at.balloon.readBit] = 0;
          s[at.balloon.received] = configCmdId(s);
        }
        return s[at.balloon.received];
      };

      const vqUsed = (s: State): number => {
        let n = 0;
        while (n < Q && s[at.vq.slot + n] !== 0) n++;
        return n;
      };

      const anyHeld = (s: State): boolean => heads.some((h) => s[at.fpl.held + h] !== 0);

      /** free_pages_prepare() of a block the driver gives back: kernel_poison_pages() / init_on_free, or the data just goes stale. */
      const reinit = (s: State, head: number): void => {
        const value = contentAfterFree(cfg);
        for (let p = head; p < head + size; p++) {
          if (cfg.poison !== 'off') guestWrite(m, s, p, value);
          else if (s[f.backing + p] === BACKED) s[f.content + p] = STALE;
        }
      };

      /** free_pages(page, VIRTIO_BALLOON_HINT_BLOCK_ORDER): the caller's guard made sure zone->lock is free. */
      const freeBlock = (s: State, head: number): void => {
        if (!v.noReinitOnReturn) reinit(s, head);
        acquire(m, s, balloon);
        freeOnePage(m, s, head, order, true);
        release(m, s);
      };

      /** return_free_pages_to_mm(vb, ULONG_MAX): pop every block off free_page_list and free it. */
      const returnAll = (s: State): void => {
        for (const h of heads) {
          if (!s[at.fpl.held + h]) continue;
          s[at.fpl.held + h] = 0;
          freeBlock(s, h);
        }
      };

      /** prep_new_page() of the driver's allocation: check_poison_mem() reads every page (nothing is written). */
      const checkPoison = (s: State, head: number): void => {
        if (cfg.poison === 'off') return;
        const expected = contentAfterFree(cfg);
        for (let p = head; p < head + size; p++) {
          const read = guestRead(m, s, p, false);
          if (read !== expected && s[f.evBadPage] === 0) {
            s[f.evBadPage] = p + 1;
            s[f.evBadRead] = read;
          }
        }
      };

      // ------------------------------------------------------------ migration

      const logged = v.manualDirtyLog ? m.layout.at('mig', 'logged') : -1;

      /** migration_bitmap_sync(): fold KVM's dirty log into the migration bitmap; KVM clears it, unless the clear is manual. */
      const bitmapSync = (s: State): void => {
        for (let p = 0; p < cfg.pages; p++) {
          if (v.manualDirtyLog) s[logged + p] = s[at.mig.dlog + p];
          if (!s[at.mig.dlog + p]) continue;
          s[at.mig.bmap + p] = 1;
          if (!v.manualDirtyLog) s[at.mig.dlog + p] = 0;
        }
      };

      /** migration_clear_memory_region_dirty_bitmap(): KVM_CLEAR_DIRTY_LOG of a bit the last sync reported; KVM write-protects the page. */
      const clearLog = (s: State, p: number): void => {
        if (!v.manualDirtyLog || !s[logged + p]) return;
        s[logged + p] = 0;
        s[at.mig.dlog + p] = 0;
      };

      /** ram_save_host_page(): send the page and clear its bit ("This _must_ be called before we send any of the page in the chunk"). */
      const sendPage = (s: State, p: number): void => {
        clearLog(s, p);
        s[at.mig.bmap + p] = 0;
        s[at.mig.dest + p] = cfg.poison === 'off' ? 1 : s[f.content + p] + 1;
        s[at.mig.fresh + p] = 1;
      };

      /** Dirty logging off and the migration's own state dropped: it says nothing once the migration is over. */
      const endMigration = (s: State, to: number): void => {
        for (let p = 0; p < cfg.pages; p++) {
          s[at.mig.bmap + p] = 0;
          s[at.mig.dlog + p] = 0;
          s[at.mig.dest + p] = 0;
          s[at.mig.fresh + p] = 0;
          if (v.manualDirtyLog) s[logged + p] = 0;
        }
        s[at.migration.syncs] = 0;
        s[at.migration.phase] = to;
      };

      /**
       * The VM stopped and the last sync ran: every marked page reaches the
       * destination (now, or under postcopy on demand), and the guest resumes
       * there. Records what a vCPU's block lacks (I2') and, for postcopy,
       * what can never arrive (row 36).
       */
      const switchover = (s: State, postcopy: boolean): void => {
        if (postcopy) {
          for (let p = 0; p < cfg.pages && s[at.migration.stall] === 0; p++) {
            if (s[at.mig.dest + p] === 0 && !s[at.mig.bmap + p]) s[at.migration.stall] = p + 1;
          }
        }
        for (let p = 0; p < cfg.pages; p++) if (s[at.mig.bmap + p]) sendPage(s, p);
        for (let c = 0; c < cfg.cpus && s[at.migration.lost] === 0; c++) {
          if (s[f.vPhase + c] !== IN_USE) continue;
          const head = s[f.vHead + c];
          for (let p = head; p < head + (1 << s[f.vOrder + c]); p++) {
            if (!s[at.mig.fresh + p]) {
              s[at.migration.lost] = p + 1;
              break;
            }
          }
        }
        // The destination's memory: what it received, or zeroes where it never got the page.
        for (let p = 0; p < cfg.pages; p++) {
          if (s[at.mig.fresh + p]) continue;
          const dest = s[at.mig.dest + p];
          s[f.content + p] = dest === 0 ? ZERO : cfg.poison === 'off' ? STALE : dest - 1;
          s[f.backing + p] = dest === 0 ? UNBACKED : BACKED;
        }
      };

      /** virtio_balloon_free_page_start(), under free_page_lock: a new id, S_REQUESTED, notify. */
      const freePageStart = (s: State): void => {
        s[at.dev.cmdId]++;
        s[at.dev.status] = st.requested;
        notifyConfig(s);
      };

      // ------------------------------------------------------------ steps

      /** ram_find_and_save_block() -> ram_save_host_page(): send a marked page, clearing its bit; bitmap_mutex. */
      const ramSavePage: StepSpec = {
        name: 'ram_save_page',
        kernel: 'ram_find_and_save_block(): send one page marked in the bitmap, clearing its bit; bitmap_mutex',
        args: Array.from({ length: cfg.pages }, (_, p) => ({ page: p })),
        pre: (args) => ({ at: at.mig.bmap + Number(args.page), is: 1 }),
        apply: (s, args) => {
          const p = Number(args.page);
          if (!s[at.mig.bmap + p]) return false;
          sendPage(s, p);
          return true;
        },
      };

      /** migration_iteration_run() -> migration_bitmap_sync_precopy(): few pages left, sync again; migration thread. */
      const syncAgain: StepSpec = {
        name: 'migration_bitmap_sync_precopy',
        kernel: 'migration_iteration_run(): few pages left, sync again; migration thread',
        apply: (s) => {
          if (s[at.migration.syncs] >= rounds) return false;
          s[at.migration.phase] = M.sync;
          return true;
        },
      };

      /** migration_completion(): vm_stop, the last sync with its notifiers, the rest sent, switch over; BQL. */
      const completion: StepSpec = {
        name: 'migration_completion',
        kernel: 'migration_completion(): vm_stop, last sync (AFTER_BITMAP_SYNC with the VM stopped: S_DONE), send the rest, switch over',
        apply: (s) => {
          // One step: the VM is stopped, so nothing of the guest runs, and QEMU blocks the iothread meanwhile.
          // PRECOPY_NOTIFY_COMPLETE (which stopped hinting before dd8eeb9671fc), then BEFORE_BITMAP_SYNC: stop.
          if (notifier) freePageStop(s);
          bitmapSync(s);
          // "Set S_DONE before migrating the vmstate, so the guest will reuse all hinted pages once running on the destination."
          if (notifier) freePageDone(s);
          switchover(s, false);
          endMigration(s, M.completed);
          return true;
        },
      };

      /** migrate_fd_cleanup() after migrate_cancel: dirty logging off, PRECOPY_NOTIFY_CLEANUP; main thread. */
      const cancel: StepSpec = {
        name: 'migrate_cancel',
        kernel: 'migrate_fd_cleanup(): dirty logging off, PRECOPY_NOTIFY_CLEANUP; main thread',
        apply: (s) => {
          // "if something goes wrong during precopy or if migration is canceled, we have to properly communicate S_DONE to the VM."
          if (notifier && v.noDoneOnCancel) freePageStop(s);
          else if (notifier) freePageDone(s);
          endMigration(s, M.cancelled);
          return true;
        },
      };

      /** postcopy_start(): vm_stop, the last sync (no precopy notifier), discard bitmap, resume on the destination; BQL. */
      const postcopyStart: StepSpec = {
        name: 'postcopy_start',
        kernel: 'postcopy_start(): vm_stop, last sync without precopy notifiers, discard bitmap, resume on the destination',
        apply: (s) => {
          // Marked pages arrive on demand with the source's last content. Nothing says DONE before the device
          // state moves, so the destination keeps the status it had; CLEANUP's DONE reaches the source's device only.
          bitmapSync(s);
          switchover(s, true);
          endMigration(s, M.completed);
          return true;
        },
      };

      /** PRECOPY_NOTIFY_AFTER_BITMAP_SYNC, VM running: virtio_balloon_free_page_start(); free_page_lock. */
      const startLocked: StepSpec = {
        name: 'free_page_start',
        kernel: 'PRECOPY_NOTIFY_AFTER_BITMAP_SYNC, VM running: virtio_balloon_free_page_start(); free_page_lock',
        apply: (s) => {
          if (notifier) freePageStart(s);
          s[at.migration.syncs]++;
          s[at.migration.phase] = M.precopy;
          return true;
        },
      };

      /** virtio_balloon_free_page_start() without free_page_lock, one store landing first; no lock (row 32). */
      const firstStore = (store: 'status' | 'cmd_id'): StepSpec => ({
        name: 'free_page_start',
        kernel: `virtio_balloon_free_page_start() without free_page_lock: the ${store} store is seen first`,
        args: [{ store }],
        apply: (s) => {
          // No lock and no barrier: the iothread may see the two stores in either order.
          if (store === 'status') s[at.dev.status] = st.requested;
          else s[at.dev.cmdId]++;
          s[at.migration.phase] = store === 'status' ? M['status-stored'] : M['cmd-id-stored'];
          return true;
        },
      });

      /** virtio_balloon_free_page_start() without free_page_lock: the other store, then virtio_notify_config(); no lock (row 32). */
      const secondStore = (store: 'status' | 'cmd_id'): StepSpec => ({
        name: 'free_page_start',
        kernel: `virtio_balloon_free_page_start() without free_page_lock: the ${store} store lands, then virtio_notify_config()`,
        args: [{ store }],
        apply: (s) => {
          if (store === 'status') s[at.dev.status] = st.requested;
          else s[at.dev.cmdId]++;
          notifyConfig(s);
          s[at.migration.syncs]++;
          s[at.migration.phase] = M.precopy;
          return true;
        },
      });

      /** virtballoon_changed() -> virtio_balloon_queue_free_page_work(), in any phase of the work; stop_update_lock. */
      const changed: StepSpec = {
        name: 'virtballoon_changed',
        kernel: 'virtballoon_changed() -> virtio_balloon_queue_free_page_work(): test_and_set_bit(READ_CMD_ID), queue_work(); stop_update_lock',
        pre: () => ({ at: at.dev.irq, is: 1 }),
        apply: (s) => {
          if (!s[at.dev.irq] || s[at.balloon.unloaded]) return false;
          s[at.dev.irq] = 0;
          // No need to queue the work if the bit was already set.
          if (s[at.balloon.readBit]) return true;
          s[at.balloon.readBit] = 1;
          s[at.balloon.queued] = 1;
          return true;
        },
      };

      /** report_free_page_func(): read the cmd id; DONE gives every block back, a new id starts a report; balloon_wq. */
      const reportFreePageFunc: StepSpec = {
        name: 'report_free_page_func',
        kernel: 'report_free_page_func(): read the cmd id; DONE: return_free_pages_to_mm(all); a new id: report; balloon_wq',
        pre: () => ({ at: at.balloon.queued, is: 1 }),
        apply: (s) => {
          if (!s[at.balloon.queued]) return false;
          const id = peekReceived(s);
          // return_free_pages_to_mm() frees under zone->lock: wait for it.
          if (id === CMD_DONE && anyHeld(s) && !lockFree(m, s)) return false;
          s[at.balloon.queued] = 0;
          readReceived(s);
          if (id === CMD_DONE) returnAll(s);
          else if (id !== CMD_STOP && id !== s[at.balloon.active]) s[at.balloon.phase] = B.started;
          return true;
        },
      };

      /** virtballoon_remove(): cancel_work_sync(), then remove_common() gives the blocks back and resets the device; no lock. */
      const remove: StepSpec = {
        name: 'virtballoon_remove',
        kernel: 'virtballoon_remove(): cancel_work_sync(), remove_common(): return_free_pages_to_mm(), reset the device',
        apply: (s) => {
          // Between two runs of the work: cancel_work_sync() waits for a running one and drops a queued one.
          if (s[at.balloon.unloaded]) return false;
          if (!v.unloadLeaks && anyHeld(s) && !lockFree(m, s)) return false;
          s[at.balloon.queued] = 0;
          s[at.balloon.readBit] = 0;
          // "There might be free pages that are being reported: release them."
          if (!v.unloadLeaks) returnAll(s);
          s[at.balloon.unloaded] = 1;
          s[at.dev.irq] = 0;
          // virtio_reset_device(): QEMU's reset stops hinting, and the ring loses its buffers.
          freePageStop(s);
          for (let i = 0; i < Q; i++) s[at.vq.slot + i] = 0;
          for (let p = 0; p < cfg.pages; p++) s[f.inflight + p] = NOT_INFLIGHT;
          return true;
        },
      };

      /** send_cmd_id_start(): cmd_id_active := the id read now, and &cmd_id_active added as an out-buffer; balloon_wq. */
      const sendCmdIdStart: StepSpec = {
        name: 'send_cmd_id_start',
        kernel: 'send_cmd_id_start(): cmd_id_active := the id read now; virtqueue_add_outbuf(&cmd_id_active), kick',
        apply: (s) => {
          // Only used buffers are detached first: a START of an earlier round QEMU has not popped yet now reads the new id.
          const id = readReceived(s);
          s[at.balloon.active] = id;
          // A full ring fails the add ("Failed to send a start id") and the loop runs on.
          const used = vqUsed(s);
          if (used < Q) s[at.vq.slot + used] = v.startByValue ? startByValue(id) : OUT_START;
          s[at.balloon.phase] = B.hinting;
          return true;
        },
      };

      /** send_free_pages(): the id read differs from cmd_id_active, "stop the reporting"; balloon_wq. */
      const sendFreePagesBreak: StepSpec = {
        name: 'send_free_pages',
        kernel: 'send_free_pages(): a stop id or a new cmd id was received: stop the reporting',
        apply: (s) => {
          if (peekReceived(s) === s[at.balloon.active]) return false;
          readReceived(s);
          s[at.balloon.phase] = B.stopping;
          return true;
        },
      };

      /** get_free_page_and_send(): alloc_pages(MAX_ORDER-1) under zone->lock, then hint and keep the block; balloon_wq. */
      const getFreePageAndSend: StepSpec = {
        name: 'get_free_page_and_send',
        kernel: 'get_free_page_and_send(): alloc_pages(MAX_ORDER-1) under zone->lock; add it as an inbuf, kick, push on free_page_list',
        args: heads.map((h) => ({ block: h })),
        apply: (s, args) => {
          const h = Number(args.block);
          if (peekReceived(s) !== s[at.balloon.active]) return false;
          if (!lockFree(m, s) || !isFreeHead(m, s, h, order)) return false;
          readReceived(s);
          acquire(m, s, balloon);
          rmqueue(m, s, h, order);
          release(m, s);
          checkPoison(s, h);
          // There is always 1 entry reserved for the cmd id; without a spare one the block is freed again.
          const used = vqUsed(s);
          if (Q - used <= 1) {
            freeBlock(s, h);
            return true;
          }
          s[at.vq.slot + used] = inBuffer(h, order, v);
          for (let p = h; p < h + size; p++) s[f.inflight + p] = HINTED;
          s[at.fpl.held + h] = 1;
          s[f.evHintBy] = balloon + 1;
          return true;
        },
      };

      /** get_free_page_and_send(): alloc_pages(__GFP_NORETRY) returns NULL, "we have got all the possible free pages"; zone->lock. */
      const allocFails: StepSpec = {
        name: 'alloc_pages_fails',
        kernel: 'get_free_page_and_send(): alloc_pages(__GFP_NORETRY) returns NULL: stop; zone->lock taken and dropped',
        apply: (s) => {
          if (peekReceived(s) !== s[at.balloon.active]) return false;
          if (!lockFree(m, s) || smallestFreeOrder(m, s, order) >= 0) return false;
          readReceived(s);
          s[at.balloon.phase] = B.stopping;
          return true;
        },
      };

      /** send_cmd_id_stop(): the STOP id as an out-buffer, and the work returns; balloon_wq. */
      const sendCmdIdStop: StepSpec = {
        name: 'send_cmd_id_stop',
        kernel: 'send_cmd_id_stop(): virtqueue_add_outbuf(&cmd_id_stop), kick; the work returns',
        apply: (s) => {
          const used = vqUsed(s);
          if (used < Q) s[at.vq.slot + used] = OUT_STOP;
          s[at.balloon.phase] = B.idle;
          return true;
        },
      };

      /** virtio_balloon_shrinker_scan() -> return_free_pages_to_mm(): free one block off free_page_list; free_page_list_lock. */
      const shrinkerScan: StepSpec = {
        name: 'shrinker_scan',
        kernel: 'virtio_balloon_shrinker_scan() -> return_free_pages_to_mm(): pop a block off free_page_list, free_pages(); free_page_list_lock',
        args: heads.map((h) => ({ block: h })),
        pre: (args) => ({ at: at.fpl.held + Number(args.block), is: 1 }),
        apply: (s, args) => {
          // "We're allowed to reuse any free pages, even if they are still to be processed by the host."
          const h = Number(args.block);
          if (!s[at.fpl.held + h] || s[at.balloon.unloaded] || !lockFree(m, s)) return false;
          s[at.fpl.held + h] = 0;
          freeBlock(s, h);
          return true;
        },
      };

      /** get_free_page_hints(): pop the oldest buffer, read an out-buffer's id from guest memory, act on it, then virtqueue_push(); free_page_lock. */
      const getFreePageHints: StepSpec = {
        name: 'get_free_page_hints',
        kernel: 'get_free_page_hints(): virtqueue_pop() one buffer, iov_to_buf() an out-buffer\'s id now, act on it, virtqueue_push(); free_page_lock',
        apply: (s) => {
          const e = s[at.vq.slot];
          if (e === 0) return false;
          for (let i = 0; i + 1 < Q; i++) s[at.vq.slot + i] = s[at.vq.slot + i + 1];
          s[at.vq.slot + Q - 1] = 0;
          const status = s[at.dev.status];
          if (e < firstIn) {
            // By reference: send_cmd_id_start() adds &vb->cmd_id_active, which get_free_page_hints()'s iov_to_buf() reads only now.
            const id = e === OUT_STOP ? CMD_STOP : v.startByValue ? e - OUT_START : s[at.balloon.active];
            // An out-buffer: the id of a REQUESTED round starts it (any status, before 20a4da0f2307).
            const current = s[at.dev.cmdId] > 0 && id === cmdIdOf(s[at.dev.cmdId]);
            if (current && (v.startWithoutRequest || status === st.requested)) s[at.dev.status] = st.start;
            // "Stop the optimization only when it has started. This avoids a stale stop sign for the previous command."
            else if (status === st.start) s[at.dev.status] = st.stop;
            return true;
          }
          // An in-buffer: while S_START, qemu_guest_free_page_hint() clears the block in the bitmap (only while migrating).
          const h = (e - firstIn) << order;
          for (let p = h; p < h + size; p++) {
            s[f.inflight + p] = NOT_INFLIGHT;
            if (status !== st.start || !dirtyLogging(m, s)) continue;
            // QEMU 6.1+: "The skipped free pages are equavelent to be sent from clear_bmap's perspective".
            if (v.clearLogOnHint) clearLog(s, p);
            s[at.mig.bmap + p] = 0;
          }
          return true;
        },
      };

      /** ram_save_setup(): every page marked, memory_global_dirty_log_start(), then the first sync; migration thread. */
      const ramSaveSetup: StepSpec = {
        name: 'ram_save_setup',
        kernel: 'ram_save_setup(): every page marked in the bitmap, memory_global_dirty_log_start(), then the first sync',
        apply: (s) => {
          // With KVM_DIRTY_LOG_INITIALLY_SET every page starts dirty (and writable) in KVM's log.
          for (let p = 0; p < cfg.pages; p++) {
            s[at.mig.bmap + p] = 1;
            s[at.mig.dlog + p] = v.manualDirtyLog ? 1 : 0;
          }
          s[at.migration.phase] = M.sync;
          return true;
        },
      };

      /** PRECOPY_NOTIFY_BEFORE_BITMAP_SYNC: virtio_balloon_free_page_stop(); free_page_lock. */
      const stopBeforeSync: StepSpec = {
        name: 'free_page_stop',
        kernel: 'PRECOPY_NOTIFY_BEFORE_BITMAP_SYNC: virtio_balloon_free_page_stop(); free_page_lock',
        apply: (s) => {
          if (notifier) freePageStop(s);
          s[at.migration.phase] = M.syncing;
          return true;
        },
      };

      /** migration_bitmap_sync(): KVM_GET_DIRTY_LOG, the dirty log folded into the bitmap; bitmap_mutex. */
      const sync: StepSpec = {
        name: 'migration_bitmap_sync',
        kernel: 'migration_bitmap_sync(): KVM_GET_DIRTY_LOG, fold the dirty log into the bitmap; bitmap_mutex',
        apply: (s) => {
          bitmapSync(s);
          s[at.migration.phase] = M.synced;
          return true;
        },
      };

      return {
        balloon: {
          idle: [changed, reportFreePageFunc, remove],
          started: [changed, sendCmdIdStart],
          hinting: [changed, sendFreePagesBreak, getFreePageAndSend, allocFails],
          stopping: [changed, sendCmdIdStop],
        },
        shrinker: { idle: [shrinkerScan] },
        iothread: { idle: [getFreePageHints] },
        migration: {
          idle: [ramSaveSetup],
          sync: [stopBeforeSync],
          syncing: [sync],
          synced: v.startUnlocked ? [firstStore('status'), firstStore('cmd_id')] : [startLocked],
          'status-stored': v.startUnlocked ? [secondStore('cmd_id')] : [],
          'cmd-id-stored': v.startUnlocked ? [secondStore('status')] : [],
          precopy: [ramSavePage, syncAgain, completion, cancel, ...(v.postcopy !== undefined ? [postcopyStart] : [])],
          completed: [],
          cancelled: [],
        },
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
    invariants: [migratedPagesCurrent, driverReturnsBlocks, d6AllocatorConservation, ...(v.postcopy !== undefined ? [postcopyPagesArrive] : [])],
  });
}

/** free_page_vq entries: a slot for every MAX_ORDER-1 block of the zone, one for the cmd id, one spare. */
function vqSize(cfg: Config): number {
  return (cfg.pages >> cfg.maxOrder) + 2;
}

/**
 * Ring entries: empty, one of the driver's two out-buffers, or an in-buffer
 * holding a block. An out-buffer is named by the word it points at, not by
 * the id it held when added: QEMU reads the word when it pops the entry.
 */
function vqElements(cfg: Config, v: FreePageHintVariant): string[] {
  const blocks = Array.from({ length: cfg.pages >> cfg.maxOrder }, (_, j) => `in-${j << cfg.maxOrder}`);
  const starts = v.startByValue ? CMD_IDS.map((c) => `START (carries ${c})`) : ['START (reads cmd_id_active)'];
  return ['empty', 'STOP (cmd_id_stop)', ...starts, ...blocks];
}

/** send_cmd_id_stop()'s out-buffer: &vb->cmd_id_stop, which always holds VIRTIO_BALLOON_CMD_ID_STOP. */
const OUT_STOP = 1;
/** send_cmd_id_start()'s out-buffer: &vb->cmd_id_active, rewritten by every later send_cmd_id_start() (Linux send_cmd_id_start(); QEMU get_free_page_hints() reads it at pop). */
const OUT_START = 2;
/** startByValue: the entry of a START that carries `id` (a CMD_IDS index). */
const startByValue = (id: number): number => OUT_START + id;
/** The ring entry of the block at `head` (blocks are numbered by head >> order). */
const inBuffer = (head: number, order: number, v: FreePageHintVariant): number =>
  OUT_START + (v.startByValue ? CMD_IDS.length : 1) + (head >> order);

/** The shared invariant every hinting D6 check violates, by design (see `accepts`). */
const REUSE = 'no-reuse-while-hinting';

/** Why a broken variant runs with one sync while the VM runs: its race needs no second round, and the search is 40 times smaller. */
const ONE_ROUND = 'One sync while the VM runs (not the 2 of designs.md §7): the race needs no second round.';

export const d6FreePageHint = freePageHintDesign(
  'd6-free-page-hint',
  'virtio-balloon free page hinting for live migration (VIRTIO_BALLOON_F_FREE_PAGE_HINT)',
  'Around every bitmap sync QEMU stops hinting and starts a new round under a new command id; the balloon driver allocates MAX_ORDER-1 blocks, hands them to QEMU, which clears them in the migration bitmap, and keeps them until DONE, the shrinker or its removal gives them back. A block may be reused while its hint is in flight: dirty logging sends it again. But the START out-buffer points at the driver\'s one cmd_id_active, which QEMU reads when it pops the buffer: a START still queued when the driver starts the next round reads the next round\'s id, and lets the old round\'s hints clear bits the sync between them set. QEMU and Linux as they are today.',
  {},
  [
    {
      violates: [REUSE, 'd6-migrated-pages-current'],
      why: 'designs.md D6 and §4 row 34: the shrinker gives back a block whose hint is still in the ring and a vCPU reuses it (accepted); every block comes back at DONE or removal (I4\' holds). I2\' fails [the model\'s finding, an inference from send_cmd_id_start() and get_free_page_hints()]: the iothread has not popped round 1\'s START when the driver starts round 2 and rewrites cmd_id_active, so iov_to_buf() reads id 2 under S_REQUESTED with cmd_id 2, moves to S_START, and round 1\'s in-buffer clears the bit of a page the vCPU wrote before the second sync, whose KVM_GET_DIRTY_LOG had already taken the write out of the log.',
    },
    {
      config: { poison: 'on' },
      violates: [REUSE, 'poison-reads-back', 'd6-migrated-pages-current'],
      why: 'designs.md §4 row 35: a hinted block is not migrated, and free_pages() re-poisons it when the driver gives it back; that poison write is a guest write like any other, and the aliased START above lets round 1\'s in-buffer clear its bit after the second sync, so the destination never gets the poison and the driver\'s next allocation there reads zero in check_poison_mem() (I3\' fails with I2\', same cause).',
    },
  ],
);

export const d6NoDoneOnCancel = freePageHintDesign(
  'd6-no-done-on-cancel',
  'D6 before dd8eeb9671fc: a cancelled migration never says DONE (broken)',
  'QEMU before "virtio-balloon: always indicate S_DONE when migration fails": PRECOPY_NOTIFY_CLEANUP (and COMPLETE) only stop hinting, so after migrate_cancel the guest reads STOP, never DONE, and its driver keeps every block it took.',
  { noDoneOnCancel: true, rounds: 1 },
  [
    {
      violates: [REUSE, 'd6-driver-returns-blocks'],
      why: `designs.md §4 row 30 (dd8eeb9671fc: "migrate, migrate_cancel, look at /proc/meminfo"): the blocks taken during the cancelled migration stay on free_page_list. ${ONE_ROUND}`,
      smaller: ONE_ROUND,
    },
  ],
  'd6-driver-returns-blocks',
);

export const d6StatusUnlocked = freePageHintDesign(
  'd6-status-unlocked',
  'D6 before 1a83e0b9c4: free_page_start() without free_page_lock (broken)',
  'QEMU before "virtio-balloon: Add locking to prevent possible race when starting hinting": the migration thread bumps cmd_id and sets S_REQUESTED without free_page_lock, so the iothread may see the new status with the old id and start the new round on the previous round\'s START; that round\'s hints, taken before the sync, then clear bits the sync set.',
  { startUnlocked: true },
  [
    {
      violates: [REUSE, 'd6-migrated-pages-current'],
      why: 'designs.md §4 row 32: with no lock (and no barrier) the iothread sees S_REQUESTED before cmd_id++, accepts the stale START of the last round, and clears the bit of a page written after that round\'s hint: the write is lost at the switchover.',
    },
  ],
  'd6-migrated-pages-current',
);

export const d6StartWithoutRequest = freePageHintDesign(
  'd6-start-without-request',
  'D6 before 20a4da0f2307: any out-buffer with the current id starts hinting (broken)',
  'QEMU before "virtio-balloon: Prevent guest from starting a report when we didn\'t request one": get_free_page_hints() moves to S_START on an out-buffer carrying the current cmd_id whatever the status, so a START still in the ring when the migration thread stopped the round starts it again.',
  { startWithoutRequest: true },
  [
    {
      violates: [REUSE, 'd6-migrated-pages-current', 'd6-driver-returns-blocks'],
      why: 'S17 ("possible for the driver to force the device out of a stopped state ... by repeating the last ID"): a START popped after BEFORE_BITMAP_SYNC restarts the round, whose hints then clear bits of writes the sync picked up; a START popped after DONE hides DONE from the guest, which keeps its blocks.',
    },
  ],
  'd6-migrated-pages-current',
);

export const d6UnloadLeak = freePageHintDesign(
  'd6-unload-leak',
  'D6 before 6c22dc61c76b: removing the driver leaks its blocks (broken)',
  'Linux before "virtio-balloon: Fix memory leak when unloading while hinting is in progress": remove_common() resets the device without return_free_pages_to_mm(), so the blocks on free_page_list are never freed.',
  { unloadLeaks: true, rounds: 1 },
  [
    {
      violates: [REUSE, 'd6-driver-returns-blocks'],
      why: `designs.md §4 row 33 (6c22dc61c76b): the driver is removed while it holds a block. ${ONE_ROUND}`,
      smaller: ONE_ROUND,
    },
  ],
  'd6-driver-returns-blocks',
);

export const d6NoReinitOnReturn = freePageHintDesign(
  'd6-no-reinit-on-return',
  'D6 with a guest that does not re-initialise returned blocks (broken)',
  'A guest whose driver gives blocks back without free_pages_prepare(): a hinted block was never migrated, so on the destination it holds an old copy or zeroes, and the next allocation sees that instead of the poison.',
  { noReinitOnReturn: true, rounds: 1 },
  [
    {
      violates: [REUSE, 'poison-reads-back'],
      why: `designs.md §4 row 35 and D6 I3' (Alexander: a hinted page "can essentially transition to uninitialized while it is sitting in the balloon"): Linux is safe only because free_pages() re-poisons. ${ONE_ROUND}`,
      smaller: ONE_ROUND,
    },
  ],
  'poison-reads-back',
  { poison: 'on' },
);

export const d6Postcopy = freePageHintDesign(
  'd6-postcopy',
  'D6 with a postcopy-capable migration (QEMU as it is: no hinting)',
  'With the postcopy-ram capability on, virtio_balloon_free_page_hint_notify() returns at once: QEMU never asks for hints, so postcopy finds every page it lacks still marked in the source\'s bitmap.',
  { postcopy: 'guarded' },
  [
    {
      violates: [],
      why: 'designs.md §4 row 36: QEMU does not start hinting when postcopy is possible, so nothing is hinted, reused in flight or left behind.',
    },
  ],
);

export const d6PostcopyHint = freePageHintDesign(
  'd6-postcopy-hint',
  'D6 hinting under a postcopy-capable migration (broken)',
  'The precopy notifier without its postcopy check: the guest hints while the migration may switch to postcopy, so the destination may lack a page the source will never send; and no notifier sets DONE before the device state moves, so the destination never tells the guest to give its blocks back.',
  { postcopy: 'unguarded', rounds: 1 },
  [
    {
      violates: [REUSE, 'd6-postcopy-pages-arrive', 'd6-driver-returns-blocks'],
      why: `designs.md §4 row 36 (QEMU: "the faulting thread will stall until postcopy migration finishes"); the DONE that postcopy_start() never sends is the model's inference. ${ONE_ROUND}`,
      smaller: ONE_ROUND,
    },
  ],
  'd6-postcopy-pages-arrive',
);

export const d6ManualDirtyLog = freePageHintDesign(
  'd6-manual-dirty-log',
  'D6 with KVM\'s manual dirty-log clear (QEMU 4.0 to 6.0)',
  'QEMU with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 and KVM_DIRTY_LOG_INITIALLY_SET: a sync reports dirty bits without clearing them, and a page\'s bit is cleared (the page write-protected) just before the page is sent. A hint clears only the migration bitmap, so a hinted page that stays dirty in KVM is marked again at the next sync.',
  { manualDirtyLog: true },
  [
    {
      violates: [REUSE],
      why: 'designs.md §5: the hinted page\'s bit survives in KVM\'s log (the cost 3143577d6a3f removed: "those skipped pages will be sent in the next round"), so a write made while the hint was in flight is sent at the next sync (I2\' holds; with a clear_bmap chunk of one page). The by-reference START of d6-free-page-hint does not hurt here: a stale round\'s hint it lets through clears only the migration bitmap, and a sync that leaves KVM\'s log set marks the page again at the last sync.',
    },
  ],
);

export const d6ClearLogOnHint = freePageHintDesign(
  'd6-clear-log-on-hint',
  'D6 with QEMU 6.1+ clearing the dirty log of hinted pages (3143577d6a3f; the model\'s finding)',
  'QEMU 6.1+ with KVM\'s manual dirty-log clear: qemu_guest_free_page_hint() also clears the hinted pages\' dirty bits, as a send would. A page the shrinker gave back and a vCPU wrote while the hint was in flight is still writable, so that write set no new bit; the clear then drops the only record of it.',
  { manualDirtyLog: true, clearLogOnHint: true, rounds: 1 },
  [
    {
      violates: [REUSE, 'd6-migrated-pages-current'],
      why: `designs.md §5's open question, answered by the model [I]: under §4 row 34's interleaving the write lands between the sync and the clear, on a page the sync reported dirty and left writable, and the clear erases it. ${ONE_ROUND}`,
      smaller: ONE_ROUND,
    },
  ],
  'd6-migrated-pages-current',
);

export const D6_DESIGNS: readonly Design[] = [
  d6FreePageHint,
  d6NoDoneOnCancel,
  d6StatusUnlocked,
  d6StartWithoutRequest,
  d6UnloadLeak,
  d6NoReinitOnReturn,
  d6Postcopy,
  d6PostcopyHint,
  d6ManualDirtyLog,
  d6ClearLogOnHint,
];
