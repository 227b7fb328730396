import type { Config } from './config.js';
import type { FieldDecl, GroupDecl, Layout } from './layout.js';

/**
 * A working vector: one byte per field element, laid out by the model's
 * Layout. A transition is handed a private copy of the current state and
 * either changes it into the successor (returning true) or leaves it alone
 * and returns false when its guard does not hold.
 */
export type State = Uint8Array;

/** Byte offsets of the fields every design shares (allocator, zone lock, vCPUs, host memory). */
export interface CoreFields {
  /** zone.lock: 0 when free, else the owner's actor index + 1. */
  readonly lock: number;
  /** zone.nrFree[order]: free_area[order].nr_free. */
  readonly nrFree: number;
  /** pages.owner[p]: where base page p is (see Owner). */
  readonly owner: number;
  /** pages.order[p]: order of the block p heads (heads only, else 0). */
  readonly order: number;
  /** pages.reported[p]: PageReported on a free head. */
  readonly reported: number;
  /** memory.content[p]: what the guest would read from p (see Content). */
  readonly content: number;
  /** memory.backing[p]: whether the host backs p with a page. */
  readonly backing: number;
  /** memory.inflight[p]: a hint covering p is with the host (see Inflight). */
  readonly inflight: number;
  /**
   * obligations.owed[p] (a ghost, -1 where no-missed-hints does not apply):
   * a free that notifies put p on a free list and nothing has discharged it.
   */
  readonly owed: number;
  /** pageblocks.mt[pb] (--migratetypes on; -1 otherwise): MOVABLE or ISOLATE. */
  readonly pbMt: number;
  /** isolator.phase / isolator.block (--migratetypes on; -1 otherwise). */
  readonly isoPhase: number;
  readonly isoBlock: number;
  /** vcpus.phase[c] / head[c] / order[c]: where vCPU c is in its alloc-use-free cycle and the block it holds. */
  readonly vPhase: number;
  readonly vHead: number;
  readonly vOrder: number;
  /** Transient events of the step just taken, read by edge invariants. */
  readonly evHintBy: number;
  readonly evServed: number;
  readonly evBadPage: number;
  readonly evBadRead: number;
  /** page + 1 of a page hinted again while the host had it and the guest had not touched it since. */
  readonly evRereported: number;
  /** vCPU + 1 whose allocation failed while the hint engine held enough free memory to satisfy it. */
  readonly evFakeOom: number;
  /** page + 1 of a page that entered __free_one_page() still flagged Reported (allocator-conservation). */
  readonly evBadFree: number;
}

/** Kernel points a hint engine may hook. Each hook runs inside the caller's step and assumes its locks. */
export interface Hooks {
  /**
   * arch_free_page() in free_pages_prepare(), no lock held; `when` says
   * whether it runs before or after kernel_poison_pages(). Return true when
   * the hook issued a synchronous hint and the vCPU must wait for the host.
   */
  readonly archFreePage?: (s: State, cpu: number, head: number, order: number, when: 'before-poison' | 'after-poison') => boolean;
  /**
   * End of __free_one_page(), zone->lock held: the merged block now heads
   * the free list of `order`. `notify` is false for __putback_isolated_page
   * (FPI_SKIP_REPORT_NOTIFY).
   */
  readonly freeOnePageDone?: (s: State, head: number, order: number, notify: boolean) => void;
  /**
   * Inside __free_one_page()'s merge loop of a vCPU's free, zone->lock held,
   * right after a merge raised the block to `order`. Return a vCPU phase
   * to park the vCPU in (the block goes to merge limbo, off every list, and
   * the lock stays held), or -1 to merge on.
   */
  readonly mergeStep?: (s: State, cpu: number, head: number, order: number) => number;
  /** At __free_one_page()'s done_merging label, before add_to_free_list(); as mergeStep. */
  readonly doneMerging?: (s: State, cpu: number, head: number, order: number) => number;
  /** After __rmqueue_smallest() handed vCPU `cpu` its block, zone->lock held. */
  readonly allocated?: (s: State, cpu: number, head: number, order: number) => void;
  /** Whether an allocation may take the free block at `head` (e.g. not on an isolated pageblock's list). */
  readonly allocatable?: (s: State, head: number, order: number) => boolean;
  /**
   * Of a free block `allocatable` refuses: whether the hint engine is what
   * keeps it from the allocator (no-fake-oom counts it as memory the engine
   * holds). Without it, every block `allocatable` refuses is the engine's.
   */
  readonly withheldByEngine?: (s: State, head: number, order: number) => boolean;
  /** A guest write to page `page` (data at allocation, or the poison at free): dirty logging. */
  readonly pageWritten?: (s: State, page: number) => void;
  /**
   * Whether a free that lands this block (order >= R) asks the hint engine
   * for a hint, as far as no-missed-hints is concerned; without it, every
   * such free does. False where the design's documented policy is not to
   * hint at all (D1 and D2 under page poisoning: the static key is off).
   */
  readonly asksForHint?: (s: State, head: number, order: number) => boolean;
  /**
   * Whether a design actor holds page `page` in merge limbo (off every list,
   * no vCPU's): D2's offliner keeps an offlined pageblock there. Without it,
   * every limbo page must lie in the block of a vCPU parked in a design phase.
   */
  readonly limboHeld?: (s: State, page: number) => boolean;
  /**
   * A broken design whose del_page_from_free_list() forgets
   * __ClearPageReported(): the flag stays on a block that leaves a free list.
   */
  readonly keepReportedOffList?: boolean;
}

/** One enabled-or-not step of one actor, with its arguments fixed. */
export interface ActionSpec {
  /** Actor index (vCPUs first, then the design's actors, then the host). */
  readonly actor: number;
  /** Short name used in traces, e.g. `alloc_pages`. */
  readonly name: string;
  /** The kernel (or QEMU) function the step stands for, and the lock it assumes. */
  readonly kernel: string;
  /** Named arguments, as shown in traces. */
  readonly args: Readonly<Record<string, number | string>>;
  /**
   * A cheap pre-guard: the step is only tried when s[guardAt] === guardIs
   * (typically the actor's phase). -1 when the step has none.
   */
  readonly guardAt: number;
  readonly guardIs: number;
  /** A second pre-guard of the same kind (e.g. the block is a free head), or -1. */
  readonly guard2At?: number;
  readonly guard2Is?: number;
  readonly apply: (s: State) => boolean;
  /**
   * For partial-order reduction: whether, in state s, the step is safe to
   * explore alone (with its actor's other steps): it touches only state no
   * other actor can read or write before it runs, and changes nothing an
   * invariant reads. Only steps that declare it can be part of a reduced
   * (ample) set; see docs/reductions.md for the argument per design.
   */
  readonly local?: (s: State) => boolean;
}

export interface Action extends ActionSpec {
  readonly id: number;
}

/** What a design adds to the shared model, bound to one model instance. */
export interface DesignInstance {
  readonly actions: readonly ActionSpec[];
  readonly hooks: Hooks;
  /** Set the design's own fields in the booted initial state. */
  init(s: State): void;
  /** No hint work pending or running, no hint with the host: part of quiescence. */
  idle(s: State): boolean;
}

export interface Expectation {
  /** Config overrides for this check (merged over the design's defaults). */
  readonly config?: Partial<Config>;
  /** Expected verdict per invariant id; invariants not listed are expected to hold. */
  readonly violates: readonly string[];
  /** Why, in a sentence a reviewer can check against designs.md. */
  readonly why: string;
  /** Set when a bound is smaller than designs.md suggests for this design: which, and why. The matrix prints it. */
  readonly smaller?: string;
}

export interface Design {
  readonly id: string;
  readonly title: string;
  /** One paragraph: what the design does and where it comes from. */
  readonly summary: string;
  /** Known-broken variants say what they break. */
  readonly broken?: string;
  readonly defaults: Partial<Config>;
  /** The design's own actors, e.g. ['reporter']. */
  readonly actors: readonly string[];
  /** The host acks a hint before its discard lands (a broken variant): inflight gets an 'acked' state. */
  readonly hostAcksEarly?: boolean;
  /** The design reads the zone's watermarks: Config.watermarkMin is set (default 0) and --watermark-min accepted. */
  readonly watermarks?: boolean;
  /** The design takes part in pageblock migratetypes: --migratetypes on adds the pageblock types, the merge restriction and the isolator actor. */
  readonly migratetypes?: boolean;
  /** Bounds under which the design can never act (e.g. a watermark gate no zone of that size passes): the problem, in one line. */
  readonly checkConfig?: (cfg: Config) => string | undefined;
  /** vCPU phases the design adds (after the core ones), for vCPU steps of its own. */
  readonly vcpuPhases?: readonly string[];
  /**
   * A transition system of its own (a reference port of another checker's
   * model): no shared allocator, vCPUs or host memory. Its actors come from
   * `actorsFor` (ending with 'host'), and its groups must include `zone.lock`
   * encoded as the shared lock is (0 free, else actor index + 1), which is
   * what the shared lock and event invariants read.
   */
  readonly standalone?: boolean;
  readonly actorsFor?: (cfg: Config) => readonly string[];
  /** Named mutants the design accepts in `--mutant`. */
  readonly mutants?: readonly string[];
  /**
   * Symmetry: a function putting a state into the canonical form of its
   * class (interchangeable vCPUs, or pages of a flat design), in place,
   * leaving transient fields alone; and the size of a canonical state's
   * class, so the report can say how many concrete states the reduced
   * search stands for. Invariants must not tell symmetric states apart.
   */
  readonly symmetry?: (m: Model) => { readonly canon: (s: State) => void; readonly orbit: (s: State) => number };
  /** The reductions proven sound for this design's invariants: what `--reduce` defaults to. */
  readonly reductions?: { readonly symmetry?: boolean; readonly por?: boolean };
  /** The design's own state fields. */
  readonly groups: (cfg: Config) => readonly GroupDecl[];
  /** Events of the design's own (transient fields of the `events` group, beside the shared ones). */
  readonly events?: (cfg: Config) => Readonly<Record<string, FieldDecl>>;
  readonly instantiate: (m: Model) => DesignInstance;
  /** Checks that make up the regression matrix for this design. */
  readonly expect: readonly Expectation[];
  /**
   * Invariants this design violates by design, with the reason (e.g. the
   * double reports D5 trades for a simple flag rule): their violations are
   * reported, but they are not failures.
   */
  readonly accepts?: Readonly<Record<string, string>>;
  /** Invariants of the design's own (e.g. D6's migration properties), checked beside the shared ones. */
  readonly invariants?: readonly Invariant[];
  /** Shared invariants that say nothing about this design, with the reason. */
  readonly skip?: Readonly<Record<string, string>>;
  /** The file the design was loaded from (--design-file), as given, for messages and replay commands. */
  readonly source?: string;
  /** A hash of that file's source, so that a replay can tell the file has changed since. */
  readonly sourceHash?: string;
}

export interface Model {
  readonly cfg: Config;
  readonly design: Design;
  readonly layout: Layout;
  readonly f: CoreFields;
  /** Actor names: vcpu0.., the design's actors, host. */
  readonly actors: readonly string[];
  readonly host: number;
  readonly actions: readonly Action[];
  readonly hooks: Hooks;
  readonly instance: DesignInstance;
  initial(): State;
}

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

/** The design of `pool` with this id; else the error `miss` makes of the accepted ids ("a, b, c"). */
export function designIn(pool: readonly Design[], id: string, miss: (accepted: string) => Error): Design {
  const d = pool.find((x) => x.id === id);
  if (d === undefined) throw miss(pool.map((x) => x.id).join(', '));
  return d;
}
