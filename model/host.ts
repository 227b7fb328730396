/**
 * The host's side of guest memory: per page whether the host backs it, what
 * a guest access would read, and whether a hint covering it is with the host.
 *
 * A discarded page is unbacked; the next guest touch faults in a new page
 * whose content depends on how the host discarded it:
 *   dontneed          MADV_DONTNEED: the touch reads zero.
 *   madv-free         MADV_FREE: the old content, or zero if the host
 *                     reclaimed it meanwhile (a read may see either).
 *   poison-on-fault   the per-VMA poison byte proposed in the seed thread:
 *                     the touch reads the guest's poison value.
 *   skip-if-poisoned  QEMU's virtio_balloon_handle_report(): no discard at
 *                     all when the guest reports a non-zero poison value,
 *                     else MADV_DONTNEED.
 * An unbacked page keeps, as its content, the value the next touch will read
 * (zero or poison; for madv-free the old content), so that states do not
 * differ by bytes nobody can observe.
 */
import type { Config } from './config.js';
import type { FieldDecl } from './layout.js';
import type { Model, State } from './types.js';

export const CONTENTS = ['zero', 'poison', 'data', 'stale'] as const;
export const ZERO = 0;
export const POISON = 1;
export const DATA = 2;
export const STALE = 3;

/** backed: the host backs the page; unbacked: the guest never touched it, or a hint gave it back and it was not touched since. */
export const BACKINGS = ['backed', 'unbacked'] as const;
export const BACKED = 0;
export const UNBACKED = 1;

export const INFLIGHT = ['none', 'hinted', 'acked'] as const;
export const NOT_INFLIGHT = 0;
/** Handed to the host and not yet finished. */
export const HINTED = 1;
/** Acked to the guest while the discard has not landed yet (broken hosts only). */
export const ACKED = 2;

export function memoryFields(acksEarly: boolean): Record<string, FieldDecl> {
  return {
    content: { domain: CONTENTS, doc: 'what a guest read of the page returns: zero, poison, data written by a vCPU, or stale data' },
    backing: { domain: BACKINGS, doc: 'whether the host backs the page (unbacked: never touched, or discarded and not touched since)' },
    inflight: {
      domain: acksEarly ? INFLIGHT : INFLIGHT.slice(0, 2),
      doc: 'a hint covering the page is with the host (acked: acknowledged before its discard landed)',
    },
  };
}

/** The poison value the guest reports (virtio-balloon poison_val): 0 for init_on_free or no poisoning. */
export function guestPoisonValue(cfg: Config): number {
  return cfg.poison === 'on' ? POISON : ZERO;
}

/** What a freed page holds once free_pages_prepare() ran. */
export function contentAfterFree(cfg: Config): number {
  switch (cfg.poison) {
    case 'on':
      return POISON;
    case 'init-on-free':
      return ZERO;
    case 'off':
      return STALE;
  }
}

/**
 * Booted guest: all memory free. With poisoning or init_on_free the boot-time
 * frees wrote every page, so the host backs all of them; without, the guest
 * never touched them and the host never backed them.
 */
export function initMemory(m: Model, s: State): void {
  const f = m.f;
  const touched = m.cfg.poison !== 'off';
  for (let p = 0; p < m.cfg.pages; p++) {
    s[f.content + p] = touched ? contentAfterFree(m.cfg) : ZERO;
    s[f.backing + p] = touched ? BACKED : UNBACKED;
    s[f.inflight + p] = NOT_INFLIGHT;
  }
}

/** Whether the host discards hinted pages at all in this configuration. */
export function hostDiscards(cfg: Config): boolean {
  return !(cfg.host === 'skip-if-poisoned' && guestPoisonValue(cfg) !== ZERO);
}

/** Whether a read of an unbacked page may see something other than its content (madv-free: zero). */
export function readMayFaultZero(cfg: Config): boolean {
  return cfg.host === 'madv-free';
}

/** ram_block_discard_range() / do_madvise(): give page p back to the host. */
export function discardPage(m: Model, s: State, p: number): void {
  const f = m.f;
  switch (m.cfg.host) {
    case 'skip-if-poisoned':
      if (guestPoisonValue(m.cfg) !== ZERO) return;
      s[f.content + p] = ZERO;
      break;
    case 'dontneed':
      s[f.content + p] = ZERO;
      break;
    case 'poison-on-fault':
      s[f.content + p] = guestPoisonValue(m.cfg);
      break;
    case 'madv-free':
      break;
  }
  s[f.backing + p] = UNBACKED;
  // The host has the page: nothing is owed for it any more (allocator.oweHint()).
  if (f.owed >= 0) s[f.owed + p] = 0;
}

/** Guest read of page p; an unbacked page faults in. `zero` picks the madv-free outcome. */
export function guestRead(m: Model, s: State, p: number, zero: boolean): number {
  const f = m.f;
  if (s[f.backing + p] !== BACKED) {
    if (zero) s[f.content + p] = ZERO;
    s[f.backing + p] = BACKED;
  }
  return s[f.content + p];
}

/** Guest write of page p: faults it in if needed. */
export function guestWrite(m: Model, s: State, p: number, value: number): void {
  s[m.f.content + p] = value;
  s[m.f.backing + p] = BACKED;
  if (m.hooks.pageWritten !== undefined) m.hooks.pageWritten(s, p);
}

/**
 * Mark a range as covered by a hint that is now with the host. A page the
 * host does not back (it took it back already, or never had it) gains
 * nothing from the hint: the step's `rereported` event says so
 * (no-double-report).
 */
export function hintRange(m: Model, s: State, head: number, size: number): void {
  const f = m.f;
  for (let p = head; p < head + size; p++) {
    s[f.inflight + p] = HINTED;
    // The engine has done what a free asked of it; what the host then does is the host's.
    if (f.owed >= 0) s[f.owed + p] = 0;
    if (s[f.backing + p] === UNBACKED && s[f.evRereported] === 0) s[f.evRereported] = p + 1;
  }
}

/**
 * The host works through every page in state `from` within [lo, hi):
 * discards it and clears the in-flight mark. Returns how many pages it handled.
 */
export function landDiscards(m: Model, s: State, from: number, lo = 0, hi = m.cfg.pages): number {
  const f = m.f;
  let n = 0;
  for (let p = lo; p < hi; p++) {
    if (s[f.inflight + p] !== from) continue;
    discardPage(m, s, p);
    s[f.inflight + p] = NOT_INFLIGHT;
    n++;
  }
  return n;
}

/** Host acks early: hinted pages stay in flight as 'acked' until their discard lands. */
export function ackBeforeDiscard(m: Model, s: State): void {
  const f = m.f;
  for (let p = 0; p < m.cfg.pages; p++) if (s[f.inflight + p] === HINTED) s[f.inflight + p] = ACKED;
}

export function anyInflight(m: Model, s: State, which: number): boolean {
  const f = m.f;
  for (let p = 0; p < m.cfg.pages; p++) if (s[f.inflight + p] === which) return true;
  return false;
}
