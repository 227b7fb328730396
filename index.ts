/**
 * hintcheck as a library: write a design, check it on one engine, on every
 * core or by random walks, and run the regression matrix. Everything else
 * (the engines, the stores, the layout) is the tool's own and may change.
 */

// ---- Writing a design (docs/writing-a-design.md) ----

/** Turn a design spec (actors, state, steps, hooks, expectations) into a checkable design; mistakes in it are DesignErrors. */
export { defineDesign } from './model/design-api.js';
export type { ActorsSpec, Args, DesignHooks, DesignSpec, FieldSpec, FieldsSpec, GroupsSpec, Kit, StepSpec, VcpuStepSpec } from './model/design-api.js';
/** A design (built in or defined), the matrix rows it declares, and the packed state its steps work on. */
export type { Design, Expectation, State } from './model/types.js';
/** A design's own invariant: a state or edge property with the precondition that makes it meaningful. */
export type { Checks, Invariant } from './model/types.js';

/**
 * The shared model's building blocks, for designs: the allocator's list
 * operations, the zone lock, the host's memory, the vCPU's phases and resume
 * points, the pageblock isolator. Each function works on a working vector of
 * the model it is given and assumes the locks its comment names.
 */
export * as allocator from './model/allocator.js';
export * as host from './model/host.js';
export * as zoneLock from './model/zone-lock.js';
export * as vcpu from './model/vcpu.js';
export * as isolator from './model/isolator.js';

/** The bounds of a check, the host and poison modes, and the low watermark as __setup_per_zone_wmarks() derives it. */
export { HOST_MODES, POISON_MODES, lowWatermark } from './model/config.js';
export type { Config, HostMode, PoisonMode } from './model/config.js';

// ---- Checking ----

/** An exhaustive check on this thread: a verdict per invariant (holds, violated with the shortest counterexample, or unknown). */
export { check } from './check/check.js';
/** The same check on every core (`workers`, and `source` so the workers can load the design); same verdicts and counts. */
export { checkParallel } from './check/check.js';
export type { CheckOptions, ParallelCheckOptions, ReduceMode } from './check/options.js';
export type { CheckReport, InvariantResult, Verdict } from './check/verdicts.js';
/** What a search reports while it runs, and why it stopped. */
export type { Progress, StopReason } from './explorers/exhaustive/types.js';
/** A check by random walks, PCT or a swarm: finds violations, never proves (its other verdicts are unknown). */
export { checkRandom } from './check/random.js';
export type { RandomCheckOptions, RandomReport, RandomResult } from './check/random.js';
/** A counterexample step by step: each step's actor, kernel function and the changes it made. */
export type { Trace, TraceStep } from './explorers/trace.js';

/** Every design at its declared bounds against its expectations, as `hintcheck matrix` runs it. */
export { runMatrix } from './check/matrix/matrix.js';
export type { MatrixOptions } from './check/matrix/matrix.js';
/** A matrix row's expected verdict per invariant. */
export { expectedVerdicts } from './check/matrix/rows.js';
export type { MatrixRow } from './check/matrix/rows.js';

// ---- The catalogue ----

/** The designs of the kernel's history (designs.md), and one by id (a UsageError naming the accepted ids). */
export { DESIGNS, findDesign } from './model/designs/index.js';
/** The shared invariants, one by id, and those that apply to a design at a configuration. */
export { INVARIANTS, findInvariant, invariantsFor } from './invariants/index.js';

// ---- Design files and errors ----

/** Load the designs of a TypeScript or JavaScript file, type-checked against this installation. */
export { loadDesignFile } from './check/load/load.js';
/** A mistake in a design (exit code 2 on the command line), and a mistake in how it was asked for. */
export { DesignError, UsageError } from './model/errors.js';
