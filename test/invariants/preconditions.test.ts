import { describe, expect, it } from 'vitest';
import { invariantsFor, knownInvariants } from '../../invariants/index.js';
import type { Checks, Invariant } from '../../model/types.js';
import type { Config } from '../../model/config.js';
import { DESIGNS, findDesign } from '../../model/designs/index.js';
import { buildModel, resolveConfig } from '../../model/system.js';
import type { Action, Design, Model, State } from '../../model/types.js';

/**
 * Coverage preconditions: every invariant says when it has something to say
 * (`precondition`, `Checks.reached`), so that a `holds` whose precondition
 * no explored state or step reached can be reported as proving nothing.
 * Here each one is shown to be declared, to be reached on some built-in
 * design, to be false at boot where that is not its natural meaning, and,
 * for the headline invariants, to stay false in a search that cannot
 * exercise them.
 */

/** Every configuration a design's matrix checks: its defaults under each row's overrides. */
function matrixConfigs(design: Design): Partial<Config>[] {
  return design.expect.map((e) => e.config ?? {});
}

interface Search {
  readonly reached: boolean;
  /** Distinct states seen (the initial one included). */
  readonly states: number;
  /** Every reachable state was expanded (the cap was not hit). */
  readonly complete: boolean;
}

/**
 * Breadth-first search over `m.actions` (those `keep` lets through) until
 * `reached` holds in a state or on a step, or every state up to `cap` is
 * expanded. States are deduplicated on their non-transient bytes.
 */
function search(m: Model, reached: NonNullable<Checks['reached']>, keep: (a: Action) => boolean = () => true, cap = 20_000): Search {
  const t = m.layout.transients;
  const key = (s: State): string => Buffer.from(s.buffer, s.byteOffset, t).toString('latin1');
  const actions = m.actions.filter(keep);
  const init = m.initial();
  if (reached.state?.(init)) return { reached: true, states: 1, complete: false };
  const seen = new Set<string>([key(init)]);
  let level: State[] = [init];
  let complete = true;
  while (level.length > 0) {
    const upcoming: State[] = [];
    for (const cur of level) {
      for (const a of actions) {
        if (a.guardAt >= 0 && cur[a.guardAt] !== a.guardIs) continue;
        if (a.guard2At !== undefined && a.guard2At >= 0 && cur[a.guard2At] !== a.guard2Is) continue;
        const next = cur.slice();
        next.fill(0, t);
        if (!a.apply(next)) continue;
        if (reached.state?.(next) || reached.edge?.(cur, next, a)) return { reached: true, states: seen.size, complete: false };
        const k = key(next);
        if (seen.has(k)) continue;
        if (seen.size >= cap) {
          complete = false;
          continue;
        }
        seen.add(k);
        upcoming.push(next);
      }
    }
    level = upcoming;
  }
  return { reached: false, states: seen.size, complete };
}

function bound(designId: string, invariantId: string, config: Partial<Config> = {}): { m: Model; inv: Invariant; checks: Checks } {
  const design = findDesign(designId);
  const cfg = resolveConfig(design, config);
  const m = buildModel(design, cfg);
  const inv = invariantsFor(design, cfg).find((i) => i.id === invariantId);
  if (inv === undefined) throw new Error(`${invariantId} does not apply to ${designId} at ${JSON.stringify(config)}`);
  return { m, inv, checks: inv.bind(m) };
}

const vcpuOnly = (m: Model) => (a: Action): boolean => m.actors[a.actor].startsWith('vcpu');

/** Every invariant id the registry knows: the shared ones and each design's own. */
const ALL_IDS = [...new Set(DESIGNS.flatMap((d) => knownInvariants(d).map((i) => i.id)))];

/**
 * Where each invariant's precondition is reached: a built-in design at one
 * of its matrix configurations. Some are listed twice, to cover both ways
 * the predicate can become true (the lock check's served event on the SPIN
 * port, poison read back there through its own page fields).
 */
const REACHED: readonly { invariant: string; design: string; config: Partial<Config> }[] = [
  { invariant: 'no-hint-under-zone-lock', design: 'd5-page-reporting', config: {} },
  { invariant: 'no-hint-under-zone-lock', design: 'spin-reference', config: {} },
  { invariant: 'no-reuse-while-hinting', design: 'd5-page-reporting', config: {} },
  { invariant: 'no-reuse-while-hinting', design: 'd6-free-page-hint', config: {} },
  { invariant: 'poison-reads-back', design: 'd5-page-reporting', config: { reportOrder: 2, capacity: 1, poison: 'on', host: 'poison-on-fault' } },
  { invariant: 'poison-reads-back', design: 'spin-reference', config: { poison: 'on', host: 'poison-on-fault' } },
  { invariant: 'allocator-conservation', design: 'd5-page-reporting', config: {} },
  { invariant: 'no-missed-hints', design: 'd5-page-reporting', config: {} },
  { invariant: 'no-backed-free-blocks', design: 'd5-page-reporting', config: {} },
  { invariant: 'no-double-report', design: 'd5-page-reporting', config: {} },
  { invariant: 'no-fake-oom', design: 'd5-page-reporting', config: { reportOrder: 2, capacity: 1 } },
  { invariant: 'one-hint-per-block', design: 'd2-merge-notifier', config: {} },
  { invariant: 'd6-allocator-conservation', design: 'd6-free-page-hint', config: {} },
  { invariant: 'd6-driver-returns-blocks', design: 'd6-free-page-hint', config: {} },
  { invariant: 'd6-migrated-pages-current', design: 'd6-free-page-hint', config: {} },
  { invariant: 'd6-postcopy-pages-arrive', design: 'd6-postcopy-hint', config: {} },
  { invariant: 'free-blocks-marked', design: 'd3c-bitmap', config: {} },
  { invariant: 'unhinted-below-threshold', design: 'd3c-bitmap', config: {} },
  { invariant: 'no-use-after-free', design: 'd3c-disable-race', config: {} },
  { invariant: 'no-use-after-free', design: 'd3d-disable', config: {} },
  { invariant: 'spin-i2-batch-not-allocated', design: 'spin-reference', config: {} },
  { invariant: 'spin-i4-counters', design: 'spin-reference', config: {} },
  { invariant: 'spin-i5-no-lost-write', design: 'spin-reference', config: {} },
];

/**
 * State preconditions that legitimately hold at boot. In most designs a
 * booted guest is quiescent (vCPUs idle, lock free, no hint work pending)
 * with all its memory in free blocks of the largest order: exactly the kind
 * of moment the quiescent-state properties judge, and with poisoning on
 * (every page written at boot, so backed) one where they can already fail.
 */
const TRUE_AT_BOOT = new Set(['no-backed-free-blocks', 'free-blocks-marked', 'unhinted-below-threshold']);

describe('invariant preconditions', () => {
  it('are declared by every invariant of every design, at every matrix configuration', () => {
    const declared = new Set<string>();
    for (const design of DESIGNS) {
      for (const inv of knownInvariants(design)) {
        expect(inv.precondition, inv.id).toBeTypeOf('string');
        expect(inv.precondition!.trim().length, inv.id).toBeGreaterThan(0);
      }
      for (const over of matrixConfigs(design)) {
        const cfg = resolveConfig(design, over);
        const m = buildModel(design, cfg);
        for (const inv of invariantsFor(design, cfg)) {
          const r = inv.bind(m).reached;
          expect(r, `${design.id}/${inv.id}`).toBeDefined();
          expect(r!.state !== undefined || r!.edge !== undefined, `${design.id}/${inv.id}`).toBe(true);
          declared.add(inv.id);
        }
      }
    }
    // Every invariant the registry knows was bound somewhere above.
    expect([...declared].sort()).toEqual([...ALL_IDS].sort());
  });

  it('are not reached at boot, but where boot is the natural meaning', () => {
    for (const design of DESIGNS) {
      for (const over of matrixConfigs(design)) {
        const cfg = resolveConfig(design, over);
        const m = buildModel(design, cfg);
        const init = m.initial();
        for (const inv of invariantsFor(design, cfg)) {
          if (TRUE_AT_BOOT.has(inv.id)) continue;
          const state = inv.bind(m).reached?.state;
          if (state !== undefined) expect(state(init), `${design.id} ${JSON.stringify(over)}: ${inv.id}`).toBe(false);
        }
      }
    }
  });

  it('list a reaching design for every invariant, at one of its matrix configurations', () => {
    for (const id of ALL_IDS) expect(REACHED.some((r) => r.invariant === id), id).toBe(true);
    for (const r of REACHED) {
      const rows = matrixConfigs(findDesign(r.design)).map((c) => JSON.stringify(c));
      expect(rows, `${r.design} ${JSON.stringify(r.config)}`).toContain(JSON.stringify(r.config));
    }
  });

  it.each(REACHED)('$invariant is reached on $design $config', ({ invariant, design, config }) => {
    const { m, checks } = bound(design, invariant, config);
    const r = search(m, checks.reached!);
    expect(r.reached).toBe(true);
  });
});

describe('preconditions that stay false where nothing can exercise the invariant', () => {
  it('no-hint-under-zone-lock: D5 with only the vCPUs stepping issues and serves no hint', () => {
    const { m, checks } = bound('d5-page-reporting', 'no-hint-under-zone-lock', { reportOrder: 2, capacity: 1 });
    const r = search(m, checks.reached!, vcpuOnly(m));
    expect(r.complete).toBe(true);
    expect(r.reached).toBe(false);
    expect(search(m, checks.reached!).reached).toBe(true);
  });

  it('no-reuse-while-hinting: D5 with only the vCPUs stepping never has a hint in flight', () => {
    const { m, checks } = bound('d5-page-reporting', 'no-reuse-while-hinting', { reportOrder: 2, capacity: 1 });
    const r = search(m, checks.reached!, vcpuOnly(m));
    expect(r.complete).toBe(true);
    expect(r.reached).toBe(false);
    expect(search(m, checks.reached!).reached).toBe(true);
  });

  it('no-reuse-while-hinting: the reporter hints, but no vCPU allocates meanwhile if only the reporter and the host step', () => {
    const { m, checks } = bound('d5-page-reporting', 'no-reuse-while-hinting', { reportOrder: 2, capacity: 1 });
    const r = search(m, checks.reached!, (a) => !m.actors[a.actor].startsWith('vcpu'));
    expect(r.complete).toBe(true);
    expect(r.reached).toBe(false);
  });

  it('poison-reads-back: a host that skips the discard of poisoned pages gives nothing back to read', () => {
    // D5's matrix row for QEMU's skip-if-poisoned: the poison check runs on every allocation, yet never on memory the host took back.
    const { m, checks } = bound('d5-page-reporting', 'poison-reads-back', { poison: 'on', host: 'skip-if-poisoned', reportOrder: 2, capacity: 1 });
    // 21,588 states without the vCPU symmetry the explorer applies.
    const r = search(m, checks.reached!, () => true, 50_000);
    expect(r.complete).toBe(true);
    expect(r.reached).toBe(false);
    // The same design with a host that discards reaches it (see the REACHED table); without the reporter nothing is discarded either.
    const d = bound('d5-page-reporting', 'poison-reads-back', { poison: 'on', host: 'poison-on-fault', reportOrder: 2, capacity: 1 });
    const v = search(d.m, d.checks.reached!, vcpuOnly(d.m));
    expect(v.complete).toBe(true);
    expect(v.reached).toBe(false);
  });

  it('allocator-conservation: D3c\'s engine alone never takes a block off the free lists', () => {
    // The bitmap starts empty with no work queued (no initial flush), so without vCPU frees the worker has nothing to isolate.
    const { m, checks } = bound('d3c-bitmap', 'allocator-conservation');
    const r = search(m, checks.reached!, (a) => !m.actors[a.actor].startsWith('vcpu'));
    expect(r.complete).toBe(true);
    expect(r.reached).toBe(false);
  });

  it('allocator-conservation: the predicate is false again once every block is back on the lists', () => {
    const { m, checks } = bound('d1-arch-free-page', 'allocator-conservation');
    const s = m.initial();
    const t = m.layout.transients;
    const step = (name: string, args: Record<string, number> = {}): void => {
      const a = m.actions.find((x) => x.actor === 0 && x.name === name && Object.entries(args).every(([k, v]) => x.args[k] === v) && x.apply(s.slice()));
      expect(a, name).toBeDefined();
      s.fill(0, t);
      expect(a!.apply(s)).toBe(true);
    };
    step('alloc_pages', { order: 0, block: 0 });
    expect(checks.reached!.state!(s)).toBe(true);
    for (const name of ['spin_unlock', 'prep_new_page', 'free_pages_prepare', 'free_one_page', 'spin_unlock']) step(name);
    expect(checks.reached!.state!(s)).toBe(false);
  });
});
