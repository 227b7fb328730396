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
 * (for the allocator, lock and host helpers of model/).
 *
 * A step is a function of the state: its guard first, returning false
 * before it writes anything, then its effect, writing only the state it was
 * given. `defineDesign` turns the spec into the model's Design.
 */
import type { Invariant } from './types.js';
import type { Config } from './config.js';
import type { Domain, FieldDecl, GroupDecl } from './layout.js';
import type { ActionSpec, CoreFields, Design, Expectation, Hooks, Model, State } from './types.js';
import { designError, DesignError, firstLine, type DesignWhere } from './errors.js';
import { cpuSymmetry } from './symmetry.js';
import { PHASES } from './vcpu.js';

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
export interface Kit<G extends GroupsSpec, P extends GroupsSpec, C extends GroupsSpec, A extends ActorsSpec, V extends readonly string[], E extends FieldsSpec = Record<never, never>> {
  readonly m: Model;
  readonly cfg: Config;
  /** Offsets of the shared fields (allocator, lock, vCPUs, host memory, events). */
  readonly core: CoreFields;
  /**
   * Offset of every design field: `at.group.field`. Add the page (for
   * `pages` groups), the vCPU (for `cpus` groups) or the array index.
   * Each actor's phase is `at.<actor>.phase`; the design's own events are
   * `at.events.<name>`.
   */
  readonly at: Offsets<G> & Offsets<P> & Offsets<C> & { readonly [a in keyof A]: { readonly phase: number } } & Offsets<{ readonly events: E }>;
  /** Value of every enum name: `is.group.field.name`. */
  readonly is: Enums<G> & Enums<P> & Enums<C> & Enums<{ readonly events: E }>;
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

/**
 * The hooks of model/types.ts as a design writes them: the merge hooks name
 * the design's vCPU phase (or null) where the model takes its number.
 */
export interface DesignHooks<V extends readonly string[]> extends Omit<Hooks, 'mergeStep' | 'doneMerging'> {
  /** Merge loop, zone->lock held: a design vCPU phase to park the vCPU in (block in limbo), or null to merge on. */
  readonly mergeStep?: (s: State, cpu: number, head: number, order: number) => V[number] | null;
  /** done_merging, before add_to_free_list(): as mergeStep. */
  readonly doneMerging?: (s: State, cpu: number, head: number, order: number) => V[number] | null;
}

export interface DesignSpec<
  G extends GroupsSpec,
  P extends GroupsSpec,
  C extends GroupsSpec,
  A extends ActorsSpec,
  V extends readonly string[],
  E extends FieldsSpec = Record<never, never>,
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
  /**
   * Events of the design's own: fields of the step, not of the state, zeroed
   * before every step (`k.at.events.<name>`), shown in traces and read by
   * edge invariants that declare them in `Checks.events`.
   */
  readonly events?: (cfg: Config) => E;
  /** The host acks before its discard lands (a broken host). */
  readonly hostAcksEarly?: boolean;
  /** The design reads zone->_watermark (`k.cfg.watermarkMin`, set from --watermark-min, default 0). */
  readonly watermarks?: boolean;
  /** The design takes part in pageblock migratetypes (--migratetypes on: the types, the merge restriction, the isolator actor). */
  readonly migratetypes?: boolean;
  /** Bounds under which the design could never act: return the problem in one line (the check stops with exit 2). */
  readonly checkConfig?: (cfg: Config) => string | undefined;
  /** Set the design's fields in the booted state (fields start at 0, actors in their first phase). */
  readonly init?: (k: Kit<G, P, C, A, V, E>) => (s: State) => void;
  /** The steps, per actor and phase; `host` steps have no phase; `vcpu` steps run in the design's vCPU phases. */
  readonly steps: (k: Kit<G, P, C, A, V, E>) => {
    readonly [a in keyof A]: { readonly [p in A[a][number]]: readonly StepSpec[] };
  } & {
    readonly host?: readonly StepSpec[];
    readonly vcpu?: { readonly [p in V[number]]: readonly VcpuStepSpec[] };
  };
  readonly hooks?: (k: Kit<G, P, C, A, V, E>) => DesignHooks<V>;
  /** No hint work pending or running and nothing with the host: part of quiescence. */
  readonly idle: (k: Kit<G, P, C, A, V, E>) => (s: State) => boolean;
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
   * vCPU but its rows in `cpus` groups (see model/symmetry.ts). Turns on
   * vCPU symmetry reduction by default.
   */
  readonly symmetricCpus?: boolean;
}

/** The fields a DesignSpec may have: anything else is a misspelling (a JavaScript file has no compiler to say so). */
const SPEC_FIELDS = [
  'id', 'title', 'summary', 'broken', 'defaults', 'actors', 'state', 'pages', 'cpus', 'vcpuPhases', 'events',
  'hostAcksEarly', 'watermarks', 'migratetypes', 'checkConfig', 'init', 'steps', 'hooks', 'idle', 'expect', 'accepts', 'invariants', 'skip', 'symmetricCpus',
];
const STEP_FIELDS = ['name', 'kernel', 'args', 'pre', 'apply'];
const HOOK_FIELDS = ['archFreePage', 'mergeStep', 'doneMerging', 'freeOnePageDone', 'allocated', 'allocatable', 'withheldByEngine', 'pageWritten', 'asksForHint', 'limboHeld', 'keepReportedOffList'];

export const RESERVED_GROUPS = ['pages', 'freeArea', 'vcpus', 'memory', 'zone', 'obligations', 'pageblocks', 'isolator', 'events'];

function domainOk(d: unknown): d is Domain {
  if (d === 'bool') return true;
  if (Array.isArray(d)) return d.length >= 1 && d.length <= 256 && d.every((x) => typeof x === 'string') && new Set(d).size === d.length;
  if (typeof d === 'object' && d !== null && 'max' in d) {
    const max = (d as { max: unknown }).max;
    return typeof max === 'number' && Number.isInteger(max) && max >= 0 && max <= 255;
  }
  return false;
}

/**
 * An object whose missing keys are a design error: the kit's records are
 * built on it, so `k.is.toy.mode.lound` throws, naming what exists, where a
 * plain object would give `undefined` and the typed array would store 0.
 * Present keys are own properties and read at full speed; only a miss
 * reaches the prototype.
 */
function strictRecord<T extends object>(values: Record<string, unknown>, what: string, fail: (problem: string) => Error): T {
  const guard = new Proxy(Object.create(null) as object, {
    get(_t, key) {
      if (typeof key === 'symbol' || key === 'then' || key === 'toJSON') return undefined;
      if (key in Object.prototype) return (Object.prototype as Record<string, unknown>)[key];
      const names = Object.keys(values);
      throw fail(`${what} has no '${key}': accepted ${names.length > 0 ? names.join(', ') : 'none (it is empty)'}`);
    },
    has: () => false,
  });
  return Object.assign(Object.create(guard) as object, values) as T;
}

/** Turn a design spec into the model's Design. */
export function defineDesign<
  const G extends GroupsSpec = Record<never, never>,
  const P extends GroupsSpec = Record<never, never>,
  const C extends GroupsSpec = Record<never, never>,
  const A extends ActorsSpec = Record<never, never>,
  const V extends readonly string[] = readonly [],
  const E extends FieldsSpec = Record<never, never>,
>(spec: DesignSpec<G, P, C, A, V, E>): Design {
  const raw = spec as unknown as Record<string, unknown>;
  const early = (problem: string): DesignError => designError({ ...(typeof raw?.id === 'string' ? { design: raw.id } : {}) }, problem);
  if (typeof spec !== 'object' || spec === null) throw early('defineDesign() takes one object: the design spec');
  if (typeof spec.id !== 'string' || spec.id === '') throw early('defineDesign(): the design has no id (a string)');
  for (const f of Object.keys(spec)) if (!SPEC_FIELDS.includes(f)) throw early(`unknown field '${f}' in the design spec: accepted ${SPEC_FIELDS.join(', ')}`);
  for (const f of ['title', 'summary'] as const) if (typeof spec[f] !== 'string') throw early(`the design spec has no ${f} (a string)`);
  for (const f of ['steps', 'idle'] as const) if (typeof spec[f] !== 'function') throw early(`the design spec's ${f} is not a function of the kit`);
  for (const f of ['state', 'pages', 'cpus', 'events', 'init', 'hooks'] as const) {
    if (spec[f] !== undefined && typeof spec[f] !== 'function') throw early(`the design spec's ${f} is not a function (of the configuration, or of the kit)`);
  }
  if (typeof spec.actors !== 'object' || spec.actors === null) throw early('the design spec has no actors ({ actor: [phases...] })');
  const actorNames = Object.keys(spec.actors);
  const vcpuPhases: readonly string[] = spec.vcpuPhases ?? [];
  for (const a of actorNames) {
    const phases = spec.actors[a] as unknown;
    if (!Array.isArray(phases) || phases.length === 0 || !phases.every((p) => typeof p === 'string')) throw early(`actor '${a}' has no phases: give a list of phase names, the first being where it starts`);
    if (new Set(phases).size !== phases.length) throw early(`actor '${a}' lists a phase twice`);
    if (a === 'host' || a === 'vcpu' || /^vcpu\d+$/.test(a)) throw early(`actor '${a}' has the name of a shared actor; pick another`);
    if (RESERVED_GROUPS.includes(a)) throw early(`actor '${a}' has the name of one of the model's own groups (${RESERVED_GROUPS.join(', ')}); pick another`);
  }
  for (const p of vcpuPhases) if ((PHASES as readonly string[]).includes(p)) throw early(`vcpuPhases repeats the core vCPU phase '${p}' (core: ${PHASES.join(', ')})`);

  /** Where a design's mistake is, once the model exists (a design from a file has its source). */
  const whereIn = (m: Model, extra: Partial<DesignWhere> = {}): DesignWhere => ({ design: spec.id, ...(m.design.source !== undefined ? { file: m.design.source } : {}), ...extra });

  const fieldDecl = (d: FieldSpec, group: string, name: string, fail: (p: string) => DesignError): FieldDecl => {
    const full = typeof d === 'object' && d !== null && 'domain' in d;
    const domain = full ? (d as { domain: unknown }).domain : d;
    if (!domainOk(domain)) {
      throw fail(`field ${group}.${name} has no domain: accepted a list of 1 to 256 distinct enum names, { max: n } with n in 0..255, or 'bool'`);
    }
    const count = full ? (d as { count?: unknown }).count : undefined;
    if (count !== undefined && !(typeof count === 'number' && Number.isInteger(count) && count >= 1 && count <= 64)) throw fail(`field ${group}.${name} has count ${String(count)}: accepted a whole number 1..64`);
    return { domain, ...(count !== undefined ? { count } : {}), doc: (full ? (d as { doc?: string }).doc : undefined) ?? `${group}.${name}` };
  };
  const groupsOf = (f: ((cfg: Config) => unknown) | undefined, cfg: Config, what: string, fail: (p: string) => DesignError): GroupsSpec => {
    const g = f?.(cfg) ?? {};
    if (typeof g !== 'object' || g === null) throw fail(`${what}(cfg) did not return an object of groups`);
    return g as GroupsSpec;
  };
  const eventsOf = (cfg: Config, fail: (p: string) => DesignError): FieldsSpec => {
    const e = spec.events?.(cfg) ?? {};
    if (typeof e !== 'object' || e === null) throw fail('events(cfg) did not return an object of event fields');
    return e as FieldsSpec;
  };
  const buildFail = (_cfg: Config) => (problem: string): DesignError => designError({ design: spec.id }, problem);

  const groups = (cfg: Config): GroupDecl[] => {
    const fail = buildFail(cfg);
    const state = groupsOf(spec.state, cfg, 'state', fail);
    const pages = groupsOf(spec.pages, cfg, 'pages', fail);
    const cpus = groupsOf(spec.cpus, cfg, 'cpus', fail);
    const names = new Set([...actorNames, ...Object.keys(state)]);
    const out: GroupDecl[] = [];
    const taken = new Set<string>();
    const claim = (g: string, kind: string): void => {
      if (RESERVED_GROUPS.includes(g)) throw fail(`${kind} group '${g}' is the model's own; pick another name (the model's: ${RESERVED_GROUPS.join(', ')})`);
      if (taken.has(g)) throw fail(`group '${g}' is declared twice (in state, pages or cpus)`);
      taken.add(g);
    };
    for (const g of names) {
      claim(g, 'state');
      const fields: Record<string, FieldDecl> = {};
      if (actorNames.includes(g)) fields.phase = { domain: spec.actors[g], doc: `where ${g} is` };
      for (const [f, d] of Object.entries(state[g] ?? {})) {
        if (f === 'phase' && actorNames.includes(g)) throw fail(`field ${g}.phase is the actor's own phase; pick another name`);
        fields[f] = fieldDecl(d, g, f, fail);
      }
      out.push({ name: g, fields });
    }
    for (const [g, fs] of Object.entries(pages)) {
      claim(g, 'pages');
      out.push({ name: g, rows: cfg.pages, rowLabel: (p) => `page ${p}`, fields: Object.fromEntries(Object.entries(fs).map(([f, d]) => [f, fieldDecl(d, g, f, fail)])) });
    }
    for (const [g, fs] of Object.entries(cpus)) {
      claim(g, 'cpus');
      out.push({ name: g, rows: cfg.cpus, rowLabel: (c) => `vcpu${c}`, fields: Object.fromEntries(Object.entries(fs).map(([f, d]) => [f, fieldDecl(d, g, f, fail)])) });
    }
    return out;
  };
  const events = (cfg: Config): Record<string, FieldDecl> => {
    const fail = buildFail(cfg);
    return Object.fromEntries(Object.entries(eventsOf(cfg, fail)).map(([f, d]) => [f, { ...fieldDecl(d, 'events', f, fail), transient: true }]));
  };

  const kitFor = (m: Model): Kit<G, P, C, A, V, E> => {
    const fail = (problem: string): DesignError => designError(whereIn(m), problem);
    const record = <T extends object>(values: Record<string, unknown>, what: string): T => strictRecord<T>(values, what, fail);
    const at: Record<string, unknown> = {};
    const is: Record<string, unknown> = {};
    const all: GroupsSpec = {
      ...groupsOf(spec.state, m.cfg, 'state', fail),
      ...groupsOf(spec.pages, m.cfg, 'pages', fail),
      ...groupsOf(spec.cpus, m.cfg, 'cpus', fail),
      events: eventsOf(m.cfg, fail),
    };
    for (const g of new Set([...actorNames, ...Object.keys(all)])) {
      const offs: Record<string, number> = {};
      const enums: Record<string, unknown> = {};
      if (actorNames.includes(g)) offs.phase = m.layout.at(g, 'phase');
      for (const [f, d] of Object.entries(all[g] ?? {})) {
        offs[f] = m.layout.at(g, f);
        const dom = typeof d === 'object' && d !== null && 'domain' in d ? d.domain : d;
        enums[f] = record(Array.isArray(dom) ? Object.fromEntries((dom as readonly string[]).map((n, i) => [n, i])) : {}, `k.is.${g}.${f}`);
      }
      at[g] = record(offs, `k.at.${g}`);
      is[g] = record(enums, `k.is.${g}`);
    }
    const phase: Record<string, unknown> = {};
    for (const a of actorNames) phase[a] = record(Object.fromEntries(spec.actors[a].map((p, i) => [p, i])), `k.phase.${a}`);
    phase.vcpu = record(Object.fromEntries([...PHASES, ...vcpuPhases].map((p, i) => [p, i])), 'k.phase.vcpu');
    const actor: Record<string, number> = { host: m.host };
    for (const a of actorNames) actor[a] = m.actors.indexOf(a);
    return {
      m,
      cfg: m.cfg,
      core: m.f,
      at: record(at, 'k.at'),
      is: record(is, 'k.is'),
      phase: record(phase, 'k.phase'),
      actor: record(actor, 'k.actor'),
    } as unknown as Kit<G, P, C, A, V, E>;
  };

  return {
    id: spec.id,
    title: spec.title,
    summary: spec.summary,
    ...(spec.broken !== undefined ? { broken: spec.broken } : {}),
    defaults: spec.defaults ?? {},
    actors: actorNames,
    ...(spec.hostAcksEarly ? { hostAcksEarly: true } : {}),
    ...(spec.watermarks ? { watermarks: true } : {}),
    ...(spec.checkConfig !== undefined ? { checkConfig: spec.checkConfig } : {}),
    ...(spec.migratetypes ? { migratetypes: true } : {}),
    ...(spec.vcpuPhases !== undefined ? { vcpuPhases: spec.vcpuPhases } : {}),
    groups,
    ...(spec.events !== undefined ? { events } : {}),
    expect: spec.expect,
    ...(spec.accepts !== undefined ? { accepts: spec.accepts } : {}),
    ...(spec.invariants !== undefined ? { invariants: spec.invariants } : {}),
    ...(spec.skip !== undefined ? { skip: spec.skip } : {}),
    ...(spec.symmetricCpus ? { symmetry: cpuSymmetry, reductions: { symmetry: true } } : {}),
    instantiate: (m) => {
      const fail = (problem: string, extra: Partial<DesignWhere> = {}): DesignError => designError(whereIn(m, extra), problem);
      /** A function of the design's, run so that what it throws is the design's error, naming the function. */
      const own = <F extends (...args: never[]) => unknown>(f: F, what: string, check?: (r: ReturnType<F>) => string | null): F =>
        ((...args: Parameters<F>) => {
          let r: ReturnType<F>;
          try {
            r = f(...args) as ReturnType<F>;
          } catch (e) {
            if (e instanceof DesignError) throw e;
            throw fail(`${what} threw ${e instanceof Error ? `${e.name}: ${firstLine(e)}` : String(e)}`);
          }
          const bad = check?.(r);
          if (bad !== null && bad !== undefined) throw fail(`${what} ${bad}`);
          return r;
        }) as F;
      const k = kitFor(m);
      const steps = own(spec.steps, 'steps(k)')(k) as unknown as Record<string, unknown>;
      if (typeof steps !== 'object' || steps === null) throw fail('steps(k) did not return an object of steps per actor and phase');
      for (const key of Object.keys(steps)) {
        if (!actorNames.includes(key) && key !== 'host' && key !== 'vcpu') throw fail(`steps has an entry for '${key}', which is not an actor: accepted ${[...actorNames, 'host', 'vcpu'].join(', ')}`);
      }
      const actions: ActionSpec[] = [];
      const toActions = (actor: number, step: StepSpec, phaseAt: number, phaseIs: number, where: string): void => {
        if (typeof step !== 'object' || step === null) throw fail(`${where} has an entry that is not a step ({ name, kernel, apply })`);
        for (const f of Object.keys(step)) if (!STEP_FIELDS.includes(f)) throw fail(`${where} step '${String(step.name)}' has an unknown field '${f}': accepted ${STEP_FIELDS.join(', ')}`);
        if (typeof step.name !== 'string' || step.name === '') throw fail(`${where} has a step without a name`);
        if (typeof step.kernel !== 'string') throw fail(`${where} step '${step.name}' has no kernel (the function it stands for, and its lock)`);
        if (typeof step.apply !== 'function') throw fail(`${where} step '${step.name}' has no apply(s) function`);
        if (step.args !== undefined && !(Array.isArray(step.args) && step.args.every((x) => typeof x === 'object' && x !== null))) throw fail(`${where} step '${step.name}' has args that are not a list of argument objects`);
        for (const args of step.args ?? [{}]) {
          const pre = step.pre === undefined ? undefined : own(step.pre, `step '${step.name}' pre(args)`)(args);
          if (pre !== undefined && !(typeof pre === 'object' && pre !== null && Number.isInteger(pre.at) && pre.at >= 0 && pre.at < m.layout.size && Number.isInteger(pre.is))) {
            throw fail(`${where} step '${step.name}' pre(args) gave ${JSON.stringify(pre)}: accepted { at: an offset from k.at, is: a value }`);
          }
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
      const listOf = (x: unknown, where: string): readonly StepSpec[] => {
        if (x === undefined) throw fail(`${where} is missing: list its steps, or [] if it has none`);
        if (!Array.isArray(x)) throw fail(`${where} is not a list of steps`);
        return x as readonly StepSpec[];
      };
      for (const a of actorNames) {
        const byPhase = steps[a] as Record<string, unknown> | undefined;
        if (typeof byPhase !== 'object' || byPhase === null) throw fail(`steps.${a} is missing: give its steps per phase (${spec.actors[a].join(', ')})`);
        for (const p of Object.keys(byPhase)) if (!spec.actors[a].includes(p)) throw fail(`steps.${a} has an entry for '${p}', which is not one of its phases: accepted ${spec.actors[a].join(', ')}`);
        spec.actors[a].forEach((p, i) => {
          for (const step of listOf(byPhase[p], `steps.${a}.${p}`)) toActions(k.actor[a as keyof A] as number, step, m.layout.at(a, 'phase'), i, `steps.${a}.${p}`);
        });
      }
      if (steps.host !== undefined) for (const step of listOf(steps.host, 'steps.host')) toActions(m.host, step, -1, 0, 'steps.host');
      const vcpuSteps = (steps.vcpu ?? {}) as Record<string, unknown>;
      for (const p of Object.keys(vcpuSteps)) if (!vcpuPhases.includes(p)) throw fail(`steps.vcpu has an entry for '${p}', which is not one of the design's vCPU phases: accepted ${vcpuPhases.length > 0 ? vcpuPhases.join(', ') : 'none (declare them in vcpuPhases)'}`);
      vcpuPhases.forEach((p, i) => {
        const list = vcpuSteps[p] === undefined && steps.vcpu === undefined ? [] : listOf(vcpuSteps[p], `steps.vcpu.${p}`);
        for (const step of list as unknown as readonly VcpuStepSpec[]) {
          for (let c = 0; c < m.cfg.cpus; c++) {
            toActions(c, { ...step, apply: (s, args) => step.apply(s, c, args) }, m.f.vPhase + c, PHASES.length + i, `steps.vcpu.${p}`);
          }
        }
      });
      const h = (spec.hooks === undefined ? {} : own(spec.hooks, 'hooks(k)')(k)) as DesignHooks<V>;
      if (typeof h !== 'object' || h === null) throw fail('hooks(k) did not return an object of hooks');
      for (const f of Object.keys(h)) if (!HOOK_FIELDS.includes(f)) throw fail(`hooks has an unknown hook '${f}': accepted ${HOOK_FIELDS.join(', ')}`);
      const phases = k.phase.vcpu as Record<string, number>;
      const vcpuPhase = (name: V[number] | null, hook: string): number => {
        if (name === null) return -1;
        if (!vcpuPhases.includes(name)) throw fail(`hook ${hook} returned ${JSON.stringify(name)}: accepted null (merge on) or one of the design's vCPU phases (${vcpuPhases.join(', ') || 'none declared'})`);
        return phases[name];
      };
      const bool = (r: unknown): string | null => (typeof r === 'boolean' ? null : `returned ${String(r)}; it returns true or false`);
      const hooks: Hooks = {
        ...(h.archFreePage !== undefined ? { archFreePage: own(h.archFreePage, 'hook archFreePage', bool) } : {}),
        ...(h.mergeStep !== undefined ? { mergeStep: (s, c, head, order) => vcpuPhase(own(h.mergeStep!, 'hook mergeStep')(s, c, head, order), 'mergeStep') } : {}),
        ...(h.doneMerging !== undefined ? { doneMerging: (s, c, head, order) => vcpuPhase(own(h.doneMerging!, 'hook doneMerging')(s, c, head, order), 'doneMerging') } : {}),
        ...(h.freeOnePageDone !== undefined ? { freeOnePageDone: own(h.freeOnePageDone, 'hook freeOnePageDone') } : {}),
        ...(h.allocated !== undefined ? { allocated: own(h.allocated, 'hook allocated') } : {}),
        ...(h.allocatable !== undefined ? { allocatable: own(h.allocatable, 'hook allocatable', bool) } : {}),
        ...(h.withheldByEngine !== undefined ? { withheldByEngine: own(h.withheldByEngine, 'hook withheldByEngine', bool) } : {}),
        ...(h.pageWritten !== undefined ? { pageWritten: own(h.pageWritten, 'hook pageWritten') } : {}),
        ...(h.asksForHint !== undefined ? { asksForHint: own(h.asksForHint, 'hook asksForHint', bool) } : {}),
        ...(h.limboHeld !== undefined ? { limboHeld: own(h.limboHeld, 'hook limboHeld', bool) } : {}),
        ...(h.keepReportedOffList ? { keepReportedOffList: true } : {}),
      };
      const init = spec.init === undefined ? undefined : own(spec.init, 'init(k)')(k);
      if (init !== undefined && typeof init !== 'function') throw fail('init(k) did not return a function of the state');
      const idle = own(spec.idle, 'idle(k)')(k);
      if (typeof idle !== 'function') throw fail('idle(k) did not return a function of the state');
      return { actions, hooks, init: init === undefined ? () => {} : own(init, 'init(s)'), idle: own(idle, 'idle(s)', bool) };
    },
  };
}
