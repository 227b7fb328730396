/**
 * What the tests share: a design's model at some bounds, its steps looked up
 * the way a trace names them and taken one at a time, states written as
 * readable views, the reachable states of a small zone, counterexamples as
 * `actor: step(args)` lines, and the command line run as a user runs it.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { check } from '../check/check.js';
import type { TraceStep } from '../explorers/trace.js';
import type { Config } from '../model/config.js';
import { argsText } from '../model/describe.js';
import type { RowView, StateView, Value } from '../model/layout.js';
import { buildModel, resolveConfig } from '../model/system.js';
import type { Action, Design, Model, State } from '../model/types.js';

/** The repository's root, where the tests run the command line. */
export const root = fileURLToPath(new URL('..', import.meta.url));
export const bin = fileURLToPath(new URL('../bin/hintcheck.js', import.meta.url));

/** `hintcheck ...args` in a process of its own, from the repository's root: its exit code and output. */
export function hintcheck(args: readonly string[], env: Record<string, string> = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: root, env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

export function model(design: Design, over: Partial<Config> = {}): Model {
  return buildModel(design, resolveConfig(design, over));
}

/** The vector with its transient event fields zeroed, as every explored state has them. */
export function settle(m: Model, s: State): State {
  const w = new Uint32Array(m.layout.words);
  const out = new Uint8Array(m.layout.size);
  m.layout.pack(s, w, 0);
  m.layout.unpack(w, 0, out);
  return out;
}

export function same(a: State, b: State): boolean {
  return Buffer.compare(a, b) === 0;
}

/** Up to `limit` distinct states reachable from the booted one, breadth first, transient events zeroed. */
export function reachable(m: Model, limit = Infinity): State[] {
  const key = (s: State): string => Buffer.from(s.buffer, s.byteOffset, s.byteLength).toString('latin1');
  const seen = new Set<string>();
  const out: State[] = [];
  const add = (s: State): void => {
    const k = key(s);
    if (seen.has(k) || out.length >= limit) return;
    seen.add(k);
    out.push(s);
  };
  add(settle(m, m.initial()));
  for (let i = 0; i < out.length && out.length < limit; i++) {
    for (const a of m.actions) {
      const next = out[i].slice();
      if (a.apply(next)) add(settle(m, next));
    }
  }
  return out;
}

/** The actions of `actor` named `name` whose arguments include `args` (a step listed in several phases is one action per phase). */
export function actions(m: Model, actor: string, name: string, args: Record<string, number | string> = {}): Action[] {
  const found = m.actions.filter(
    (a) => m.actors[a.actor] === actor && a.name === name && Object.entries(args).every(([k, v]) => String(a.args[k]) === String(v)),
  );
  if (found.length === 0) throw new Error(`no action matches ${actor} ${name} ${JSON.stringify(args)}`);
  return found;
}

/** The one action of `actor` named `name` whose arguments include `args`. */
export function action(m: Model, actor: string, name: string, args: Record<string, number | string> = {}): Action {
  const found = m.actions.filter(
    (a) => m.actors[a.actor] === actor && a.name === name && Object.entries(args).every(([k, v]) => String(a.args[k]) === String(v)),
  );
  if (found.length !== 1) throw new Error(`${found.length} actions match ${actor} ${name} ${JSON.stringify(args)}`);
  return found[0];
}

/**
 * Apply `a` to a copy of `s` the way the explorer does (transient events
 * zeroed first). Returns the successor, or null when the step is disabled,
 * after checking that a disabled step left its copy untouched.
 */
export function step(m: Model, s: State, a: Action): State | null {
  const before = settle(m, s);
  const next = before.slice();
  if (!a.apply(next)) {
    expect(Array.from(next), `${a.name} is disabled but changed its copy`).toEqual(Array.from(before));
    return null;
  }
  return next;
}

/** Like step, but the step must be enabled. */
export function take(m: Model, s: State, a: Action): State {
  const next = step(m, s, a);
  expect(next, `${m.actors[a.actor]} ${a.name} ${JSON.stringify(a.args)} should be enabled`).not.toBeNull();
  return next!;
}

export type Patch = { [group: string]: { [field: string]: Value | Value[] } | Partial<RowView>[] };

/** The booted state (or `base`) with `patch` laid over its view: record fields replaced, table rows merged by index. */
export function state(m: Model, patch: Patch, base: State = m.initial()): State {
  const view = m.layout.view(base) as StateView;
  for (const [group, p] of Object.entries(patch)) {
    const cur = view[group];
    if (Array.isArray(cur)) (p as Partial<RowView>[]).forEach((row, i) => Object.assign(cur[i], row));
    else Object.assign(cur, p);
  }
  return m.layout.fromView(view);
}

/** One field of every row of a table group. */
export function column(m: Model, s: State, group: string, field: string): Value[] {
  return (m.layout.view(s, true)[group] as RowView[]).map((r) => r[field]);
}

/** `actor: step(args)`, the way docs/races/ numbers a counterexample. */
export function shape(steps: readonly TraceStep[]): string[] {
  return steps.map((s) => `${s.actor}: ${s.action}${argsText(s.args)}`);
}

/** The shortest counterexample of one invariant, which must be violated. */
export function race(design: Design, config: Partial<Config>, invariant: string): { steps: readonly TraceStep[]; message: string } {
  const r = check(design, { config, invariants: [invariant] });
  const res = r.results[0];
  expect(res.verdict, `${design.id} ${invariant}`).toBe('violated');
  expect(res.trace!.steps).toHaveLength(res.depth!);
  return { steps: res.trace!.steps, message: res.message! };
}

/** Whether `keys` occur in `steps` in this order (other steps may come between). */
export function inOrder(steps: readonly string[], keys: readonly string[]): boolean {
  let i = 0;
  for (const s of steps) if (i < keys.length && s === keys[i]) i++;
  return i === keys.length;
}

/** A step as a test names it: actor, step name, and the arguments it must have. */
export type StepName = readonly [string, string, Record<string, number | string>?];

/** Take the steps in order from `s`; each must be enabled exactly once. */
export function takeSteps(m: Model, s: State, steps: readonly StepName[]): State {
  let cur = settle(m, s);
  for (const [actor, name, args] of steps) {
    const taken = actions(m, actor, name, args ?? {}).flatMap((a) => {
      const next = cur.slice();
      return a.apply(next) ? [next] : [];
    });
    expect(taken, `${actor} ${name} ${JSON.stringify(args ?? {})} enabled once`).toHaveLength(1);
    cur = settle(m, taken[0]);
  }
  return cur;
}
