/**
 * D6's migration (QEMU migration/ram.c, migration.c): the migration bitmap,
 * KVM's dirty log, and the migration thread's steps from ram_save_setup()
 * to the switchover, calling the device's precopy notifier around every
 * bitmap sync.
 *
 * The dirty log is KVM's classic one, which a sync collects and clears,
 * unless the manualDirtyLog option asks for the manual clear QEMU 4.0+ uses
 * (with a clear_bmap chunk of one page): both are correct, so the option
 * picks one of two KvmDirtyLog implementations rather than replacing a part.
 */
import type { StepSpec } from '../../design-api.js';
import { BACKED, STALE, UNBACKED, ZERO } from '../../host.js';
import type { State } from '../../types.js';
import { IN_USE } from '../../vcpu.js';
import type { D6Kit, D6Options } from './kit.js';
import type { Qemu } from './qemu.js';
import { dirtyLogging, SYNC_ROUNDS } from './state.js';

/** KVM's dirty log of one page, as QEMU drives it. */
export interface KvmDirtyLog {
  /** memory_global_dirty_log_start(): the page's bit when logging starts. */
  readonly start: (s: State, page: number) => void;
  /** KVM_GET_DIRTY_LOG at a sync: whether the page was written (the classic log clears the bit as it reports it). */
  readonly collect: (s: State, page: number) => boolean;
  /** KVM_CLEAR_DIRTY_LOG of a bit the last sync reported, and KVM write-protects the page (the manual clear only). */
  readonly clear: (s: State, page: number) => void;
  /** memory_global_dirty_log_stop(): what the log kept for the page beside its bit is dropped. */
  readonly stop: (s: State, page: number) => void;
}

/** KVM's classic dirty log: KVM_GET_DIRTY_LOG reports and clears. */
function classicDirtyLog(k: D6Kit): KvmDirtyLog {
  const { at } = k;
  return {
    start: (s, p) => {
      s[at.mig.dlog + p] = 0;
    },
    collect: (s, p) => {
      if (!s[at.mig.dlog + p]) return false;
      s[at.mig.dlog + p] = 0;
      return true;
    },
    clear: () => {},
    stop: () => {},
  };
}

/** KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with KVM_DIRTY_LOG_INITIALLY_SET: KVM_GET_DIRTY_LOG reports, QEMU clears a bit before the send. */
function manualDirtyLog(k: D6Kit): KvmDirtyLog {
  const { m, at } = k;
  const logged = m.layout.at('mig', 'logged');
  return {
    // With KVM_DIRTY_LOG_INITIALLY_SET every page starts dirty (and writable) in KVM's log.
    start: (s, p) => {
      s[at.mig.dlog + p] = 1;
    },
    collect: (s, p) => {
      s[logged + p] = s[at.mig.dlog + p];
      return s[at.mig.dlog + p] !== 0;
    },
    clear: (s, p) => {
      if (!s[logged + p]) return;
      s[logged + p] = 0;
      s[at.mig.dlog + p] = 0;
    },
    stop: (s, p) => {
      s[logged + p] = 0;
    },
  };
}

export interface DirtyLog {
  readonly k: D6Kit;
  readonly kvm: KvmDirtyLog;
  /** migration_bitmap_sync(): fold KVM's dirty log into the migration bitmap; KVM clears it, unless the clear is manual. */
  readonly bitmapSync: (s: State) => void;
  /** migration_clear_memory_region_dirty_bitmap(): KVM_CLEAR_DIRTY_LOG of a bit the last sync reported; KVM write-protects the page. */
  readonly clearLog: (s: State, page: number) => void;
  /** ram_save_host_page(): send the page and clear its bit. */
  readonly sendPage: (s: State, page: number) => void;
  /** qemu_guest_free_page_hint() for one hinted page: its bit leaves the migration bitmap; bitmap_mutex. */
  readonly guestFreePageHint: (s: State, page: number) => void;
}

/** The parts of the migration a broken variant may replace. */
export interface MigrationOverrides {
  readonly guestFreePageHint?: (log: DirtyLog) => (s: State, page: number) => void;
  /** The AFTER_BITMAP_SYNC notifier's free_page_start, as the migration thread's steps in the phases it may take. */
  readonly freePageStart?: (q: Qemu) => FreePageStartSteps;
}

/** The migration thread's steps from `synced` (after the sync) back to `precopy`. */
export interface FreePageStartSteps {
  readonly synced: readonly StepSpec[];
  readonly 'status-stored': readonly StepSpec[];
  readonly 'cmd-id-stored': readonly StepSpec[];
}

export function dirtyLog(k: D6Kit, opts: D6Options, o: MigrationOverrides): DirtyLog {
  const { m, cfg, at } = k;
  const f = m.f;
  const kvm = opts.manualDirtyLog === true ? manualDirtyLog(k) : classicDirtyLog(k);

  const bitmapSync = (s: State): void => {
    for (let p = 0; p < cfg.pages; p++) if (kvm.collect(s, p)) s[at.mig.bmap + p] = 1;
  };

  const clearLog = kvm.clear;

  // "This _must_ be called before we send any of the page in the chunk."
  const sendPage = (s: State, p: number): void => {
    clearLog(s, p);
    s[at.mig.bmap + p] = 0;
    s[at.mig.dest + p] = cfg.poison === 'off' ? 1 : s[f.content + p] + 1;
    s[at.mig.fresh + p] = 1;
  };

  // Before 3143577d6a3f (QEMU 6.1), which also clears the dirty log; with the classic log the two are the same.
  const guestFreePageHint = (s: State, p: number): void => {
    // "This function is currently expected to be used during live migration."
    if (!dirtyLogging(m, s)) return;
    s[at.mig.bmap + p] = 0;
  };

  const log: DirtyLog = { k, kvm, bitmapSync, clearLog, sendPage, guestFreePageHint };
  return o.guestFreePageHint === undefined ? log : { ...log, guestFreePageHint: o.guestFreePageHint(log) };
}

/** The migration thread's context: the device it notifies, the log, the options, and the switchover. */
export interface MigrationThread {
  readonly q: Qemu;
  readonly log: DirtyLog;
  /** Syncs while the VM runs. */
  readonly rounds: number;
  /** Dirty logging off and the migration's own state dropped: it says nothing once the migration is over. */
  readonly endMigration: (s: State, to: number) => void;
  /** The VM stopped and the last sync ran: the destination gets what it will get, and the guest resumes there. */
  readonly switchover: (s: State, postcopy: boolean) => void;
}

export function migrationThread(q: Qemu, log: DirtyLog, opts: D6Options): MigrationThread {
  const { m, cfg, at } = q.k;
  const f = m.f;
  const { kvm, sendPage } = log;

  /** Dirty logging off and the migration's own state dropped: it says nothing once the migration is over. */
  const endMigration = (s: State, to: number): void => {
    for (let p = 0; p < cfg.pages; p++) {
      s[at.mig.bmap + p] = 0;
      s[at.mig.dlog + p] = 0;
      s[at.mig.dest + p] = 0;
      s[at.mig.fresh + p] = 0;
      kvm.stop(s, p);
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

  return { q, log, rounds: opts.rounds ?? SYNC_ROUNDS, endMigration, switchover };
}

export function migrationSteps(t: MigrationThread, opts: D6Options, o: MigrationOverrides) {
  const start: FreePageStartSteps = o.freePageStart?.(t.q) ?? { synced: [freePageStart(t)], 'status-stored': [], 'cmd-id-stored': [] };
  return {
    idle: [ramSaveSetup(t)],
    sync: [freePageStop(t)],
    syncing: [migrationBitmapSync(t)],
    ...start,
    precopy: [ramSavePage(t), migrationBitmapSyncPrecopy(t), migrationCompletion(t), migrateCancel(t), ...(opts.postcopy === true ? [postcopyStart(t)] : [])],
    completed: [],
    cancelled: [],
  };
}

/** ram_save_setup(): every page marked, memory_global_dirty_log_start(), then the first sync; migration thread. */
function ramSaveSetup(t: MigrationThread): StepSpec {
  const { cfg, at } = t.q.k;
  const M = t.q.k.phase.migration;
  const { kvm } = t.log;
  return {
    name: 'ram_save_setup',
    kernel: 'ram_save_setup(): every page marked in the bitmap, memory_global_dirty_log_start(), then the first sync',
    apply: (s) => {
      for (let p = 0; p < cfg.pages; p++) {
        s[at.mig.bmap + p] = 1;
        kvm.start(s, p);
      }
      s[at.migration.phase] = M.sync;
      return true;
    },
  };
}

/** migration_bitmap_sync_precopy(): PRECOPY_NOTIFY_BEFORE_BITMAP_SYNC, virtio_balloon_free_page_stop(); free_page_lock. */
function freePageStop(t: MigrationThread): StepSpec {
  const { at } = t.q.k;
  const M = t.q.k.phase.migration;
  const q = t.q;
  return {
    name: 'free_page_stop',
    kernel: 'PRECOPY_NOTIFY_BEFORE_BITMAP_SYNC: virtio_balloon_free_page_stop(); free_page_lock',
    apply: (s) => {
      q.hintNotify(s, 'before-bitmap-sync', true);
      s[at.migration.phase] = M.syncing;
      return true;
    },
  };
}

/** migration_bitmap_sync(): KVM_GET_DIRTY_LOG, the dirty log folded into the bitmap; bitmap_mutex. */
function migrationBitmapSync(t: MigrationThread): StepSpec {
  const { at } = t.q.k;
  const M = t.q.k.phase.migration;
  const { bitmapSync } = t.log;
  return {
    name: 'migration_bitmap_sync',
    kernel: 'migration_bitmap_sync(): KVM_GET_DIRTY_LOG, fold the dirty log into the bitmap; bitmap_mutex',
    apply: (s) => {
      bitmapSync(s);
      s[at.migration.phase] = M.synced;
      return true;
    },
  };
}

/** migration_bitmap_sync_precopy(): PRECOPY_NOTIFY_AFTER_BITMAP_SYNC, VM running: virtio_balloon_free_page_start(); free_page_lock. */
function freePageStart(t: MigrationThread): StepSpec {
  const { at } = t.q.k;
  const M = t.q.k.phase.migration;
  const q = t.q;
  return {
    name: 'free_page_start',
    kernel: 'PRECOPY_NOTIFY_AFTER_BITMAP_SYNC, VM running: virtio_balloon_free_page_start(); free_page_lock',
    apply: (s) => {
      q.hintNotify(s, 'after-bitmap-sync', true);
      s[at.migration.syncs]++;
      s[at.migration.phase] = M.precopy;
      return true;
    },
  };
}

/** ram_find_and_save_block() -> ram_save_host_page(): send a marked page, clearing its bit; bitmap_mutex. */
function ramSavePage(t: MigrationThread): StepSpec {
  const { cfg, at } = t.q.k;
  const { sendPage } = t.log;
  return {
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
}

/** migration_iteration_run() -> migration_bitmap_sync_precopy(): few pages left, sync again; migration thread. */
function migrationBitmapSyncPrecopy(t: MigrationThread): StepSpec {
  const { at } = t.q.k;
  const M = t.q.k.phase.migration;
  const rounds = t.rounds;
  return {
    name: 'migration_bitmap_sync_precopy',
    kernel: 'migration_iteration_run(): few pages left, sync again; migration thread',
    apply: (s) => {
      if (s[at.migration.syncs] >= rounds) return false;
      s[at.migration.phase] = M.sync;
      return true;
    },
  };
}

/** migration_completion(): vm_stop, the last sync with its notifiers, the rest sent, switch over; BQL. */
function migrationCompletion(t: MigrationThread): StepSpec {
  const M = t.q.k.phase.migration;
  const q = t.q;
  const { bitmapSync } = t.log;
  const { endMigration, switchover } = t;
  return {
    name: 'migration_completion',
    kernel: 'migration_completion(): vm_stop, last sync (AFTER_BITMAP_SYNC with the VM stopped: S_DONE), send the rest, switch over',
    apply: (s) => {
      // One step: the VM is stopped, so nothing of the guest runs, and QEMU blocks the iothread meanwhile.
      q.hintNotify(s, 'complete', false);
      q.hintNotify(s, 'before-bitmap-sync', false);
      bitmapSync(s);
      q.hintNotify(s, 'after-bitmap-sync', false);
      switchover(s, false);
      endMigration(s, M.completed);
      return true;
    },
  };
}

/** migrate_fd_cleanup() after migrate_cancel: dirty logging off, PRECOPY_NOTIFY_CLEANUP; main thread. */
function migrateCancel(t: MigrationThread): StepSpec {
  const M = t.q.k.phase.migration;
  const q = t.q;
  const { endMigration } = t;
  return {
    name: 'migrate_cancel',
    kernel: 'migrate_fd_cleanup(): dirty logging off, PRECOPY_NOTIFY_CLEANUP; main thread',
    apply: (s) => {
      q.hintNotify(s, 'cleanup', true);
      endMigration(s, M.cancelled);
      return true;
    },
  };
}

/** postcopy_start(): vm_stop, the last sync (no precopy notifier), discard bitmap, resume on the destination; BQL. */
function postcopyStart(t: MigrationThread): StepSpec {
  const M = t.q.k.phase.migration;
  const { bitmapSync } = t.log;
  const { endMigration, switchover } = t;
  return {
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
}
