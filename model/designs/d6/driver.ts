/**
 * D6's guest driver (Linux drivers/virtio/virtio_balloon.c): the config
 * change handler, report_free_page_func() on balloon_wq with its START,
 * its loop of get_free_page_and_send() and its STOP, the shrinker, and
 * virtballoon_remove().
 */
import type { StepSpec } from '../../design-api.js';
import { freeOnePage, isFreeHead, rmqueue, smallestFreeOrder } from '../../allocator.js';
import { BACKED, contentAfterFree, guestRead, guestWrite, HINTED, NOT_INFLIGHT, STALE } from '../../host.js';
import type { State } from '../../types.js';
import { acquire, lockFree, release } from '../../zone-lock.js';
import type { D6Kit } from './kit.js';
import type { Qemu } from './qemu.js';
import { OUT_STOP, type Ring } from './ring.js';
import { CMD_DONE, CMD_STOP } from './state.js';

/** The driver's state and helpers, which its steps (and a broken variant's replacement parts) are written against. */
export interface Driver {
  readonly k: D6Kit;
  readonly ring: Ring;
  readonly q: Qemu;
  /** The heads of the zone's MAX_ORDER-1 blocks. */
  readonly heads: readonly number[];
  /** virtio_balloon_cmd_id_received(), without its side effect: the id the driver would now see. */
  readonly peekReceived: (s: State) => number;
  /** virtio_balloon_cmd_id_received(): test_and_clear_bit(), and re-read the config if it was set. */
  readonly readReceived: (s: State) => number;
  /** Some block is on free_page_list. */
  readonly anyHeld: (s: State) => boolean;
  /** free_pages(page, VIRTIO_BALLOON_HINT_BLOCK_ORDER): the caller's guard made sure zone->lock is free. */
  readonly freeBlock: (s: State, head: number) => void;
  /** return_free_pages_to_mm(vb, ULONG_MAX): pop every block off free_page_list and free it. */
  readonly returnAll: (s: State) => void;
  /** prep_new_page() of the driver's allocation: check_poison_mem() reads every page (nothing is written). */
  readonly checkPoison: (s: State, head: number) => void;
  /** virtballoon_remove()'s cancel_work_sync(): a queued work is dropped (a running one is waited for: removal runs between two runs). */
  readonly cancelWorkSync: (s: State) => void;
  /** The rest of remove_common(): the driver is gone, and virtio_reset_device() resets QEMU's device and its ring. */
  readonly resetDevice: (s: State) => void;
}

/** The parts of the driver a broken variant may replace. */
export interface DriverOverrides {
  /** free_pages_prepare() of a block the driver gives back. */
  readonly freePagesPrepare?: (k: D6Kit) => (s: State, head: number) => void;
  /** The virtballoon_remove step, given the correct one. */
  readonly virtballoonRemove?: (d: Driver, correct: StepSpec) => StepSpec;
}

export function balloonDriver(k: D6Kit, ring: Ring, q: Qemu, o: DriverOverrides): Driver {
  const { m, cfg, at } = k;
  const f = m.f;
  const balloon = k.actor.balloon;
  const order = cfg.maxOrder;
  const size = 1 << order;
  const heads = Array.from({ length: cfg.pages >> order }, (_, j) => j << order);

  const peekReceived = (s: State): number => (s[at.balloon.readBit] ? q.configCmdId(s) : s[at.balloon.received]);

  const readReceived = (s: State): number => {
    if (s[at.balloon.readBit]) {
      s[at.balloon.readBit] = 0;
      s[at.balloon.received] = q.configCmdId(s);
    }
    return s[at.balloon.received];
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
  const freePagesPrepare = o.freePagesPrepare?.(k) ?? reinit;

  const freeBlock = (s: State, head: number): void => {
    freePagesPrepare(s, head);
    acquire(m, s, balloon);
    freeOnePage(m, s, head, order, true);
    release(m, s);
  };

  const returnAll = (s: State): void => {
    for (const h of heads) {
      if (!s[at.fpl.held + h]) continue;
      s[at.fpl.held + h] = 0;
      freeBlock(s, h);
    }
  };

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

  const cancelWorkSync = (s: State): void => {
    s[at.balloon.queued] = 0;
    s[at.balloon.readBit] = 0;
  };

  const resetDevice = (s: State): void => {
    s[at.balloon.unloaded] = 1;
    s[at.dev.irq] = 0;
    // virtio_reset_device(): QEMU's reset stops hinting, and the ring loses its buffers.
    q.freePageStop(s);
    for (let i = 0; i < ring.size; i++) s[at.vq.slot + i] = 0;
    for (let p = 0; p < cfg.pages; p++) s[f.inflight + p] = NOT_INFLIGHT;
  };

  return { k, ring, q, heads, peekReceived, readReceived, anyHeld, freeBlock, returnAll, checkPoison, cancelWorkSync, resetDevice };
}

export function driverSteps(d: Driver, o: DriverOverrides) {
  const changed = virtballoonChanged(d);
  const remove = virtballoonRemove(d);
  return {
    balloon: {
      idle: [changed, reportFreePageFunc(d), o.virtballoonRemove?.(d, remove) ?? remove],
      started: [changed, sendCmdIdStart(d)],
      hinting: [changed, sendFreePages(d), getFreePageAndSend(d), allocPagesFails(d)],
      stopping: [changed, sendCmdIdStop(d)],
    },
    shrinker: { idle: [shrinkerScan(d)] },
  };
}

/** virtballoon_changed() -> virtio_balloon_queue_free_page_work(), in any phase of the work; stop_update_lock. */
function virtballoonChanged(d: Driver): StepSpec {
  const { at } = d.k;
  return {
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
}

/** report_free_page_func(): read the cmd id; DONE gives every block back, a new id starts a report; balloon_wq. */
function reportFreePageFunc(d: Driver): StepSpec {
  const { m, at } = d.k;
  const B = d.k.phase.balloon;
  const { peekReceived, readReceived, anyHeld, returnAll } = d;
  return {
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
}

/** virtballoon_remove(): cancel_work_sync(), then remove_common() gives the blocks back and resets the device; no lock. */
function virtballoonRemove(d: Driver): StepSpec {
  const { m, at } = d.k;
  const { anyHeld, returnAll, cancelWorkSync, resetDevice } = d;
  return {
    name: 'virtballoon_remove',
    kernel: 'virtballoon_remove(): cancel_work_sync(), remove_common(): return_free_pages_to_mm(), reset the device',
    apply: (s) => {
      // Between two runs of the work: cancel_work_sync() waits for a running one and drops a queued one.
      if (s[at.balloon.unloaded]) return false;
      // return_free_pages_to_mm() frees under zone->lock: wait for it.
      if (anyHeld(s) && !lockFree(m, s)) return false;
      cancelWorkSync(s);
      // "There might be free pages that are being reported: release them."
      returnAll(s);
      resetDevice(s);
      return true;
    },
  };
}

/** send_cmd_id_start(): cmd_id_active := the id read now, and &cmd_id_active added as an out-buffer; balloon_wq. */
function sendCmdIdStart(d: Driver): StepSpec {
  const { at } = d.k;
  const B = d.k.phase.balloon;
  const Q = d.ring.size;
  const { ring, readReceived } = d;
  return {
    name: 'send_cmd_id_start',
    kernel: 'send_cmd_id_start(): cmd_id_active := the id read now; virtqueue_add_outbuf(&cmd_id_active), kick',
    apply: (s) => {
      // Only used buffers are detached first: a START of an earlier round QEMU has not popped yet now reads the new id.
      const id = readReceived(s);
      s[at.balloon.active] = id;
      // A full ring fails the add ("Failed to send a start id") and the loop runs on.
      const used = ring.used(s);
      if (used < Q) s[at.vq.slot + used] = ring.startEntry(id);
      s[at.balloon.phase] = B.hinting;
      return true;
    },
  };
}

/** send_free_pages(): the id read differs from cmd_id_active, "stop the reporting"; balloon_wq. */
function sendFreePages(d: Driver): StepSpec {
  const { at } = d.k;
  const B = d.k.phase.balloon;
  const { peekReceived, readReceived } = d;
  return {
    name: 'send_free_pages',
    kernel: 'send_free_pages(): a stop id or a new cmd id was received: stop the reporting',
    apply: (s) => {
      if (peekReceived(s) === s[at.balloon.active]) return false;
      readReceived(s);
      s[at.balloon.phase] = B.stopping;
      return true;
    },
  };
}

/** get_free_page_and_send(): alloc_pages(MAX_ORDER-1) under zone->lock, then hint and keep the block; balloon_wq. */
function getFreePageAndSend(d: Driver): StepSpec {
  const { m, at } = d.k;
  const order = d.k.cfg.maxOrder;
  const size = 1 << order;
  const Q = d.ring.size;
  const f = m.f;
  const balloon = d.k.actor.balloon;
  const { ring, heads, peekReceived, readReceived, freeBlock, checkPoison } = d;
  return {
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
      const used = ring.used(s);
      if (Q - used <= 1) {
        freeBlock(s, h);
        return true;
      }
      s[at.vq.slot + used] = ring.inEntry(h);
      for (let p = h; p < h + size; p++) s[f.inflight + p] = HINTED;
      s[at.fpl.held + h] = 1;
      s[f.evHintBy] = balloon + 1;
      return true;
    },
  };
}

/** get_free_page_and_send(): alloc_pages(__GFP_NORETRY) returns NULL, "we have got all the possible free pages"; zone->lock. */
function allocPagesFails(d: Driver): StepSpec {
  const { m, at } = d.k;
  const B = d.k.phase.balloon;
  const order = d.k.cfg.maxOrder;
  const { peekReceived, readReceived } = d;
  return {
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
}

/** send_cmd_id_stop(): the STOP id as an out-buffer, and the work returns; balloon_wq. */
function sendCmdIdStop(d: Driver): StepSpec {
  const { at } = d.k;
  const B = d.k.phase.balloon;
  const Q = d.ring.size;
  const { ring } = d;
  return {
    name: 'send_cmd_id_stop',
    kernel: 'send_cmd_id_stop(): virtqueue_add_outbuf(&cmd_id_stop), kick; the work returns',
    apply: (s) => {
      const used = ring.used(s);
      if (used < Q) s[at.vq.slot + used] = OUT_STOP;
      s[at.balloon.phase] = B.idle;
      return true;
    },
  };
}

/** virtio_balloon_shrinker_scan() -> return_free_pages_to_mm(): free one block off free_page_list; free_page_list_lock. */
function shrinkerScan(d: Driver): StepSpec {
  const { m, at } = d.k;
  const { heads, freeBlock } = d;
  return {
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
}
