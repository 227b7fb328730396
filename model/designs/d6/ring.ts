/**
 * free_page_vq as D6 holds it: one state word per slot, oldest first, 0 for
 * an empty slot. An out-buffer is named by the word it points at, not by the
 * id it held when added: QEMU's get_free_page_hints() reads the word with
 * iov_to_buf() when it pops the entry. send_cmd_id_stop() adds
 * &vb->cmd_id_stop, which always holds VIRTIO_BALLOON_CMD_ID_STOP;
 * send_cmd_id_start() adds &vb->cmd_id_active, which every later
 * send_cmd_id_start() rewrites. A START held by value (the startByValue
 * option, a candidate fix) carries the id it was added with instead.
 */
import type { Config } from '../../config.js';
import type { State } from '../../types.js';
import { CMD_IDS, CMD_STOP } from './state.js';

/** free_page_vq entries: a slot for every MAX_ORDER-1 block of the zone, one for the cmd id, one spare. */
export function vqSize(cfg: Config): number {
  return (cfg.pages >> cfg.maxOrder) + 2;
}

/** Ring entries: empty, one of the driver's two out-buffers, or an in-buffer holding a block. */
export function vqElements(cfg: Config, byValue: boolean): string[] {
  const blocks = Array.from({ length: cfg.pages >> cfg.maxOrder }, (_, j) => `in-${j << cfg.maxOrder}`);
  const starts = byValue ? CMD_IDS.map((c) => `START (carries ${c})`) : ['START (reads cmd_id_active)'];
  return ['empty', 'STOP (cmd_id_stop)', ...starts, ...blocks];
}

/** send_cmd_id_stop()'s out-buffer: &vb->cmd_id_stop, which always holds VIRTIO_BALLOON_CMD_ID_STOP. */
export const OUT_STOP = 1;
/** send_cmd_id_start()'s out-buffer: &vb->cmd_id_active, rewritten by every later send_cmd_id_start() (Linux send_cmd_id_start(); QEMU get_free_page_hints() reads it at pop). */
export const OUT_START = 2;
/** startByValue: the entry of a START that carries `id` (a CMD_IDS index). */
export const startByValue = (id: number): number => OUT_START + id;
/** The ring entry of the block at `head` (blocks are numbered by head >> order). */
export const inBuffer = (head: number, order: number, byValue: boolean): number =>
  OUT_START + (byValue ? CMD_IDS.length : 1) + (head >> order);

/**
 * The ring at state offset `slot`: its size, its first in-buffer entry, how
 * many slots are taken, the entry send_cmd_id_start() adds for `id`, the
 * entry of the block at `head`, and the id get_free_page_hints() reads from
 * an out-buffer entry when it pops it (`active` is the offset of the
 * driver's cmd_id_active).
 */
export interface Ring {
  readonly size: number;
  readonly firstIn: number;
  readonly used: (s: State) => number;
  readonly startEntry: (id: number) => number;
  readonly inEntry: (head: number) => number;
  readonly outId: (s: State, entry: number) => number;
}

export function ringAt(slot: number, active: number, cfg: Config, byValue: boolean): Ring {
  const Q = vqSize(cfg);
  return {
    size: Q,
    firstIn: inBuffer(0, cfg.maxOrder, byValue),
    used: (s) => {
      let n = 0;
      while (n < Q && s[slot + n] !== 0) n++;
      return n;
    },
    startEntry: byValue ? startByValue : () => OUT_START,
    inEntry: (head) => inBuffer(head, cfg.maxOrder, byValue),
    // By reference: send_cmd_id_start() adds &vb->cmd_id_active, which get_free_page_hints()'s iov_to_buf() reads only now.
    outId: (s, e) => (e === OUT_STOP ? CMD_STOP : byValue ? e - OUT_START : s[active]),
  };
}
