/**
 * D6, virtio-balloon free page hinting for live migration: every design at
 * each of its matrix rows, the shortest counterexample of every known race
 * (designs.md §4 rows 30, 32-36, and the S17 fix 20a4da0f2307), the row 34
 * interleaving replayed to the switchover, the design's own invariants
 * caught on broken states, and the step rules (guard first, nothing written
 * by a disabled step, deterministic) on every reachable state of small
 * one-round variants.
 */
import { describe, expect, it } from 'vitest';
import { model, race, reachable, settle, shape, takeSteps as run } from '../helpers.js';
import { check } from '../../check/check.js';
import type { TraceStep } from '../../explorers/trace.js';
import { d6AllocatorConservation } from '../../model/designs/d6/invariants/allocator-conservation.js';
import { driverReturnsBlocks } from '../../model/designs/d6/invariants/driver-returns-blocks.js';
import { invariantsFor } from '../../invariants/index.js';
import { ALLOCATED, FREE_HEAD } from '../../model/allocator.js';
import type { Config } from '../../model/config.js';
import {
  D6_DESIGNS, d6ClearLogOnHint, d6FreePageHint, d6NoDoneOnCancel, d6NoReinitOnReturn, d6PostcopyHint, d6StartWithoutRequest,
  d6StatusUnlocked, d6UnloadLeak,
} from '../../model/designs/d6/catalogue.js';
import { freePageHintDesign, type FreePageHintVariant } from '../../model/designs/d6/free-page-hint.js';
import {
  clearLogOnHint, noDoneOnCancel, noReinitOnReturn, postcopyUnguarded, startUnlocked, startWithoutRequest, unloadLeaks,
} from '../../model/designs/d6/mutants.js';
import { DATA } from '../../model/host.js';
import { resolveConfig } from '../../model/system.js';
import type { Model, State } from '../../model/types.js';
import { IN_USE } from '../../model/vcpu.js';

// ---------------------------------------------------------------- helpers

/** `keys` occur in `steps` in this order (other steps may come between). */
function expectInOrder(steps: readonly string[], keys: readonly string[]): void {
  let i = 0;
  for (const s of steps) if (i < keys.length && s === keys[i]) i++;
  expect(i, `${keys[i]} in order in\n  ${steps.join('\n  ')}`).toBe(keys.length);
}

/** The step taken at `key` (its first occurrence after step index `from`). */
function stepAt(steps: readonly TraceStep[], key: string, from = 0): TraceStep {
  const all = shape(steps);
  const i = all.findIndex((s, j) => j >= from && s === key);
  expect(i, `${key} in\n  ${all.join('\n  ')}`).toBeGreaterThanOrEqual(0);
  return steps[i];
}

const field = (m: Model, s: State, group: string, name: string, index = 0): number => s[m.layout.at(group, name) + index];

/** The first hinting round, from the migration's setup to the driver's hint of the whole zone (block 0). */
const FIRST_HINT = [
  ['migration', 'ram_save_setup'],
  ['migration', 'free_page_stop'],
  ['migration', 'migration_bitmap_sync'],
  ['migration', 'free_page_start'],
  ['balloon', 'virtballoon_changed'],
  ['balloon', 'report_free_page_func'],
  ['balloon', 'send_cmd_id_start'],
  ['balloon', 'get_free_page_and_send', { block: 0 }],
] as const;

// ---------------------------------------------------------------- matrix rows

const ROWS = D6_DESIGNS.flatMap((design) =>
  design.expect.map((row, i) => ({ name: `${design.id} row ${i} ${JSON.stringify(row.config ?? {})}`, design, row })),
);

describe('D6 matrix rows', () => {
  it.each(ROWS)('$name gives its expected verdicts', ({ design, row }) => {
    const r = check(design, { config: row.config ?? {}, traces: false });
    expect(r.complete).toBe(true);
    const cfg = resolveConfig(design, row.config ?? {});
    const applicable = invariantsFor(design, cfg).map((i) => i.id);
    for (const id of row.violates) expect(applicable, `${id} applies`).toContain(id);
    const want = Object.fromEntries(applicable.map((id) => [id, row.violates.includes(id) ? 'violated' : 'holds']));
    expect(Object.fromEntries(r.results.map((x) => [x.invariant, x.verdict]))).toEqual(want);
    // The only violation the design accepts is the reuse of a block whose hint is still in flight.
    for (const x of r.results) expect(x.accepted !== undefined).toBe(x.invariant === 'no-reuse-while-hinting' && x.verdict === 'violated');
  });

  it('skip the shared invariants that say nothing about D6, and check their own', () => {
    for (const d of D6_DESIGNS) {
      expect(Object.keys(d.skip ?? {}).sort()).toEqual(['allocator-conservation', 'no-backed-free-blocks', 'no-double-report', 'no-fake-oom', 'no-missed-hints']);
      expect(d.invariants!.map((i) => i.id).slice(0, 3)).toEqual(['d6-migrated-pages-current', 'd6-driver-returns-blocks', 'd6-allocator-conservation']);
    }
  });
});

// ---------------------------------------------------------------- known races

describe('known races (designs.md §4)', () => {
  it('row 30: a cancelled migration never says DONE, and the driver keeps its block (d6-no-done-on-cancel)', () => {
    const { steps, message } = race(d6NoDoneOnCancel, {}, 'd6-driver-returns-blocks');
    expect(steps).toHaveLength(13);
    const all = shape(steps);
    expectInOrder(all, [
      'migration: free_page_start',
      'balloon: get_free_page_and_send(block=0)',
      'migration: migrate_cancel',
      'balloon: virtballoon_changed',
      'balloon: report_free_page_func',
    ]);
    expect(stepAt(steps, 'migration: migrate_cancel').summary).toContain('dev.status: requested -> stop');
    expect(steps[12].summary).toContain('balloon.received: id1 -> stop');
    expect(message).toMatch(/migration is over .* still holds the block at page 0/);
  });

  it('row 32: an unlocked free_page_start() lets the last round\'s START restart hinting; a write is lost (d6-status-unlocked)', () => {
    const { steps, message } = race(d6StatusUnlocked, {}, 'd6-migrated-pages-current');
    expect(steps).toHaveLength(21);
    const all = shape(steps);
    expectInOrder(all, [
      'balloon: send_cmd_id_start',
      'balloon: get_free_page_and_send(block=0)',
      'shrinker: shrinker_scan(block=0)',
      'vcpu0: prep_new_page',
      'migration: free_page_stop',
      'migration: migration_bitmap_sync',
      'migration: free_page_start(store=status)',
      'iothread: get_free_page_hints',
      'iothread: get_free_page_hints',
      'migration: free_page_start(store=cmd_id)',
      'migration: migration_completion',
    ]);
    const stale = all.lastIndexOf('migration: free_page_start(store=status)');
    expect(stepAt(steps, 'iothread: get_free_page_hints', stale).summary).toContain('dev.status: requested -> start');
    expect(steps[20].summary).toContain('migration.lost: 0 -> 1');
    expect(message).toMatch(/never got the latest write to page 0, which a vCPU is using/);
  });

  it('20a4da0f2307: a START popped between stop and start restarts the round, and a write is lost (d6-start-without-request)', () => {
    const { steps } = race(d6StartWithoutRequest, {}, 'd6-migrated-pages-current');
    expect(steps).toHaveLength(19);
    const all = shape(steps);
    expectInOrder(all, [
      'balloon: get_free_page_and_send(block=0)',
      'shrinker: shrinker_scan(block=0)',
      'migration: free_page_stop',
      'iothread: get_free_page_hints',
      'vcpu0: prep_new_page',
      'migration: migration_bitmap_sync',
      'iothread: get_free_page_hints',
      'migration: migration_completion',
    ]);
    const stop = all.lastIndexOf('migration: free_page_stop');
    expect(stepAt(steps, 'iothread: get_free_page_hints', stop).summary).toContain('dev.status: stop -> start');
  });

  it('20a4da0f2307: a START popped after DONE hides DONE from the guest (d6-start-without-request)', () => {
    const { steps } = race(d6StartWithoutRequest, {}, 'd6-driver-returns-blocks');
    expect(steps).toHaveLength(14);
    expectInOrder(shape(steps), ['balloon: get_free_page_and_send(block=0)', 'migration: migration_completion', 'iothread: get_free_page_hints', 'balloon: report_free_page_func']);
    expect(stepAt(steps, 'iothread: get_free_page_hints').summary).toContain('dev.status: done -> start');
    expect(steps[13].summary).toContain('balloon.received: id1 -> stop');
  });

  it('row 33: the driver is removed while it holds a block (d6-unload-leak)', () => {
    const { steps, message } = race(d6UnloadLeak, {}, 'd6-driver-returns-blocks');
    expect(steps).toHaveLength(11);
    expectInOrder(shape(steps), [
      'balloon: get_free_page_and_send(block=0)',
      'balloon: alloc_pages_fails',
      'balloon: send_cmd_id_stop',
      'balloon: virtballoon_remove',
    ]);
    expect(message).toMatch(/removed while its free_page_list still held the block at page 0/);
    // The fixed driver gives the block back in remove_common().
    const m = model(d6FreePageHint);
    const s = run(m, m.initial(), [...FIRST_HINT, ['balloon', 'alloc_pages_fails'], ['balloon', 'send_cmd_id_stop'], ['balloon', 'virtballoon_remove']]);
    expect(field(m, s, 'fpl', 'held')).toBe(0);
    expect(s[m.f.owner]).toBe(FREE_HEAD);
  });

  it('row 34: a block reused while its hint is in flight (accepted), and the write still reaches the destination', () => {
    const { steps } = race(d6FreePageHint, {}, 'no-reuse-while-hinting');
    expect(shape(steps)).toEqual([...FIRST_HINT.map(([a, n, args]) => `${a}: ${n}${args ? '(block=0)' : ''}`), 'shrinker: shrinker_scan(block=0)', 'vcpu0: alloc_pages(order=0, block=0)']);
    // designs.md row 34 to the end: the guest writes P, then the host processes the hint, then the migration completes.
    const m = model(d6FreePageHint);
    const written = run(m, m.initial(), [
      ...FIRST_HINT,
      ['shrinker', 'shrinker_scan', { block: 0 }],
      ['vcpu0', 'alloc_pages', { order: 0, block: 0 }],
      ['vcpu0', 'spin_unlock'],
      ['vcpu0', 'prep_new_page'],
      ['iothread', 'get_free_page_hints'],
      ['iothread', 'get_free_page_hints'],
    ]);
    // The hint cleared the page's bit, but the write is in the dirty log ("the 2-bitmap magic").
    expect(field(m, written, 'mig', 'bmap', 0)).toBe(0);
    expect(field(m, written, 'mig', 'dlog', 0)).toBe(1);
    const done = run(m, written, [['migration', 'migration_completion']]);
    expect(field(m, done, 'migration', 'lost')).toBe(0);
    expect(done[m.f.vPhase]).toBe(IN_USE);
    expect(done[m.f.content]).toBe(DATA);
  });

  it('row 35: a block given back without re-initialising reads stale on the destination (d6-no-reinit-on-return)', () => {
    const { steps, message } = race(d6NoReinitOnReturn, {}, 'poison-reads-back');
    expect(steps).toHaveLength(13);
    expectInOrder(shape(steps), [
      'balloon: get_free_page_and_send(block=0)',
      'shrinker: shrinker_scan(block=0)',
      'iothread: get_free_page_hints',
      'iothread: get_free_page_hints',
      'migration: migration_completion',
      'balloon: get_free_page_and_send(block=0)',
    ]);
    expect(stepAt(steps, 'migration: migration_completion').summary).toContain('pages 0-1: content poison -> zero, backing backed -> unbacked');
    expect(message).toBe('balloon read zero from page 0 at allocation; expected poison');
  });

  it('row 36: under postcopy a hinted page is never sent, and the destination never says DONE (d6-postcopy-hint)', () => {
    const stall = race(d6PostcopyHint, {}, 'd6-postcopy-pages-arrive');
    expect(stall.steps).toHaveLength(11);
    expectInOrder(shape(stall.steps), [
      'balloon: send_cmd_id_start',
      'balloon: get_free_page_and_send(block=0)',
      'iothread: get_free_page_hints',
      'iothread: get_free_page_hints',
      'migration: postcopy_start',
    ]);
    expect(stall.steps[10].summary).toContain('migration.stall: 0 -> 1');
    const leak = race(d6PostcopyHint, {}, 'd6-driver-returns-blocks');
    expect(leak.steps).toHaveLength(11);
    expectInOrder(shape(leak.steps), ['balloon: get_free_page_and_send(block=0)', 'balloon: send_cmd_id_stop', 'migration: postcopy_start']);
    // Postcopy moves the device as it is: the guest's status stays S_REQUESTED, never S_DONE.
    expect(leak.steps[10].summary.join(' ')).not.toContain('dev.status');
  });
});

describe('designs.md §5: QEMU 6.1 clears the dirty log of hinted pages (3143577d6a3f)', () => {
  it('loses a write made while the hint was in flight, on a page the sync left dirty and writable (d6-clear-log-on-hint)', () => {
    const { steps } = race(d6ClearLogOnHint, {}, 'd6-migrated-pages-current');
    expect(steps).toHaveLength(15);
    const all = shape(steps);
    expectInOrder(all, [
      'migration: ram_save_setup',
      'migration: migration_bitmap_sync',
      'balloon: get_free_page_and_send(block=0)',
      'shrinker: shrinker_scan(block=0)',
      'vcpu0: alloc_pages(order=0, block=0)',
      'vcpu0: prep_new_page',
      'iothread: get_free_page_hints',
      'migration: migration_completion',
    ]);
    // The write finds its bit already set (KVM_DIRTY_LOG_INITIALLY_SET, not cleared since the sync): no new record.
    expect(stepAt(steps, 'vcpu0: prep_new_page').summary.join(' ')).not.toContain('mig.dlog');
    // The hint's clear erases the bit the sync reported, and with it the write.
    expect(steps[13].summary.join(' ')).toContain('mig.dlog true -> false');
    expect(steps[14].summary).toContain('migration.lost: 0 -> 1');
  });
});

// ---------------------------------------------------------------- the fixed design's paths

describe('d6-free-page-hint', () => {
  it('gives every block back when the guest reads DONE', () => {
    const m = model(d6FreePageHint);
    const s = run(m, m.initial(), [
      ...FIRST_HINT,
      ['balloon', 'alloc_pages_fails'],
      ['migration', 'migration_completion'],
      ['balloon', 'send_cmd_id_stop'],
      ['balloon', 'virtballoon_changed'],
      ['balloon', 'report_free_page_func'],
    ]);
    expect(field(m, s, 'balloon', 'received')).toBe(1); // DONE
    expect(field(m, s, 'fpl', 'held')).toBe(0);
    expect(s[m.f.owner]).toBe(FREE_HEAD);
    expect(driverReturnsBlocks.bind(m).state!(s)).toBeNull();
  });

  it('ignores hints of a round the migration thread stopped', () => {
    const m = model(d6FreePageHint);
    const stopped = run(m, m.initial(), [...FIRST_HINT, ['migration', 'migration_bitmap_sync_precopy'], ['migration', 'free_page_stop']]);
    const s = run(m, stopped, [['iothread', 'get_free_page_hints'], ['iothread', 'get_free_page_hints']]);
    expect(field(m, s, 'dev', 'status')).toBe(0); // still S_STOP: the START of the stopped round is stale
    expect(field(m, s, 'mig', 'bmap', 0)).toBe(1);
  });
});

// ---------------------------------------------------------------- own invariants

describe('d6-allocator-conservation', () => {
  it('places the driver\'s blocks, and catches one that is free or also a vCPU\'s', () => {
    const m = model(d6FreePageHint);
    const check4 = d6AllocatorConservation.bind(m).state!;
    const held = m.layout.at('fpl', 'held');
    const hinted = run(m, m.initial(), FIRST_HINT);
    expect(check4(hinted)).toBeNull();
    const free = settle(m, m.initial());
    free[held] = 1;
    expect(check4(free)).toBe("page 0 is on the driver's free_page_list but is free-head");
    const both = hinted.slice();
    both[m.f.vPhase] = IN_USE;
    expect(both[m.f.owner]).toBe(ALLOCATED);
    expect(check4(both)).toBe('page 0 is held by vcpu0 and by the balloon driver');
    const lost = hinted.slice();
    lost[held] = 0;
    expect(check4(lost)).toBe('page 0 is allocated but no vCPU holds it');
  });
});

// ---------------------------------------------------------------- step rules

const SMALL: readonly { name: string; v: FreePageHintVariant; config?: Partial<Config> }[] = [
  { name: 'unlocked start, start without request', v: { rounds: 1, overrides: { ...startUnlocked, ...startWithoutRequest } } },
  {
    name: 'no DONE on cancel, unload leak, manual dirty log cleared on hint',
    v: { manualDirtyLog: true, rounds: 1, overrides: { ...noDoneOnCancel, ...unloadLeaks, ...clearLogOnHint } },
  },
  { name: 'postcopy, no re-init, poison on', v: { postcopy: true, rounds: 1, overrides: { ...postcopyUnguarded, ...noReinitOnReturn } }, config: { poison: 'on' } },
];

describe('D6 steps', () => {
  it.each(SMALL)('are guarded first and deterministic on every reachable state ($name)', ({ v, config }) => {
    const d = freePageHintDesign('d6-small', 't', 's', v, []);
    const m = model(d, config);
    const states = reachable(m);
    expect(states.length).toBeGreaterThan(1000);
    const same = (a: State, b: State): boolean => a.every((x, i) => x === b[i]);
    const problems: string[] = [];
    for (const s of states) {
      for (const a of m.actions) {
        const x = s.slice();
        const y = s.slice();
        const rx = a.apply(x);
        const ry = a.apply(y);
        if (rx !== ry || !same(x, y)) problems.push(`${m.actors[a.actor]} ${a.name} is not deterministic`);
        else if (!rx && !same(x, s)) problems.push(`${m.actors[a.actor]} ${a.name} wrote while disabled`);
        if (problems.length > 0) break;
      }
      if (problems.length > 0) break;
    }
    expect(problems).toEqual([]);
  });
});
