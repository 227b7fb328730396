/**
 * Composition: the allocator, the zone lock, the vCPUs and host memory shared
 * by every design, plus one design's own state and steps, bound to one
 * configuration. Explorers see only `initial()` and the action table; no
 * explorer reaches into an actor's file.
 */
import { freeAreaFields, initFreeArea, pageFields } from './allocator.js';
import { describeConfig, UsageError, validateConfig, type Config } from './config.js';
import { CONTENTS, initMemory, memoryFields } from './host.js';
import { DesignError, designError, inDesign } from './errors.js';
import { Layout, type FieldDecl, type GroupDecl } from './layout.js';
import type { Action, CoreFields, Design, DesignInstance, Hooks, Model, State } from './types.js';
import { vcpuActions, vcpuFields } from './vcpu.js';
import { hasMigratetypes, isolatorActions, isolatorFields, pageblockFields } from './isolator.js';
import { lockField } from './zone-lock.js';

/** Who reads the zone watermarks, for the message that refuses --watermark-min elsewhere. */
const WATERMARK_DESIGNS_HINT = 'designs that declare watermarks (the d5-* family)';
const MIGRATETYPE_DESIGNS_HINT = 'designs that declare migratetypes (d2-merge-notifier and the d5-* family)';

export function actorNames(cfg: Config, design: Design): string[] {
  if (design.standalone) return [...design.actorsFor!(cfg)];
  return [...Array.from({ length: cfg.cpus }, (_, c) => `vcpu${c}`), ...design.actors, ...(hasMigratetypes(cfg) ? ['isolator'] : []), 'host'];
}

/** The design's defaults under the user's overrides. */
export function resolveConfig(design: Design, over: Partial<Config> = {}): Config {
  const base: Config = {
    cpus: 2, pages: 4, maxOrder: 2, reportOrder: 1, capacity: 2, poison: 'off', host: 'dontneed', mutant: 'none',
  };
  if (!design.migratetypes && (over.migratetypes !== undefined || design.defaults.migratetypes !== undefined)) {
    throw new UsageError(`--migratetypes: design ${design.id} does not take part in pageblock migratetypes: accepted only by ${MIGRATETYPE_DESIGNS_HINT}`);
  }
  if (!design.watermarks && (over.watermarkMin !== undefined || design.defaults.watermarkMin !== undefined)) {
    throw new UsageError(
      `--watermark-min: design ${design.id} reads no zone watermarks: accepted only by ${WATERMARK_DESIGNS_HINT}`,
    );
  }
  const merged: { -readonly [K in keyof Config]: Config[K] } = { ...base, ...(design.watermarks ? { watermarkMin: 0 } : {}), ...(design.migratetypes ? { migratetypes: 'off' as const } : {}), ...design.defaults };
  for (const [k, v] of Object.entries(over)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
  const accepted = ['none', ...(design.mutants ?? [])];
  if (!accepted.includes(merged.mutant)) {
    throw new UsageError(
      design.mutants === undefined
        ? `--mutant ${merged.mutant}: design ${design.id} has no mutants (its broken variants are designs of their own; see hintcheck list)`
        : `--mutant ${merged.mutant} is unknown for ${design.id}: accepted ${accepted.join(', ')}`,
    );
  }
  const cfg = validateConfig(merged);
  let problem: unknown;
  try {
    problem = design.checkConfig?.(cfg);
  } catch (e) {
    throw designError(
      { design: design.id, ...(design.source !== undefined ? { file: design.source } : {}) },
      `checkConfig(cfg) threw ${e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]}` : String(e)}`,
    );
  }
  if (problem !== undefined && typeof problem !== 'string') {
    throw designError({ design: design.id, ...(design.source !== undefined ? { file: design.source } : {}) }, 'checkConfig(cfg) returned neither a string nor undefined');
  }
  if (problem !== undefined) throw new UsageError(`${design.id} at ${describeConfig(cfg)}: ${problem}`);
  return cfg;
}

class BuiltModel implements Model {
  readonly layout: Layout;
  readonly f: CoreFields;
  readonly actors: readonly string[];
  readonly host: number;
  readonly actions: readonly Action[];
  readonly hooks: Hooks;
  readonly instance: DesignInstance;

  constructor(readonly design: Design, readonly cfg: Config) {
    this.actors = actorNames(cfg, design);
    this.host = this.actors.length - 1;
    const shared: GroupDecl[] = design.standalone
      ? []
      : [
          { name: 'pages', segment: 0, rows: cfg.pages, rowLabel: (p) => `page ${p}`, fields: pageFields(cfg) },
          { name: 'freeArea', segment: 0, fields: freeAreaFields(cfg) },
          { name: 'vcpus', segment: 0, rows: cfg.cpus, rowLabel: (c) => `vcpu${c}`, fields: vcpuFields(cfg, design.vcpuPhases) },
          { name: 'memory', rows: cfg.pages, rowLabel: (p) => `page ${p}`, fields: memoryFields(Boolean(design.hostAcksEarly)) },
          { name: 'zone', fields: lockField(this.actors) },
          ...(hasMigratetypes(cfg)
            ? [
                { name: 'pageblocks', segment: 0 as const, rows: cfg.pages >> cfg.reportOrder, rowLabel: (b: number) => `pageblock ${b}`, fields: pageblockFields() },
                { name: 'isolator', fields: isolatorFields(cfg) },
              ]
            : []),
          // A ghost of no-missed-hints, kept only where that invariant applies: which free pages a notifying free left owed a hint.
          ...(design.skip?.['no-missed-hints'] === undefined
            ? [{ name: 'obligations', rows: cfg.pages, rowLabel: (p: number) => `page ${p}`, fields: { owed: { domain: 'bool' as const, doc: 'ghost: a free that notifies (final order >= R) left this page on a free list, and no hint or allocation has discharged it since' } } }]
            : []),
        ];
    const groups: GroupDecl[] = [
      ...shared,
      ...design.groups(cfg),
      {
        name: 'events',
        fields: {
          hintBy: { domain: ['none', ...this.actors], transient: true, doc: 'actor that issued a hint in this step' },
          served: { domain: ['none', ...this.actors], transient: true, doc: 'actor whose hint the host processed in this step' },
          badPage: { domain: { max: cfg.pages }, transient: true, doc: 'page + 1 whose allocation check read the wrong value' },
          badRead: { domain: CONTENTS, transient: true, doc: 'what that check read' },
          rereported: { domain: { max: cfg.pages }, transient: true, doc: 'page + 1 hinted again while still discarded and untouched' },
          fakeOom: { domain: ['none', ...this.actors], transient: true, doc: 'vCPU whose allocation failed while the hint engine held the memory' },
          badFree: { domain: { max: cfg.pages }, transient: true, doc: 'page + 1 that entered __free_one_page() still flagged Reported' },
          ...designEvents(design, cfg),
        },
      },
    ];
    this.layout = new Layout(groups);
    const L = this.layout;
    // A standalone design has none of the shared page and vCPU fields: -1 marks them absent.
    const at = (g: string, f: string): number => (L.has(g, f) ? L.at(g, f) : -1);
    this.f = {
      lock: L.at('zone', 'lock'),
      nrFree: at('freeArea', 'nrFree'),
      owner: at('pages', 'owner'),
      order: at('pages', 'order'),
      reported: at('pages', 'reported'),
      content: at('memory', 'content'),
      backing: at('memory', 'backing'),
      inflight: at('memory', 'inflight'),
      owed: at('obligations', 'owed'),
      pbMt: at('pageblocks', 'mt'),
      isoPhase: at('isolator', 'phase'),
      isoBlock: at('isolator', 'block'),
      vPhase: at('vcpus', 'phase'),
      vHead: at('vcpus', 'head'),
      vOrder: at('vcpus', 'order'),
      evHintBy: L.at('events', 'hintBy'),
      evServed: L.at('events', 'served'),
      evBadPage: L.at('events', 'badPage'),
      evBadRead: L.at('events', 'badRead'),
      evRereported: L.at('events', 'rereported'),
      evFakeOom: L.at('events', 'fakeOom'),
      evBadFree: at('events', 'badFree'),
    };
    // Hooks are read through the model at call time, so bind the instance first.
    const hooks: { -readonly [K in keyof Hooks]: Hooks[K] } = {};
    this.hooks = hooks;
    this.instance = design.instantiate(this);
    Object.assign(hooks, this.instance.hooks);
    const vcpuSteps = design.standalone ? [] : Array.from({ length: cfg.cpus }, (_, c) => vcpuActions(this, c)).flat();
    const specs = [...vcpuSteps, ...this.instance.actions, ...(hasMigratetypes(cfg) && !design.standalone ? isolatorActions(this) : [])];
    this.actions = specs.map((a, id) => ({ ...a, id }));
  }

  initial(): State {
    const s = new Uint8Array(this.layout.size);
    if (!this.design.standalone) {
      initFreeArea(this, s);
      initMemory(this, s);
    }
    this.instance.init(s);
    return s;
  }
}

/** The shared events every design has. */
export const CORE_EVENTS = ['hintBy', 'served', 'badPage', 'badRead', 'rereported', 'fakeOom'];

function designEvents(design: Design, cfg: Config): Record<string, FieldDecl> {
  const own = design.events?.(cfg) ?? {};
  for (const name of Object.keys(own)) {
    if (CORE_EVENTS.includes(name)) throw new DesignError(`event '${name}' is one of the shared events (${CORE_EVENTS.join(', ')}); pick another name`);
  }
  return own as Record<string, FieldDecl>;
}

/**
 * The model of a design at a configuration. What goes wrong while the
 * design's groups, events, steps and hooks are put together is the
 * design's error, and says which design (and file).
 */
export function buildModel(design: Design, cfg: Config): Model {
  try {
    return new BuiltModel(design, cfg);
  } catch (e) {
    if (e instanceof DesignError) throw inDesign(e, { design: design.id, ...(design.source !== undefined ? { file: design.source } : {}) });
    throw e;
  }
}
