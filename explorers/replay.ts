/**
 * Counterexamples that outlive the run that found them: a schedule names
 * each step by its actor, action and arguments (not by a position in the
 * action table, which moves when the model changes), and travels as a
 * trace file (JSON, readable) or as a replay token (the same content,
 * deflated, in one line to paste into an issue).
 *
 * Replaying finds, at each step, the enabled step with that name. When
 * there is none, the model has changed under the trace: the replay stops
 * there and names the step and what is enabled instead.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Config } from '../model/config.js';
import { UsageError } from '../model/config.js';
import type { Model, State } from '../model/types.js';
import { enabledIds, stepFrom } from './step.js';
import { stepText } from '../model/describe.js';

export const TOKEN_PREFIX = 'hc1:';
export const TRACE_FORMAT = 'hintcheck-trace';

export interface StepName {
  readonly actor: string;
  readonly action: string;
  readonly args: Readonly<Record<string, number | string>>;
}

export interface Schedule {
  readonly design: string;
  /** A design from a file: the file as it was given, and a hash of its source then (load.sourceHash). */
  readonly file?: string;
  readonly sourceHash?: string;
  readonly config: Config;
  readonly steps: readonly StepName[];
  /** The invariant the schedule violates, as found. */
  readonly invariant?: string;
  /** How it was found: explorer, seed and walk, for the record. */
  readonly explorer?: string;
  readonly seed?: number;
  readonly run?: number;
}

export interface TraceFile extends Schedule {
  readonly format: typeof TRACE_FORMAT;
  readonly version: 1;
  readonly message?: string;
  readonly token: string;
}

export function stepName(m: Model, id: number): StepName {
  const a = m.actions[id];
  return { actor: m.actors[a.actor], action: a.name, args: a.args };
}

export function stepLabel(n: StepName): string {
  return stepText(n.actor, n.action, n.args);
}

export function scheduleOf(m: Model, ids: readonly number[], extra: Omit<Schedule, 'design' | 'config' | 'steps' | 'file' | 'sourceHash'> = {}): Schedule {
  return {
    design: m.design.id,
    ...(m.design.source !== undefined ? { file: m.design.source } : {}),
    ...(m.design.sourceHash !== undefined ? { sourceHash: m.design.sourceHash } : {}),
    config: m.cfg,
    steps: ids.map((id) => stepName(m, id)),
    ...extra,
  };
}

/** A word as a POSIX shell reads it back: bare when it is safe, else single-quoted. */
function shellWord(w: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** The command that replays a token, as a report prints it: with the design file when there is one. */
export function replayCommand(token: string, file?: string): string {
  return `npx hintcheck replay ${file !== undefined ? `--design-file ${shellWord(file)} ` : ''}${token}`;
}

export function encodeToken(s: Schedule): string {
  // Steps as compact labels: [actor, action, args...] keeps the token short.
  const body = {
    d: s.design,
    ...(s.file !== undefined ? { f: s.file } : {}),
    ...(s.sourceHash !== undefined ? { h: s.sourceHash } : {}),
    c: s.config,
    s: s.steps.map((x) => [x.actor, x.action, x.args]),
    ...(s.invariant !== undefined ? { i: s.invariant } : {}),
    ...(s.explorer !== undefined ? { e: s.explorer } : {}),
    ...(s.seed !== undefined ? { r: s.seed } : {}),
    ...(s.run !== undefined ? { w: s.run } : {}),
  };
  return TOKEN_PREFIX + deflateRawSync(Buffer.from(JSON.stringify(body))).toString('base64url');
}

function bad(what: string): never {
  throw new UsageError(`replay: ${what}: give a trace file written by --trace-out or a replay token (${TOKEN_PREFIX}...)`);
}

function asSteps(x: unknown): StepName[] {
  if (!Array.isArray(x)) bad('no list of steps');
  return x.map((st: unknown, i) => {
    if (Array.isArray(st) && typeof st[0] === 'string' && typeof st[1] === 'string' && typeof st[2] === 'object' && st[2] !== null) return { actor: st[0], action: st[1], args: st[2] as Record<string, number | string> };
    if (typeof st === 'object' && st !== null && typeof (st as StepName).actor === 'string' && typeof (st as StepName).action === 'string') {
      const o = st as StepName;
      return { actor: o.actor, action: o.action, args: typeof o.args === 'object' && o.args !== null ? o.args : {} };
    }
    return bad(`step ${i + 1} is not an {actor, action, args} step`);
  });
}

export function decodeToken(token: string): Schedule {
  if (!token.startsWith(TOKEN_PREFIX)) bad(`'${token.slice(0, 24)}' is not a replay token`);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(inflateRawSync(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url')).toString('utf8')) as Record<string, unknown>;
  } catch {
    return bad('the replay token is corrupt (it does not inflate to a schedule)');
  }
  if (typeof body.d !== 'string' || typeof body.c !== 'object' || body.c === null) bad('the replay token names no design and configuration');
  return {
    design: body.d as string,
    ...(typeof body.f === 'string' ? { file: body.f } : {}),
    ...(typeof body.h === 'string' ? { sourceHash: body.h } : {}),
    config: body.c as Config,
    steps: asSteps(body.s),
    ...(typeof body.i === 'string' ? { invariant: body.i } : {}),
    ...(typeof body.e === 'string' ? { explorer: body.e } : {}),
    ...(typeof body.r === 'number' ? { seed: body.r } : {}),
    ...(typeof body.w === 'number' ? { run: body.w } : {}),
  };
}

export function traceFile(s: Schedule, message?: string): TraceFile {
  return { format: TRACE_FORMAT, version: 1, ...s, ...(message !== undefined ? { message } : {}), token: encodeToken(s) };
}

/** A trace file's text, or a token: the schedule in it. */
export function parseSchedule(text: string, name: string): Schedule {
  const t = text.trim();
  if (t.startsWith(TOKEN_PREFIX)) return decodeToken(t);
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(t) as Record<string, unknown>;
  } catch {
    return bad(`${name} is neither JSON nor a token`);
  }
  if (o === null || typeof o !== 'object' || o.format !== TRACE_FORMAT) bad(`${name} is not a hintcheck trace (no "format": "${TRACE_FORMAT}")`);
  if (o.version !== 1) bad(`${name} has trace version ${String(o.version)}; this hintcheck reads version 1`);
  if (typeof o.design !== 'string' || typeof o.config !== 'object' || o.config === null) bad(`${name} names no design and configuration`);
  return {
    design: o.design as string,
    ...(typeof o.file === 'string' ? { file: o.file } : {}),
    ...(typeof o.sourceHash === 'string' ? { sourceHash: o.sourceHash } : {}),
    config: o.config as Config,
    steps: asSteps(o.steps),
    ...(typeof o.invariant === 'string' ? { invariant: o.invariant } : {}),
    ...(typeof o.explorer === 'string' ? { explorer: o.explorer } : {}),
    ...(typeof o.seed === 'number' ? { seed: o.seed } : {}),
    ...(typeof o.run === 'number' ? { run: o.run } : {}),
  };
}

/** The trace no longer applies to the model: which step, and what the model offers there. */
export class Diverged extends Error {
  constructor(
    readonly step: number,
    readonly wanted: StepName,
    readonly enabled: readonly StepName[],
  ) {
    super(
      `replay diverges at step ${step}: '${stepLabel(wanted)}' is not enabled here; the model has changed since the trace was written.\n` +
        `  enabled at step ${step}: ${enabled.length === 0 ? 'nothing (no step is enabled)' : enabled.map(stepLabel).join('; ')}`,
    );
    this.name = 'Diverged';
  }
}

function sameName(m: Model, id: number, n: StepName): boolean {
  const a = m.actions[id];
  if (m.actors[a.actor] !== n.actor || a.name !== n.action) return false;
  const ka = Object.keys(a.args);
  const kb = Object.keys(n.args);
  return ka.length === kb.length && ka.every((k) => String(a.args[k]) === String(n.args[k]));
}

/** The action ids of a schedule on this model, or Diverged at the first step it does not offer. */
export function resolveSchedule(m: Model, steps: readonly StepName[]): number[] {
  let s: State = m.initial();
  const ids: number[] = [];
  steps.forEach((want, i) => {
    const enabled = enabledIds(m, s);
    const chosen = enabled.find((id) => sameName(m, id, want)) ?? -1;
    if (chosen < 0) throw new Diverged(i + 1, want, enabled.map((id) => stepName(m, id)));
    ids.push(chosen);
    s = stepFrom(m, s, m.actions[chosen])!;
  });
  return ids;
}
