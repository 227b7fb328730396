/**
 * Probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi,
 * Nagarakatte, ASPLOS 2010): actors get distinct random priorities, the
 * highest-priority enabled actor runs, and at d-1 random steps the running
 * actor drops below every other. A bug that needs d ordering constraints is
 * found with probability at least 1/(n k^(d-1)). Since our actors loop
 * rather than end, an actor that has taken its share of the walk (depth /
 * actors steps) ranks below all others from then on.
 */
import type { Model } from '../../model/types.js';
import type { Rng } from './rng.js';
import type { StepChooser, WalkSpec } from './scheduler.js';

export class Pct implements StepChooser {
  private readonly m: Model;
  /** The running actor's enabled steps. */
  private readonly mine: Int32Array;
  private readonly priority: Float64Array;
  /** Steps each actor has taken in this walk. */
  private readonly ran: Float64Array;
  /** The walk's change points: step -> the priority the running actor drops to. */
  private changeAt = new Map<number, number>();

  constructor(m: Model) {
    this.m = m;
    this.mine = new Int32Array(m.actions.length);
    this.priority = new Float64Array(m.actors.length);
    this.ran = new Float64Array(m.actors.length);
  }

  /** Distinct initial priorities d..d+n-1 in random order, and d-1 change points among the depth's steps. */
  start(rng: Rng, spec: WalkSpec): void {
    const d = Math.max(1, spec.pctDepth ?? 3);
    const n = this.m.actors.length;
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = rng.below(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let i = 0; i < n; i++) this.priority[order[i]] = d + i;
    this.ran.fill(0);
    const changeAt = new Map<number, number>();
    for (let i = 1; i < d; i++) {
      const at = rng.below(Math.max(1, spec.depth));
      // Two change points on one step: the later one's (lower) priority wins, as if one step apart.
      changeAt.set(at, d - i);
    }
    this.changeAt = changeAt;
  }

  choose(rng: Rng, spec: WalkSpec, en: Int32Array, n: number, step: number): number {
    const acts = this.m.actions;
    // PCT assumes threads that end; ours loop (a vCPU allocates and frees for ever), and the
    // first in line would starve the rest. So an actor that has had its share of the walk
    // (depth / actors steps) has ended, as far as priorities go: it runs only when no other can.
    const share = Math.max(1, Math.floor(spec.depth / this.m.actors.length));
    const rank = (actor: number): number => (this.ran[actor] >= share ? this.priority[actor] - 1e9 : this.priority[actor]);
    const top = (): number => {
      let best = -1;
      for (let i = 0; i < n; i++) {
        const actor = acts[en[i]].actor;
        if (best < 0 || rank(actor) > rank(best)) best = actor;
      }
      return best;
    };
    let actor = top();
    const lower = this.changeAt.get(step);
    if (lower !== undefined) {
      this.priority[actor] = lower;
      actor = top();
    }
    // Among the running actor's enabled steps (an allocation's choice of block, say), uniformly.
    let k = 0;
    for (let i = 0; i < n; i++) if (acts[en[i]].actor === actor) this.mine[k++] = en[i];
    this.ran[actor]++;
    return this.mine[rng.below(k)];
  }
}
