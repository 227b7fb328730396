/**
 * The weighted scheduler, a swarm member's: each enabled step in proportion
 * to its action's weight. A weight of 0 leaves the step out unless nothing
 * else is enabled; with no weight at all it is the uniform scheduler.
 */
import type { Rng } from './rng.js';
import type { StepChooser, WalkSpec } from './scheduler.js';

export class Weighted implements StepChooser {
  start(_rng: Rng, _spec: WalkSpec): void {}

  choose(rng: Rng, spec: WalkSpec, en: Int32Array, n: number): number {
    const w = spec.weights;
    if (w !== undefined) {
      let total = 0;
      for (let i = 0; i < n; i++) total += w[en[i]];
      if (total > 0) {
        let r = rng.unit() * total;
        for (let i = 0; i < n; i++) {
          r -= w[en[i]];
          if (r < 0) return en[i];
        }
        for (let i = n - 1; i >= 0; i--) if (w[en[i]] > 0) return en[i];
      }
    }
    return en[rng.below(n)];
  }
}
