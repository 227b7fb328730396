import type { Config } from './config.js';
import type { Action, Model, State } from './types.js';

/**
 * A named property, checked by every explorer (exhaustive, parallel,
 * random, replay, shrinking, witnesses, trace rebuilding) alike:
 *
 *  - `state` on every distinct state reached, the initial one included;
 *  - `edge` on every transition taken, with the step's events (the
 *    transient fields it set) in `after` and the step itself in `action`.
 *
 * Both return null when the property holds and one sentence saying what is
 * wrong when it does not. Two declarations let the explorer skip work, and
 * are promises the explorer spot-checks (on a sample of states every check
 * runs regardless; a broken promise is an error, never a verdict):
 *
 *  - `events`: `edge` returns null on every step that raises none of these
 *    events, so it runs only on steps that raise one. Without `events` it
 *    runs on every transition.
 *  - `reads`: `state` is a function of these groups alone.
 */
export interface Checks {
  readonly state?: (s: State) => string | null;
  readonly edge?: (before: State, after: State, action: Action) => string | null;
  /**
   * The events `edge` depends on: names of the `events` group (`hintBy`,
   * `served`, `badPage`, `badRead`, `rereported`, `fakeOom`, and the
   * design's own), or `group.field` of another transient field.
   */
  readonly events?: readonly string[];
  /**
   * The layout groups `state` reads, when it reads only some. If they all
   * lie in one storage segment, the explorer checks each distinct segment
   * once instead of each state.
   */
  readonly reads?: readonly string[];
  /**
   * Coverage: whether a state (or a step) is one the invariant has
   * something to say about, e.g. a hint in flight for "no reuse while
   * hinting". A `holds` whose precondition was never reached proves
   * nothing, and the report says `unreached` beside it. Without `reached`
   * the invariant has something to say about every state.
   */
  readonly reached?: {
    readonly state?: (s: State) => boolean;
    readonly edge?: (before: State, after: State, action: Action) => boolean;
  };
}

export interface Invariant {
  readonly id: string;
  /** The shared invariants' number (1-7); a design's own may carry one too (e.g. D6's 2' and 4'). */
  readonly number?: number;
  readonly title: string;
  /** A column heading for the matrix, e.g. `2 reuse`. */
  readonly short: string;
  /** Why it matters, for `hintcheck list` and the docs. */
  readonly why: string;
  /** Whether the property says anything in this configuration. */
  readonly applies: (cfg: Config) => boolean;
  /** Why it does not apply, when it does not. */
  readonly notApplicable?: string;
  /** What `Checks.reached` looks for, in a few words (e.g. `a hint in flight`). */
  readonly precondition?: string;
  readonly bind: (m: Model) => Checks;
}
