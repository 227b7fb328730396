/**
 * D6's actors and state fields, declared once for the assembly
 * (free-page-hint.ts), and the kit type the actor files (driver.ts,
 * qemu.ts, migration.ts) are written against.
 */
import type { Kit } from '../../design-api.js';
import type { Config } from '../../config.js';
import { CONTENTS } from '../../host.js';
import { vqElements, vqSize } from './ring.js';
import { BALLOON_PHASES, CMD_IDS, MIGRATION_PHASES, STATUS, SYNC_ROUNDS } from './state.js';

export const D6_ACTORS = {
  balloon: BALLOON_PHASES,
  shrinker: ['idle'],
  iothread: ['idle'],
  migration: MIGRATION_PHASES,
} as const;

/** The design's record groups; `byValue` is the startByValue option (the ring's START entries). */
export function d6State(cfg: Config, byValue: boolean) {
  return {
    dev: {
      status: { domain: STATUS, doc: 'QEMU free_page_hint_status (under free_page_lock)' },
      cmdId: { domain: { max: SYNC_ROUNDS }, doc: 'QEMU free_page_hint_cmd_id, as the number of rounds started (0: none handed out yet)' },
      irq: { domain: 'bool', doc: 'a config interrupt virtio_notify_config() raised that the guest has not handled yet' },
    },
    vq: {
      slot: {
        domain: vqElements(cfg, byValue),
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
  } as const;
}

/** The design's per-page groups; `manualDirtyLog` adds KVM's reported bit. */
export function d6Pages(cfg: Config, manualDirtyLog: boolean) {
  return {
    mig: {
      bmap: { domain: 'bool', doc: 'the page\'s bit in the migration bitmap (RAMBlock bmap): still to be sent' },
      dlog: { domain: 'bool', doc: 'the page\'s bit in KVM\'s dirty log: written since the last sync (manual clear: since its bit was last cleared)' },
      dest: {
        // Without poisoning nothing reads a free page, so only whether the destination has a copy matters.
        domain: cfg.poison === 'off' ? ['none', 'copy'] : ['none', ...CONTENTS],
        doc: 'what the destination holds for the page (none: never received; copy: some content, when poisoning is off)',
      },
      fresh: { domain: 'bool', doc: 'the destination holds the page\'s latest content (cleared by every guest write)' },
      ...(manualDirtyLog
        ? { logged: { domain: 'bool' as const, doc: 'KVM reported the page dirty at the last sync and its bit is not cleared yet (QEMU\'s KVMSlot dirty_bmap)' } }
        : {}),
    },
    fpl: {
      held: { domain: 'bool', doc: 'the MAX_ORDER-1 block this page heads is on the driver\'s free_page_list' },
    },
  } as const;
}

/** What D6's steps and helpers are given. */
export type D6Kit = Kit<ReturnType<typeof d6State>, ReturnType<typeof d6Pages>, Record<never, never>, typeof D6_ACTORS, readonly []>;

/**
 * The choices a correct D6 may make, which change its state or its steps
 * without breaking anything: they are parameters, not mutants (a broken
 * variant replaces a part instead, see mutants.ts).
 */
export interface D6Options {
  /**
   * §4 row 36: the migration has the postcopy-ram capability and may switch
   * to postcopy (postcopy_start() and d6-postcopy-pages-arrive are added).
   * QEMU's notifier then does nothing.
   */
  readonly postcopy?: boolean;
  /** Syncs while the VM runs, 1 or SYNC_ROUNDS (the default): a race that needs no second round is checked with one. */
  readonly rounds?: number;
  /**
   * KVM's dirty log with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 and
   * KVM_DIRTY_LOG_INITIALLY_SET, as QEMU 4.0+ uses it: a sync reports the
   * dirty bits without clearing them; QEMU clears a page's bit (and KVM
   * write-protects it) just before sending it. The clear_bmap chunk is one page.
   */
  readonly manualDirtyLog?: boolean;
  /**
   * A driver whose every START carries its id by value (its own buffer, the
   * id copied when it is added), so that a later round cannot rewrite it: a
   * candidate fix, and the semantics the model had before it followed
   * send_cmd_id_start()'s &vb->cmd_id_active. No built-in design uses it.
   */
  readonly startByValue?: boolean;
}
