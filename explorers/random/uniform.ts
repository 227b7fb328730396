/** The uniform scheduler: each enabled step alike. */
import type { Rng } from './rng.js';
import type { StepChooser, WalkSpec } from './scheduler.js';

export class Uniform implements StepChooser {
  start(_rng: Rng, _spec: WalkSpec): void {}

  choose(rng: Rng, _spec: WalkSpec, enabled: Int32Array, n: number): number {
    return enabled[rng.below(n)];
  }
}
