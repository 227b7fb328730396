/**
 * D6's START out-buffer is held by reference: send_cmd_id_start() adds
 * &vb->cmd_id_active, rewritten for every round, and QEMU's
 * get_free_page_hints() reads the id with iov_to_buf() when it pops the
 * buffer. Pinned here: a START posted in round 1 and popped after the driver
 * started round 2 is read as round 2's id, restarts hinting, and lets round
 * 1's in-buffer clear a bit the second sync set; the shortest counterexample
 * of d6-migrated-pages-current is that interleaving, with the verdict the
 * design's expectation states; and the same steps with the id held by value
 * (the startByValue option) leave the old START ignored, and the design holds.
 */
import { describe, expect, it } from 'vitest';
import { model, shape, takeSteps as run, type StepName as Step } from '../helpers.js';
import { check } from '../../check/check.js';

import { d6FreePageHint } from '../../model/designs/d6/catalogue.js';
import { freePageHintDesign } from '../../model/designs/d6/free-page-hint.js';

import type { Model, State } from '../../model/types.js';

// ---------------------------------------------------------------- helpers (as in test/designs/d6.test.ts)

interface D6View {
  dev: { status: string; cmdId: number };
  vq: { slot: string[] };
  balloon: { active: string };
  migration: { lost: number };
}

const view = (m: Model, s: State): D6View => m.layout.view(s) as unknown as D6View;
const bmap = (m: Model, s: State, p: number): number => s[m.layout.at('mig', 'bmap') + p];

// ---------------------------------------------------------------- the interleaving

/** Round 1: the driver posts its START and block 0; the shrinker gives the block back and vCPU 0 writes page 0. */
const ROUND_1: readonly Step[] = [
  ['migration', 'ram_save_setup'],
  ['migration', 'free_page_stop'],
  ['migration', 'migration_bitmap_sync'],
  ['migration', 'free_page_start'],
  ['balloon', 'virtballoon_changed'],
  ['balloon', 'report_free_page_func'],
  ['balloon', 'send_cmd_id_start'],
  ['balloon', 'get_free_page_and_send', { block: 0 }],
  ['shrinker', 'shrinker_scan', { block: 0 }],
  ['vcpu0', 'alloc_pages', { order: 0, block: 0 }],
  ['vcpu0', 'spin_unlock'],
  ['vcpu0', 'prep_new_page'],
];

/** The second sync takes the write out of KVM's log; QEMU starts round 2; the driver ends round 1 and starts round 2. */
const ROUND_2: readonly Step[] = [
  ['migration', 'migration_bitmap_sync_precopy'],
  ['migration', 'free_page_stop'],
  ['migration', 'migration_bitmap_sync'],
  ['migration', 'free_page_start'],
  ['balloon', 'virtballoon_changed'],
  ['balloon', 'send_free_pages'],
  ['balloon', 'send_cmd_id_stop'],
  ['balloon', 'report_free_page_func'],
  ['balloon', 'send_cmd_id_start'],
];

const POP: Step = ['iothread', 'get_free_page_hints'];

describe('the START out-buffer, by reference', () => {
  it('is posted as a pointer to cmd_id_active, not as the id it held', () => {
    const m = model(d6FreePageHint);
    const posted = run(m, m.initial(), ROUND_1.slice(0, 7));
    expect(view(m, posted).vq.slot[0]).toBe('START (reads cmd_id_active)');
    expect(view(m, posted).balloon.active).toBe('id1');
  });

  it('posted in round 1 and popped after the driver started round 2, is read as round 2 and restarts hinting', () => {
    const m = model(d6FreePageHint);
    const s = run(m, m.initial(), [...ROUND_1, ...ROUND_2]);
    const before = view(m, s);
    // Round 1's START, its block and its STOP are all still queued: the iothread has not run.
    expect(before.vq.slot).toEqual(['START (reads cmd_id_active)', 'in-0', 'STOP (cmd_id_stop)']);
    // The driver has rewritten the word that START points at; QEMU is waiting for round 2's id.
    expect(before.balloon.active).toBe('id2');
    expect([before.dev.status, before.dev.cmdId]).toEqual(['requested', 2]);
    // The second sync moved vCPU 0's write from the dirty log into the bitmap.
    expect(bmap(m, s, 0)).toBe(1);
    expect(s[m.layout.at('mig', 'dlog')]).toBe(0);

    const started = run(m, s, [POP]);
    expect(view(m, started).dev.status).toBe('start');
    const hinted = run(m, started, [POP]);
    expect(bmap(m, hinted, 0)).toBe(0);
    const stopped = run(m, hinted, [POP]);
    expect(view(m, stopped).dev.status).toBe('stop');
    const done = run(m, stopped, [['migration', 'migration_completion']]);
    expect(view(m, done).migration.lost).toBe(1);
  });

  it('held by value instead (startByValue), the same START carries round 1 and is ignored', () => {
    const d = freePageHintDesign('d6-start-by-value', 't', 's', { startByValue: true }, []);
    const m = model(d);
    const s = run(m, m.initial(), [...ROUND_1, ...ROUND_2]);
    expect(view(m, s).vq.slot).toEqual(['START (carries id1)', 'in-0', 'STOP (cmd_id_stop)']);
    const popped = run(m, s, [POP, POP, POP]);
    expect(view(m, popped).dev.status).toBe('requested');
    expect(bmap(m, popped, 0)).toBe(1);
    const done = run(m, popped, [['migration', 'migration_completion']]);
    expect(view(m, done).migration.lost).toBe(0);
  });
});

describe('d6-free-page-hint on d6-migrated-pages-current', () => {
  it('gives the verdict its expectation states, with the aliased START in the shortest counterexample', () => {
    const row = d6FreePageHint.expect.find((r) => r.config === undefined)!;
    expect(row.violates).toContain('d6-migrated-pages-current');
    // With only a violated invariant to check, the search stops at its shortest counterexample.
    const r = check(d6FreePageHint, { invariants: ['d6-migrated-pages-current'] });
    const res = r.results[0];
    expect(res.verdict).toBe('violated');
    expect(res.depth).toBe(24);
    const steps = res.trace!.steps;
    expect(steps).toHaveLength(24);
    const all = shape(steps);
    const starts = all.flatMap((s, i) => (s === 'balloon: send_cmd_id_start' ? [i] : []));
    expect(starts).toHaveLength(2);
    const pops = all.flatMap((s, i) => (s === 'iothread: get_free_page_hints' ? [i] : []));
    // The iothread lags a whole round: its first pop comes after the driver's second send_cmd_id_start().
    expect(pops.length).toBeGreaterThan(0);
    expect(pops[0]).toBeGreaterThan(starts[1]);
    expect(steps[starts[1]].summary).toContain('balloon.active: id1 -> id2');
    // That pop is round 1's START, read as id 2 under S_REQUESTED with cmd_id 2.
    expect(steps[pops[0]].summary).toContain('dev.status: requested -> start');
    expect(steps[pops[0]].summary).toContain('vq.slot[0]: START (reads cmd_id_active) -> in-0');
    // Between the two STARTs the second sync ran.
    const syncs = all.flatMap((s, i) => (s === 'migration: migration_bitmap_sync' ? [i] : []));
    expect(syncs.some((i) => i > starts[0] && i < starts[1])).toBe(true);
    expect(steps[23].summary).toContain('migration.lost: 0 -> 1');
  });

  it('holds when the START carries its id by value (the candidate fix)', () => {
    const d = freePageHintDesign('d6-start-by-value', 't', 's', { startByValue: true }, []);
    const r = check(d, { invariants: ['d6-migrated-pages-current'], traces: false });
    expect(r.complete).toBe(true);
    expect(r.results[0].verdict).toBe('holds');
  });
});
