/**
 * zone->lock. It is an owner, not a boolean: a step that needs the lock is
 * disabled while another actor holds it, and "who holds it" is what the
 * no-hint-under-zone-lock invariant reads. Acquire and release are parts of
 * other actors' steps (spin_lock_irqsave / spin_unlock_irqrestore), not
 * steps of their own.
 */
import type { FieldDecl } from './layout.js';
import type { Model, State } from './types.js';

export const LOCK_FREE = 0;

export function lockField(actors: readonly string[]): Record<string, FieldDecl> {
  return {
    lock: { domain: ['free', ...actors], doc: 'zone->lock owner, or free' },
  };
}

/** Lock value for an actor index. */
export function lockValue(actor: number): number {
  return actor + 1;
}

export function lockFree(m: Model, s: State): boolean {
  return s[m.f.lock] === LOCK_FREE;
}

export function lockHeldBy(m: Model, s: State, actor: number): boolean {
  return s[m.f.lock] === actor + 1;
}

/** Actor index holding the lock, or -1. */
export function lockOwner(m: Model, s: State): number {
  return s[m.f.lock] - 1;
}

/** spin_lock(&zone->lock): the caller's guard has already checked lockFree(). */
export function acquire(m: Model, s: State, actor: number): void {
  s[m.f.lock] = actor + 1;
}

/** spin_unlock(&zone->lock). */
export function release(m: Model, s: State): void {
  s[m.f.lock] = LOCK_FREE;
}
