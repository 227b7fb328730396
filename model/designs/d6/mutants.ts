/**
 * D6's broken variants, each a named part of free-page-hint.ts's correct
 * design replaced by the code of the version that had the bug (or of a
 * guest that never existed upstream). An object here is a variant's
 * `overrides`; objects with different keys combine by spreading.
 */
import type { StepSpec } from '../../design-api.js';
import type { FreePageHintOverrides } from './free-page-hint.js';
import type { FreePageStartSteps } from './migration.js';
import type { PrecopyNotify, Qemu, QemuCore } from './qemu.js';
import { dirtyLogging } from './state.js';

/** §4 row 30, before dd8eeb9671fc: PRECOPY_NOTIFY_CLEANUP (and COMPLETE) only stop hinting; a cancelled migration never says DONE. */
export const noDoneOnCancel: FreePageHintOverrides = {
  /** virtio_balloon_free_page_hint_notify()'s switch before "virtio-balloon: always indicate S_DONE when migration fails". */
  notifyReason: (q: QemuCore): PrecopyNotify => (s, reason, vmRunning) => {
    switch (reason) {
      case 'before-bitmap-sync':
        q.freePageStop(s);
        return;
      case 'after-bitmap-sync':
        if (vmRunning) q.freePageStart(s);
        else q.freePageDone(s);
        return;
      case 'complete':
      case 'cleanup':
        q.freePageStop(s);
        return;
    }
  },
};

/** §4 row 32, before 1a83e0b9c4: free_page_start() updates cmd_id and status without free_page_lock, so the iothread may see either store first. */
export const startUnlocked: FreePageHintOverrides = {
  freePageStart: (q: Qemu): FreePageStartSteps => {
    const { at, is, phase } = q.k;
    const st = is.dev.status;
    const M = phase.migration;

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
        q.notifyConfig(s);
        s[at.migration.syncs]++;
        s[at.migration.phase] = M.precopy;
        return true;
      },
    });

    return {
      synced: [firstStore('status'), firstStore('cmd_id')],
      'status-stored': [secondStore('cmd_id')],
      'cmd-id-stored': [secondStore('status')],
    };
  },
};

/** Before 20a4da0f2307: the iothread starts a round on any out-buffer carrying the current cmd_id, whatever the status. */
export const startWithoutRequest: FreePageHintOverrides = {
  /** get_free_page_hints() before "virtio-balloon: Prevent guest from starting a report when we didn't request one". */
  cmdIdReceived: (q: QemuCore) => (s, id) => {
    const { at, is } = q.k;
    if (q.isCurrentCmdId(s, id)) s[at.dev.status] = is.dev.status.start;
    else if (s[at.dev.status] === is.dev.status.start) s[at.dev.status] = is.dev.status.stop;
  },
};

/** §4 row 33, before 6c22dc61c76b: remove_common() does not return_free_pages_to_mm(). */
export const unloadLeaks: FreePageHintOverrides = {
  virtballoonRemove: (d, correct) => ({
    ...correct,
    apply: (s) => {
      if (s[d.k.at.balloon.unloaded]) return false;
      d.cancelWorkSync(s);
      d.resetDevice(s);
      return true;
    },
  }),
};

/** §4 row 35: a guest that gives a block back without re-initialising it (no free_pages_prepare()). */
export const noReinitOnReturn: FreePageHintOverrides = {
  freePagesPrepare: () => () => {},
};

/** §4 row 36, with the postcopy option: the notifier without its postcopy check hints as under precopy. */
export const postcopyUnguarded: FreePageHintOverrides = {
  hintNotify: (q) => q.notifyReason,
};

/** QEMU 6.1+ (3143577d6a3f): a hint also clears the hinted pages' dirty bits, as a send would (with manualDirtyLog). */
export const clearLogOnHint: FreePageHintOverrides = {
  guestFreePageHint: (log) => (s, p) => {
    const { m, at } = log.k;
    if (!dirtyLogging(m, s)) return;
    // "The skipped free pages are equavelent to be sent from clear_bmap's perspective".
    log.clearLog(s, p);
    s[at.mig.bmap + p] = 0;
  },
};
