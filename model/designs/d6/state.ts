/**
 * The names D6's state is declared with (model/designs/d6/kit.ts),
 * shared with the invariants that read it (model/designs/d6/invariants/*.ts), so that
 * neither side spells an enum value or a phase by hand.
 */
import type { Model, State } from '../../types.js';

/** Iteration syncs a migration makes while the VM runs (ram_save_setup()'s and one more); each hands out a new command id. */
export const SYNC_ROUNDS = 2;

/**
 * The free_page_hint_cmd_id values the guest can read and send back:
 * VIRTIO_BALLOON_CMD_ID_STOP (0), VIRTIO_BALLOON_CMD_ID_DONE (1), then the id
 * of each of the SYNC_ROUNDS hinting rounds.
 */
export const CMD_IDS = ['stop', 'done', 'id1', 'id2'] as const;
export const CMD_STOP = 0;
export const CMD_DONE = 1;
/** CMD_IDS index of the id QEMU hands out at its n-th free_page_start() (n >= 1). */
export const cmdIdOf = (n: number): number => 1 + n;

/** QEMU's free_page_hint_status, FREE_PAGE_HINT_S_*, in the order of the enum. */
export const STATUS = ['stop', 'requested', 'start', 'done'] as const;

/**
 * The guest's report_free_page_work: idle (not running), started (about to
 * send the START id), hinting (in send_free_pages()'s loop), stopping (about
 * to send the STOP id).
 */
export const BALLOON_PHASES = ['idle', 'started', 'hinting', 'stopping'] as const;

/**
 * QEMU's migration thread: idle (no migration yet); sync / syncing / synced:
 * inside migration_bitmap_sync_precopy() before the BEFORE_BITMAP_SYNC
 * notifier, before the sync, before the AFTER_BITMAP_SYNC notifier;
 * status-stored / cmd-id-stored: half-way through an unlocked
 * free_page_start() (the row 32 mutant only); precopy: sending pages;
 * completed (the guest runs on the destination) or cancelled (it runs on).
 */
export const MIGRATION_PHASES = [
  'idle', 'sync', 'syncing', 'synced', 'status-stored', 'cmd-id-stored', 'precopy', 'completed', 'cancelled',
] as const;

const phaseIndex = (name: (typeof MIGRATION_PHASES)[number]): number => MIGRATION_PHASES.indexOf(name);
export const MIGRATION_IDLE = phaseIndex('idle');
export const MIGRATION_COMPLETED = phaseIndex('completed');
export const MIGRATION_CANCELLED = phaseIndex('cancelled');
export const BALLOON_IDLE = 0;

/** Whether the migration is over: the guest runs on the destination, or on the source after a cancel. */
export function migrationOver(m: Model, s: State): boolean {
  const phase = s[m.layout.at('migration', 'phase')];
  return phase === MIGRATION_COMPLETED || phase === MIGRATION_CANCELLED;
}

/** Whether dirty logging is on: the migration was set up and has not ended. */
export function dirtyLogging(m: Model, s: State): boolean {
  return s[m.layout.at('migration', 'phase')] !== MIGRATION_IDLE && !migrationOver(m, s);
}

/**
 * The balloon driver will not act again on its own: its work is neither
 * running nor queued, and no config interrupt waits for its handler.
 */
export function driverQuiescent(m: Model, s: State): boolean {
  const L = m.layout;
  return s[L.at('balloon', 'phase')] === BALLOON_IDLE && s[L.at('balloon', 'queued')] === 0 && s[L.at('dev', 'irq')] === 0;
}
