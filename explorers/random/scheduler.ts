/**
 * A scheduler picks the next step of a walk among the enabled ones. Each
 * strategy is a file of its own (uniform.ts, weighted.ts, pct.ts), as
 * shuttle keeps its schedulers; the walker (walk.ts) asks one per step.
 */
import type { Rng } from './rng.js';

export type Scheduler = 'uniform' | 'weighted' | 'pct';

export interface WalkSpec {
  readonly seed: number;
  readonly depth: number;
  readonly scheduler: Scheduler;
  /** pct: the bug depth d (d - 1 priority change points). */
  readonly pctDepth?: number;
  /** weighted: one weight per action id. */
  readonly weights?: readonly number[];
}

export interface StepChooser {
  /** A walk begins: after its initial state is checked, before its first step. */
  start(rng: Rng, spec: WalkSpec): void;
  /** One of the `n` enabled action ids in `enabled` (in id order), at step `step` of the walk. */
  choose(rng: Rng, spec: WalkSpec, enabled: Int32Array, n: number, step: number): number;
}
