/**
 * The design API: a hint engine written against the shared allocator, zone
 * lock, vCPUs and host, in a file of its own.
 *
 * A design names its actors and each actor's phases; its steps are listed
 * per phase, so a phase without an entry does not compile (an empty list
 * must be written out). It adds state fields in record groups (`state`),
 * per page (`pages`) or per vCPU (`cpus`), and hooks the kernel points a
 * hint engine needs: arch_free_page() before or after poisoning, the merge
 * loop of __free_one_page(), done_merging, the moment a block lands on its
 * free list, and allocation. Steps and hooks receive a Kit: the byte offset
 * of every field, the number of every enum value and phase, and the model
 * (for the allocator, lock and host helpers of src/model).
 *
 * A step is a function of the state: its guard first, returning false
 * before it writes anything, then its effect, writing only the state it was
 * given. `defineDesign` turns the spec into the model's Design.
 */
import type { Invariant } from './invariants/types.js';
import type { Config } from './model/config.js';
import type { Domain, FieldDecl, GroupDecl } from './model/layout.js';
import type { ActionSpec, CoreFields, Design, Expectation, Hooks, Model, State } from './model/types.js';
import { cpuSymmetry } from './model/symmetry.js';
import { PHASES } from './model/vcpu.js';

/** A field: its domain (enum names, `{ max }`, or 'bool'), or the domain with an array length and a doc line. */
export type FieldSpec = Domain | { readonly domain: Domain; readonly count?: number; readonly doc?: string };
export type FieldsSpec = { readonly [field: string]: FieldSpec };
export type GroupsSpec = { readonly [group: string]: FieldsSpec };
/** Actor name -> its phases, the first being where it starts. */
export type ActorsSpec = { readonly [actor: string]: readonly [string, ...string[]] };

type DomainOf<F> = F extends { readonly domain: infer D } ? D : F;
/** Enum fields' values by name; other fields have none. */
type EnumOf<F> = DomainOf<F> extends readonly string[] ? { readonly [K in DomainOf<F>[number]]: number } : Record<string, never>;

type Offsets<G extends GroupsSpec> = { readonly [g in keyof G]: { readonly [f in keyof G[g]]: number } };
type Enums<G extends GroupsSpec> = { readonly [g in keyof G]: { readonly [f in keyof G[g]]: EnumOf<G[g][f]> } };

export type CoreVcpuPhase = (typeof PHASES)[number];

/** What steps and hooks work with: field offsets, enum values, actors, the model. */
export interface Kit<G extends GroupsSpec, P extends GroupsSpec, C extends GroupsSpec, A extends ActorsSpec, V extends readonly string[]> {
  readonly m: Model;
  readonly cfg: Config;
  /** Offsets of the shared fields (allocator, lock, vCPUs, host memory, events). */
  readonly core: CoreFields;
  /**
   * Offset of every design field: `at.group.field`. Add the page (for
   * `pages` groups), the vCPU (for `cpus` groups) or the array index.
   * Each actor's phase is `at.<actor>.phase`.
   */
  readonly at: Offsets<G> & Offsets<P> & Offsets<C> & { readonly [a in keyof A]: { readonly phase: number } };
  /** Value of every enum name: `is.group.field.name`. */
  readonly is: Enums<G> & Enums<P> & Enums<C>;
  /** Value of every phase: `phase.<actor>.<name>`; vCPU phases (core and the design's) under `phase.vcpu`. */
  readonly phase: { readonly [a in keyof A]: { readonly [p in A[a][number]]: number } } & {
    readonly vcpu: { readonly [p in CoreVcpuPhase | V[number]]: number };
  };
  /** Actor indices (vcpuN are 0..cpus-1). */
  readonly actor: { readonly [a in keyof A]: number } & { readonly host: number };
}

export type Args = Readonly<Record<string, number | string>>;

export interface StepSpec {
  readonly name: string;
  /** The kernel (or QEMU) function the step stands for, and the lock it assumes. */
  readonly kernel: string;
  /** One step per entry; omitted: a single step without arguments. */
  readonly args?: readonly Args[];
  /** An optional cheap pre-guard (an offset and the value it must hold), given the step's arguments. */
  readonly pre?: (args: Args) => { readonly at: number; readonly is: number };
  readonly apply: (s: State, args: Args) => boolean;
}

export interface VcpuStepSpec extends Omit<StepSpec, 'apply'> {
  readonly apply: (s: State, cpu: number, args: Args) => boolean;
}

export interface DesignHooks<V extends readonly string[]> {
  /** arch_free_page(), no lock: return true when it issued a synchronous hint the vCPU waits on. */
  readonly archFreePage?: (s: State, cpu: number, head: number, order: number, when: 'before-poison' | 'after-poison') => boolean;
  /** Merge loop, zone->lock held: a design vCPU phase to park the vCPU in (block in limbo), or null to merge on. */
  readonly mergeStep?: (s: State, cpu: number, head: number, order: number) => V[number] | null;
  /** done_merging, before add_to_free_list(): as mergeStep. */
  readonly doneMerging?: (s: State, cpu: number, head: number, order: number) => V[number] | null;
  /** The block landed on free_area[order] (notify: false for __putback_isolated_page()). */
  readonly freeOnePageDone?: (s: State, head: number, order: number, notify: boolean) => void;
  /** __rmqueue_smallest() handed vCPU `cpu` its block. */
  readonly allocated?: (s: State, cpu: number, head: number, order: number) => void;
  /** Whether an allocation may take this free block. */
  readonly allocatable?: (s: State, head: number, order: number) => boolean;
  /** A guest write to a page (data at allocation, the poison at free): dirty logging. */
  readonly pageWritten?: (s: State, page: number) => void;
  /** del_page_from_free_list() forgets __ClearPageReported() (a broken design). */
  readonly keepReportedOffList?: boolean;
}

export interface DesignSpec<
  G extends GroupsSpec,
  P extends GroupsSpec,
  C extends GroupsSpec,
  A extends ActorsSpec,
  V extends readonly string[],
> {
  readonly id: string;
  readonly title: string;
  /** One paragraph: what the design does and where it comes from. */
  readonly summary: string;
  /** For a broken design: what it breaks. */
  readonly broken?: string;
  readonly defaults?: Partial<Config>;
  /** The design's actors and their phases (the first phase is the initial one). */
  readonly actors: A;
  /** Record groups of the design's own state (an actor's group also gets its `phase`). */
  readonly state?: (cfg: Config) => G;
  /** Groups with one row per page. */
  readonly pages?: (cfg: Config) => P;
  /** Groups with one row per vCPU. */
  readonly cpus?: (cfg: Config) => C;
  /** vCPU phases the design adds, for vCPU steps of its own (e.g. parked in the merge loop). */
  readonly vcpuPhases?: V;
  /** The host acks before its discard lands (a broken host). */
  readonly hostAcksEarly?: boolean;
  /** Set the design's fields in the booted state (fields start at 0, actors in their first phase). */
  readonly init?: (k: Kit<G, P, C, A, V>) => (s: State) => void;
  /** The steps, per actor and phase; `host` steps have no phase; `vcpu` steps run in the design's vCPU phases. */
  readonly steps: (k: Kit<G, P, C, A, V>) => {
    readonly [a in keyof A]: { readonly [p in A[a][number]]: readonly StepSpec[] };
  } & {
    readonly host?: readonly StepSpec[];
    readonly vcpu?: { readonly [p in V[number]]: readonly VcpuStepSpec[] };
  };
  readonly hooks?: (k: Kit<G, P, C, A, V>) => DesignHooks<V>;
  /** No hint work pending or running and nothing with the host: part of quiescence. */
  readonly idle: (k: Kit<G, P, C, A, V>) => (s: State) => boolean;
  /** The regression matrix rows: configurations and the invariants expected to fail there. */
  readonly expect: readonly Expectation[];
  /** Invariants violated by design, with the reason: reported, not failures. */
  readonly accepts?: Readonly<Record<string, string>>;
  /** Invariants of the design's own, checked beside the shared ones. */
  readonly invariants?: readonly Invariant[];
  /** Shared invariants that say nothing about this design, with the reason. */
  readonly skip?: Readonly<Record<string, string>>;
  /**
   * The vCPUs are interchangeable: nothing in the design's state names a
   * vCPU but its rows in `cpus` groups (see src/model/symmetry.ts). Turns on
   * vCPU symmetry reduction by default.
   */
  readonly symmetricCpus?: boolean;
}

function fieldDecl(spec: FieldSpec, name: string): FieldDecl {
  if (typeof spec === 'object' && spec !== null && 'domain' in spec) {
    return { domain: spec.domain, ...(spec.count !== undefined ? { count: spec.count } : {}), doc: spec.doc ?? name };
  }
  return { domain: spec as Domain, doc: name };
}

function enumValues(spec: FieldSpec): Record<string, number> {
  const d = typeof spec === 'object' && spec !== null && 'domain' in spec ? spec.domain : spec;
  return Array.isArray(d) ? Object.fromEntries((d as readonly string[]).map((n, i) => [n, i])) : {};
}

export const RESERVED_GROUPS = ['pages', 'freeArea', 'vcpus', 'memory', 'zone', 'events'];

/** Turn a design spec into the model's Design. */
export function defineDesign<
  const G extends GroupsSpec = Record<never, never>,
  const P extends GroupsSpec = Record<never, never>,
  const C extends GroupsSpec = Record<never, never>,
  const A extends ActorsSpec = Record<never, never>,
  const V extends readonly string[] = readonly [],
>(spec: DesignSpec<G, P, C, A, V>): Design {
  const actorNames = Object.keys(spec.actors);
  const groups = (cfg: Config): GroupDecl[] => {
    const state = (spec.state?.(cfg) ?? {}) as GroupsSpec;
    const names = new Set([...actorNames, ...Object.keys(state)]);
    const out: GroupDecl[] = [];
    for (const g of names) {
      if (RESERVED_GROUPS.includes(g)) throw new Error(`design ${spec.id}: group '${g}' is the model's own; pick another name`);
      const fields: Record<string, FieldDecl> = {};
      if (actorNames.includes(g)) fields.phase = { domain: spec.actors[g], doc: `where ${g} is` };
      for (const [f, d] of Object.entries(state[g] ?? {})) fields[f] = fieldDecl(d, `${g}.${f}`);
      out.push({ name: g, fields });
    }
    for (const [g, fs] of Object.entries((spec.pages?.(cfg) ?? {}) as GroupsSpec)) {
      out.push({ name: g, rows: cfg.pages, rowLabel: (p) => `page ${p}`, fields: Object.fromEntries(Object.entries(fs).map(([f, d]) => [f, fieldDecl(d, `${g}.${f}`)])) });
    }
    for (const [g, fs] of Object.entries((spec.cpus?.(cfg) ?? {}) as GroupsSpec)) {
      out.push({ name: g, rows: cfg.cpus, rowLabel: (c) => `vcpu${c}`, fields: Object.fromEntries(Object.entries(fs).map(([f, d]) => [f, fieldDecl(d, `${g}.${f}`)])) });
    }
    return out;
  };

  const kitFor = (m: Model): Kit<G, P, C, A, V> => {
    const at: Record<string, Record<string, number>> = {};
    const is: Record<string, Record<string, Record<string, number>>> = {};
    const all = {
      ...((spec.state?.(m.cfg) ?? {}) as GroupsSpec),
      ...((spec.pages?.(m.cfg) ?? {}) as GroupsSpec),
      ...((spec.cpus?.(m.cfg) ?? {}) as GroupsSpec),
    };
    for (const g of new Set([...actorNames, ...Object.keys(all)])) {
      at[g] = {};
      is[g] = {};
      if (actorNames.includes(g)) at[g].phase = m.layout.at(g, 'phase');
      for (const [f, d] of Object.entries(all[g] ?? {})) {
        at[g][f] = m.layout.at(g, f);
        is[g][f] = enumValues(d);
      }
    }
    const phase: Record<string, Record<string, number>> = {};
    for (const a of actorNames) phase[a] = Object.fromEntries(spec.actors[a].map((p, i) => [p, i]));
    phase.vcpu = Object.fromEntries([...PHASES, ...(spec.vcpuPhases ?? [])].map((p, i) => [p, i]));
    const actor: Record<string, number> = { host: m.host };
    for (const a of actorNames) actor[a] = m.actors.indexOf(a);
    return { m, cfg: m.cfg, core: m.f, at, is, phase, actor } as unknown as Kit<G, P, C, A, V>;
  };

  return {
    id: spec.id,
    title: spec.title,
    summary: spec.summary,
    ...(spec.broken !== undefined ? { broken: spec.broken } : {}),
    defaults: spec.defaults ?? {},
    actors: actorNames,
    ...(spec.hostAcksEarly ? { hostAcksEarly: true } : {}),
    ...(spec.vcpuPhases !== undefined ? { vcpuPhases: spec.vcpuPhases } : {}),
    groups,
    expect: spec.expect,
    ...(spec.accepts !== undefined ? { accepts: spec.accepts } : {}),
    ...(spec.invariants !== undefined ? { invariants: spec.invariants } : {}),
    ...(spec.skip !== undefined ? { skip: spec.skip } : {}),
    ...(spec.symmetricCpus ? { symmetry: cpuSymmetry, reductions: { symmetry: true } } : {}),
    instantiate: (m) => {
      const k = kitFor(m);
      const steps = spec.steps(k) as unknown as Record<string, unknown>;
      const actions: ActionSpec[] = [];
      const toActions = (actor: number, step: StepSpec, phaseAt: number, phaseIs: number): void => {
        for (const args of step.args ?? [{}]) {
          const pre = step.pre?.(args);
          actions.push({
            actor,
            name: step.name,
            kernel: step.kernel,
            args,
            guardAt: phaseAt,
            guardIs: phaseIs,
            ...(pre !== undefined ? { guard2At: pre.at, guard2Is: pre.is } : {}),
            // The phase is checked here too: replay and trace rebuilding call steps without the pre-guards.
            apply: phaseAt < 0 ? (s) => step.apply(s, args) : (s) => s[phaseAt] === phaseIs && step.apply(s, args),
          });
        }
      };
      for (const a of actorNames) {
        const byPhase = steps[a] as Record<string, readonly StepSpec[]>;
        spec.actors[a].forEach((p, i) => {
          for (const step of byPhase[p] ?? []) toActions(k.actor[a as keyof A] as number, step, m.layout.at(a, 'phase'), i);
        });
      }
      for (const step of (steps.host ?? []) as readonly StepSpec[]) toActions(m.host, step, -1, 0);
      const vcpuSteps = (steps.vcpu ?? {}) as Record<string, readonly VcpuStepSpec[]>;
      (spec.vcpuPhases ?? []).forEach((p, i) => {
        for (const step of vcpuSteps[p] ?? []) {
          for (let c = 0; c < m.cfg.cpus; c++) {
            toActions(c, { ...step, apply: (s, args) => step.apply(s, c, args) }, m.f.vPhase + c, PHASES.length + i);
          }
        }
      });
      const h = spec.hooks?.(k) ?? {};
      const vcpuPhase = (name: V[number] | null): number => (name === null ? -1 : (k.phase.vcpu as Record<string, number>)[name]);
      const hooks: Hooks = {
        ...(h.archFreePage !== undefined ? { archFreePage: h.archFreePage } : {}),
        ...(h.mergeStep !== undefined ? { mergeStep: (s, c, head, order) => vcpuPhase(h.mergeStep!(s, c, head, order)) } : {}),
        ...(h.doneMerging !== undefined ? { doneMerging: (s, c, head, order) => vcpuPhase(h.doneMerging!(s, c, head, order)) } : {}),
        ...(h.freeOnePageDone !== undefined ? { freeOnePageDone: h.freeOnePageDone } : {}),
        ...(h.allocated !== undefined ? { allocated: h.allocated } : {}),
        ...(h.allocatable !== undefined ? { allocatable: h.allocatable } : {}),
        ...(h.pageWritten !== undefined ? { pageWritten: h.pageWritten } : {}),
        ...(h.keepReportedOffList ? { keepReportedOffList: true } : {}),
      };
      const init = spec.init?.(k);
      return { actions, hooks, init: (s) => init?.(s), idle: spec.idle(k) };
    },
  };
}
