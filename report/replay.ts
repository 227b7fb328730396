/** What `hintcheck replay` says: the trace replayed on the model as it is now, as text or JSON. */
import { describeConfig, type Config } from '../model/config.js';
import type { Design } from '../model/types.js';
import { stepLabel, type Diverged, type Schedule } from '../explorers/replay.js';
import type { Trace } from '../explorers/trace.js';
import { formatTrace } from './format.js';
import { stepsJson } from './random.js';

/** A replay that ran to its end: the steps it took, and the violation it met, if any. */
export interface Replayed {
  readonly design: Design;
  readonly config: Config;
  /** The design file changed since the trace was written. */
  readonly sourceChanged: boolean;
  readonly schedule: Schedule;
  readonly steps: number;
  readonly violated?: { readonly invariant: string; readonly message: string; readonly steps: number };
  readonly trace: Trace;
}

export function replayJson(r: Replayed): Record<string, unknown> {
  return {
    design: r.design.id,
    config: r.config,
    ...(r.sourceChanged ? { sourceChanged: true } : {}),
    replayed: r.steps,
    ...(r.schedule.invariant !== undefined ? { expected: r.schedule.invariant } : {}),
    ...(r.violated ? { violated: { invariant: r.violated.invariant, message: r.violated.message, step: r.violated.steps } } : {}),
    trace: stepsJson(r.trace),
  };
}

/** A replay that stopped where the model no longer takes the trace's step. */
export function divergedJson(design: Design, config: Config, sourceChanged: boolean, e: Diverged): Record<string, unknown> {
  return { design: design.id, config, ...(sourceChanged ? { sourceChanged: true } : {}), replayed: e.step - 1, diverged: { step: e.step, wanted: e.wanted, enabled: e.enabled } };
}

export function formatReplay(r: Replayed): string {
  const sched = r.schedule;
  const v = r.violated;
  const lines = [
    `design: ${r.design.id} - ${r.design.title}`,
    `bounds: ${describeConfig(r.config)}`,
    `replay: ${r.steps} step${r.steps === 1 ? '' : 's'}${sched.explorer !== undefined ? ` found by ${sched.explorer}${sched.seed !== undefined ? ` seed ${sched.seed}` : ''}${sched.run !== undefined ? ` walk ${sched.run}` : ''}` : ''}`,
    '',
  ];
  lines.push(...formatTrace(r.trace));
  lines.push('');
  lines.push(
    v
      ? `${v.invariant} violated at step ${v.steps}: ${v.message}${sched.invariant !== undefined && sched.invariant !== v.invariant ? ` (the trace was recorded for ${sched.invariant})` : ''}`
      : `no invariant is violated along the trace${sched.invariant !== undefined ? ` (it was recorded violating ${sched.invariant}: the model no longer does)` : ''}; last step: ${r.steps > 0 ? stepLabel(sched.steps[r.steps - 1]) : 'none'}`,
  );
  return lines.join('\n');
}
