/**
 * D6's QEMU device (hw/virtio/virtio-balloon.c): free_page_hint_status and
 * free_page_hint_cmd_id under free_page_lock, the config the guest reads,
 * the precopy notifier the migration thread calls, and the iothread that
 * pops free_page_vq. Each function that touches status or cmd_id is part of
 * one step, which is what free_page_lock buys.
 */
import type { StepSpec } from '../../design-api.js';
import { NOT_INFLIGHT } from '../../host.js';
import type { State } from '../../types.js';
import type { D6Kit } from './kit.js';
import type { Ring } from './ring.js';
import { CMD_DONE, CMD_STOP, cmdIdOf } from './state.js';

/** precopy_notify()'s reasons that D6's migration raises (PRECOPY_NOTIFY_*). */
export type PrecopyReason = 'before-bitmap-sync' | 'after-bitmap-sync' | 'complete' | 'cleanup';

/** A precopy notifier: the reason, and whether the VM is running (vdev->vm_running). */
export type PrecopyNotify = (s: State, reason: PrecopyReason, vmRunning: boolean) => void;

/** The device's state machine, as a broken variant's replacement part is given it. */
export interface QemuCore {
  readonly k: D6Kit;
  /** The migration has the postcopy-ram capability (migrate_postcopy_ram()). */
  readonly postcopy: boolean;
  /** virtio_notify_config(): a config interrupt, unless the driver is gone (no DRIVER_OK). */
  readonly notifyConfig: (s: State) => void;
  /** What the guest reads in free_page_hint_cmd_id (virtio_balloon_get_config()). */
  readonly configCmdId: (s: State) => number;
  /** virtio_balloon_free_page_start(), under free_page_lock: a new id, S_REQUESTED, notify. */
  readonly freePageStart: (s: State) => void;
  /** virtio_balloon_free_page_stop(): S_STOP under free_page_lock, then notify. */
  readonly freePageStop: (s: State) => void;
  /** virtio_balloon_free_page_done(): S_DONE under free_page_lock, then notify. */
  readonly freePageDone: (s: State) => void;
  /** `id == dev->free_page_hint_cmd_id`: the id of the round QEMU handed out last (none before the first). */
  readonly isCurrentCmdId: (s: State, id: number) => boolean;
}

export interface Qemu extends QemuCore {
  /** The `switch (pnd->reason)` of virtio_balloon_free_page_hint_notify(). */
  readonly notifyReason: PrecopyNotify;
  /** virtio_balloon_free_page_hint_notify(), the precopy notifier; the migration thread, BQL. */
  readonly hintNotify: PrecopyNotify;
  /** get_free_page_hints() on an out-buffer: act on the id it read; free_page_lock. */
  readonly cmdIdReceived: (s: State, id: number) => void;
}

/** The parts of QEMU a broken variant may replace, each built from the correct ones. */
export interface QemuOverrides {
  readonly notifyReason?: (q: QemuCore) => PrecopyNotify;
  readonly cmdIdReceived?: (q: QemuCore) => (s: State, id: number) => void;
  readonly hintNotify?: (q: Qemu) => PrecopyNotify;
}

export function qemuDevice(k: D6Kit, postcopy: boolean, o: QemuOverrides): Qemu {
  const { at, is } = k;
  const st = is.dev.status;

  const notifyConfig = (s: State): void => {
    if (!s[at.balloon.unloaded]) s[at.dev.irq] = 1;
  };

  // S_START leaves the field 0, i.e. STOP.
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

  const freePageStart = (s: State): void => {
    s[at.dev.cmdId]++;
    s[at.dev.status] = st.requested;
    notifyConfig(s);
  };

  const freePageStop = (s: State): void => {
    if (s[at.dev.status] === st.stop) return;
    s[at.dev.status] = st.stop;
    notifyConfig(s);
  };

  const freePageDone = (s: State): void => {
    if (s[at.dev.status] === st.done) return;
    s[at.dev.status] = st.done;
    notifyConfig(s);
  };

  const isCurrentCmdId = (s: State, id: number): boolean => s[at.dev.cmdId] > 0 && id === cmdIdOf(s[at.dev.cmdId]);

  const notifyReason: PrecopyNotify = (s, reason, vmRunning) => {
    switch (reason) {
      case 'before-bitmap-sync':
        freePageStop(s);
        return;
      case 'after-bitmap-sync':
        if (vmRunning) {
          freePageStart(s);
          return;
        }
        // "Set S_DONE before migrating the vmstate, so the guest will reuse all hinted pages once running on the destination."
        freePageDone(s);
        return;
      case 'cleanup':
        // "if something goes wrong during precopy or if migration is canceled, we have to properly communicate S_DONE to the VM."
        freePageDone(s);
        return;
      case 'complete':
        return;
    }
  };

  const cmdIdReceived = (s: State, id: number): void => {
    const status = s[at.dev.status];
    if (status === st.requested && isCurrentCmdId(s, id)) s[at.dev.status] = st.start;
    // "Stop the optimization only when it has started. This avoids a stale stop sign for the previous command."
    else if (status === st.start) s[at.dev.status] = st.stop;
  };

  const core: QemuCore = { k, postcopy, notifyConfig, configCmdId, freePageStart, freePageStop, freePageDone, isCurrentCmdId };
  const reason = o.notifyReason?.(core) ?? notifyReason;
  const hintNotify: PrecopyNotify = (s, r, vmRunning) => {
    // "Let's not start free page hinting if postcopy is possible."
    if (postcopy) return;
    reason(s, r, vmRunning);
  };
  const q: Qemu = { ...core, notifyReason: reason, hintNotify, cmdIdReceived: o.cmdIdReceived?.(core) ?? cmdIdReceived };
  return o.hintNotify === undefined ? q : { ...q, hintNotify: o.hintNotify(q) };
}

/**
 * The iothread's one step. `guestFreePageHint` is migration's
 * qemu_guest_free_page_hint() for one page (migration/ram.c).
 */
export function iothreadSteps(q: Qemu, ring: Ring, guestFreePageHint: (s: State, page: number) => void): { readonly idle: readonly StepSpec[] } {
  const { m, cfg, at, is } = q.k;
  const f = m.f;
  const st = is.dev.status;
  const order = cfg.maxOrder;
  const size = 1 << order;
  const Q = ring.size;

  /** virtio_ballloon_get_free_page_hints() -> get_free_page_hints(): pop the oldest buffer, act on it, virtqueue_push(); free_page_lock. */
  const getFreePageHints: StepSpec = {
    name: 'get_free_page_hints',
    kernel: 'get_free_page_hints(): virtqueue_pop() one buffer, iov_to_buf() an out-buffer\'s id now, act on it, virtqueue_push(); free_page_lock',
    apply: (s) => {
      const e = s[at.vq.slot];
      if (e === 0) return false;
      for (let i = 0; i + 1 < Q; i++) s[at.vq.slot + i] = s[at.vq.slot + i + 1];
      s[at.vq.slot + Q - 1] = 0;
      if (e < ring.firstIn) {
        q.cmdIdReceived(s, ring.outId(s, e));
        return true;
      }
      // An in-buffer: while S_START, qemu_guest_free_page_hint() clears the block in the bitmap.
      const status = s[at.dev.status];
      const h = (e - ring.firstIn) << order;
      for (let p = h; p < h + size; p++) {
        s[f.inflight + p] = NOT_INFLIGHT;
        if (status === st.start) guestFreePageHint(s, p);
      }
      return true;
    },
  };

  return { idle: [getFreePageHints] };
}
