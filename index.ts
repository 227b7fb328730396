/** hintcheck as a library: write a design, check it, run the matrix, or drive the explorer directly. */
export { defineDesign } from './model/design-api.js';
export type { ActorsSpec, Args, DesignHooks, DesignSpec, FieldSpec, FieldsSpec, GroupsSpec, Kit, StepSpec, VcpuStepSpec } from './model/design-api.js';
export { check, selectInvariants, verdicts } from './check/check.js';
export type { CheckOptions, CheckReport, InvariantResult, Verdict } from './check/check.js';
export { runMatrix } from './check/matrix/matrix.js';
export { expectedVerdicts } from './check/matrix/rows.js';
export type { MatrixOptions } from './check/matrix/matrix.js';
export type { MatrixRow } from './check/matrix/rows.js';
export { DESIGNS, findDesign } from './model/designs/index.js';
export { INVARIANTS, findInvariant, invariantsFor, knownInvariants } from './invariants/index.js';
export type { Checks, Invariant } from './invariants/index.js';
export { buildModel, resolveConfig } from './model/system.js';
export { UsageError, HOST_MODES, POISON_MODES, lowWatermark, validateConfig } from './model/config.js';
export type { Config, HostMode, PoisonMode } from './model/config.js';
export type { Action, ActionSpec, Design, DesignInstance, Expectation, Hooks, Model, State } from './model/types.js';
export { explore } from './explorers/exhaustive/driver.js';
export type { ExploreOptions, Progress, SearchResult, StopReason, Violation } from './explorers/exhaustive/types.js';
export { concretize, counterexample, describePath, pathTo, storeParents } from './explorers/trace.js';
export type { ParentSource } from './explorers/trace.js';
export type { Trace, TraceStep } from './explorers/trace.js';

/**
 * The shared model's building blocks, for designs: the allocator's list
 * operations, the zone lock, the host's memory, and the vCPU's phases and
 * resume points. Each function works on a working vector of the model it is
 * given and assumes the locks its comment names.
 */
export * as allocator from './model/allocator.js';
export * as host from './model/host.js';
export * as zoneLock from './model/zone-lock.js';
export * as vcpu from './model/vcpu.js';
export * as isolator from './model/isolator.js';
export { DesignError, loadDesignFile } from './check/load/load.js';
