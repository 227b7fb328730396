/**
 * What an exhaustive search is asked and what it answers: the options, the
 * reductions, the progress it reports and the result with its violations.
 * Both the one-thread driver and the parallel search speak these types.
 */
import type { Invariant } from '../../model/types.js';
import type { StateStore } from '../store.js';

/** Which reductions a search applies. */
export interface Reductions {
  /** Store one canonical state per class of symmetric states (the design's `symmetry`). */
  readonly symmetry: boolean;
  /** Explore an actor's steps alone where they are local (ample sets, the design's `local` steps). */
  readonly por: boolean;
}

export const NO_REDUCTIONS: Reductions = { symmetry: false, por: false };

/** Where a search stops short, on one engine or several, and how it reports while it runs. */
export interface SearchLimits {
  /** Refuse to grow the visited set past this many bytes (the search stops, unknown). */
  readonly memoryLimit?: number;
  /** Stop (incomplete) once this many distinct states are stored. */
  readonly maxStates?: number;
  /** Stop (incomplete) after this many seconds. */
  readonly maxSeconds?: number;
  /** Called at most once per `progressMs` with the search's counters. */
  readonly onProgress?: (p: Progress) => void;
  readonly progressMs?: number;
  /** A word (on a SharedArrayBuffer) that, once nonzero, stops the search: `interrupted`, incomplete. */
  readonly interrupt?: Int32Array;
}

export interface ExploreOptions extends SearchLimits {
  readonly invariants: readonly Invariant[];
  readonly reduce?: Reductions;
}

export interface Progress {
  readonly states: number;
  readonly transitions: number;
  readonly queue: number;
  readonly depth: number;
  readonly seconds: number;
}

/** A stored state: its two segment ids and the BFS depth it was first reached at. */
export interface StateRef {
  readonly a: number;
  readonly b: number;
  readonly depth: number;
}

/** Where a violation was seen: a state (the end of the trace) or a step out of a state. */
export interface Violation {
  readonly invariant: Invariant;
  readonly message: string;
  /** Length of the shortest counterexample. */
  readonly depth: number;
  /** The violating state, for state invariants. */
  readonly state?: StateRef;
  /** The state the violating step leaves, and the step, for edge invariants. */
  readonly from?: StateRef;
  readonly action?: number;
  /** Packed words of the violating state (state invariants) or of the state the step leaves (edge invariants). */
  readonly words: Uint32Array;
}

export type StopReason = 'exhausted' | 'max-states' | 'max-seconds' | 'all-violated' | 'memory-limit' | 'store-full' | 'interrupted';

/** What every exhaustive search says of itself, on one engine or on several: how far it got, and why it stopped there. */
export interface SearchTotals {
  readonly complete: boolean;
  readonly stoppedBy: StopReason;
  readonly states: number;
  /** Successors computed, duplicates included (SPIN's and Rumur's "transitions"/"rules fired"). */
  readonly transitions: number;
  /** Deepest BFS level reached. */
  readonly depth: number;
  readonly seconds: number;
  /** Why the store stopped the search, when it did. */
  readonly note?: string;
  readonly reduce: Reductions;
  /** With symmetry: how many concrete states the canonical ones stand for. */
  readonly represented?: number;
}

/** A search's coverage counters (see Engine.fired, Engine.reachedDepth). */
export interface SearchCoverage {
  readonly fired: Float64Array;
  readonly reachedDepth: Float64Array;
}

export interface SearchResult extends SearchTotals, SearchCoverage {
  readonly bytes: number;
  readonly violations: ReadonlyMap<string, Violation>;
  readonly store: StateStore;
  /** Where each invariant's precondition first held (see Engine.reachedFrom). */
  readonly reachedFrom: readonly ({ readonly a: number; readonly b: number; readonly depth: number } | undefined)[];
}
