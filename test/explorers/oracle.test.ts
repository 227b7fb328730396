import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { check, checkParallel, REDUCE_MODES, resolveReductions, type CheckReport, type ReduceMode } from '../../check/check.js';
import { DesignError } from '../../model/errors.js';
import type { DesignRef } from '../../explorers/source.js';
import { invariantsFor } from '../../invariants/index.js';
import type { Config } from '../../model/config.js';
import { DESIGNS } from '../../model/designs/index.js';
import { buildModel, resolveConfig } from '../../model/system.js';
import type { Design } from '../../model/types.js';
import { isDesign } from '../../check/load/load.js';
import { naiveExplore, OracleDesignError, type OracleResult } from './oracle.js';

/**
 * The real explorer against the naive one (test/explorers/oracle.ts), on every
 * design of the catalogue, the examples and the fixtures, at bounds small
 * enough for the naive one: the same verdict per invariant and the same
 * shortest counterexample length, under every reduction the design
 * supports, on one engine and on two workers. An optimisation that skips a
 * check it should not (an event gate, a sampled segment, a reduction that
 * loses a state) shows up here as a verdict or a depth that differs.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));

/** The naive explorer's budget per configuration: a few thousand states. */
const LIMIT = 6000;

/** The smallest configuration of the biggest designs (D6's migration has many steps) may take more. */
const FALLBACK = 120_000;

/** Small configurations to try, largest first, when none of a design's matrix rows is small enough. */
const TINY: readonly Partial<Config>[] = [
  { cpus: 2, pages: 4, maxOrder: 1, reportOrder: 1, capacity: 1 },
  { cpus: 2, pages: 2, maxOrder: 1, reportOrder: 1, capacity: 1 },
  { cpus: 1, pages: 4, maxOrder: 2, reportOrder: 1, capacity: 1 },
  { cpus: 1, pages: 4, maxOrder: 1, reportOrder: 1, capacity: 1 },
  { cpus: 1, pages: 2, maxOrder: 1, reportOrder: 1, capacity: 1 },
  { cpus: 1, pages: 2, maxOrder: 1, reportOrder: 0, capacity: 1 },
  { cpus: 1, pages: 2, maxOrder: 0, reportOrder: 0, capacity: 1 },
];
const SMALLEST: Partial<Config> = { cpus: 1, pages: 1, maxOrder: 0, reportOrder: 0, capacity: 1 };

/** The unreduced state count of a configuration, if it is within the naive explorer's reach. */
function fits(design: Design, config: Partial<Config>, limit = LIMIT): boolean {
  try {
    const r = check(design, { config, reduce: 'none', maxStates: limit, traces: false });
    return r.complete || r.stoppedBy === 'all-violated' ? r.states <= limit : false;
  } catch (e) {
    // A configuration the design does not accept (a bound out of its range) is not a candidate.
    if (e instanceof Error && e.name === 'UsageError') return false;
    throw e;
  }
}

/** The configurations a design is compared at: its first matrix row that fits, and the largest tiny one. */
function configsOf(design: Design): Partial<Config>[] {
  const out: Partial<Config>[] = [];
  const row = design.expect.map((e) => e.config ?? {}).find((c) => fits(design, c));
  if (row !== undefined) out.push(row);
  const tiny = TINY.find((c) => fits(design, c));
  if (tiny !== undefined && JSON.stringify(tiny) !== JSON.stringify(row)) out.push(tiny);
  if (out.length === 0 && fits(design, SMALLEST, FALLBACK)) out.push(SMALLEST);
  // With pageblock migratetypes and the isolator as well, where the design takes part.
  if (design.migratetypes) {
    const typed = [...out, ...TINY].map((c) => ({ ...c, migratetypes: 'on' as const })).find((c) => fits(design, c));
    if (typed !== undefined) out.push(typed);
  }
  return out;
}

function supported(design: Design, config: Partial<Config>): ReduceMode[] {
  const m = buildModel(design, resolveConfig(design, config));
  return REDUCE_MODES.filter((mode) => {
    try {
      resolveReductions(m, mode);
      return true;
    } catch {
      return false;
    }
  });
}

/** Verdicts as `invariant: holds` or `invariant: violated@N`, in the invariants' order. */
function fromOracle(o: OracleResult): string[] {
  return [...o.verdicts].map(([id, d]) => `${id}: ${d === null ? 'holds' : `violated@${d}`}`);
}

function fromReport(r: CheckReport): string[] {
  return r.results.map((x) => {
    if (x.verdict === 'violated' && x.trace !== undefined) expect(x.trace.steps.length, `${r.design} ${x.invariant}: the trace is as long as the depth`).toBe(x.depth);
    return `${x.invariant}: ${x.verdict === 'violated' ? `violated@${x.depth}` : x.verdict}`;
  });
}

function run(c: Case, config: Partial<Config>, reduce: ReduceMode, workers: number): Promise<CheckReport> {
  if (workers === 1) return (async () => check(c.design, { config, reduce }))();
  return checkParallel(c.design, { config, reduce, workers, firstTry: 0, source: c.source });
}

async function rejectedEverywhere(c: Case, e: DesignError): Promise<void> {
  const config = c.design.defaults ?? {};
  if (e.where.step !== undefined) {
    const cfg = resolveConfig(c.design, config);
    expect(() => naiveExplore(buildModel(c.design, cfg), invariantsFor(c.design, cfg), FALLBACK), `${c.name}: the naive explorer accepts what the explorer rejects: ${e.message}`).toThrow(OracleDesignError);
  }
  for (const workers of [1, 2]) await expect(run(c, config, 'none', workers), `${c.name} --workers ${workers}`).rejects.toBeInstanceOf(DesignError);
}

interface Case {
  readonly name: string;
  readonly design: Design;
  readonly source: DesignRef;
}

const files = [
  ...readdirSync(`${root}/examples`).filter((f) => /\.[jt]s$/.test(f)).map((f) => `examples/${f}`),
  ...readdirSync(`${root}/test/fixtures`).filter((f) => /\.[jt]s$/.test(f)).map((f) => `test/fixtures/${f}`),
];

describe('the explorer against a naive reference explorer', async () => {
  const cases: Case[] = DESIGNS.map((d) => ({ name: d.id, design: d, source: { id: d.id } }));
  // Files that do not load, or export no design, are reported as such by load.ts (test/model/design-api.test.ts, test/check/trust.test.ts).
  const failing: string[] = [];
  for (const f of files) {
    let mod: Record<string, unknown>;
    try {
      // Imported as they are, untyped: the runtime checks are what is compared here.
      mod = (await import(/* @vite-ignore */ `${root}/${f}`)) as Record<string, unknown>;
    } catch {
      failing.push(f);
      continue;
    }
    const found = [mod.default, ...Object.values(mod)].flat().filter(isDesign).filter((d, i, all) => all.indexOf(d) === i);
    if (found.length === 0) failing.push(f);
    for (const d of found) cases.push({ name: `${f} ${d.id}`, design: d, source: { id: d.id, file: `${root}/${f}`, shownAs: f } });
  }

  it('covers the whole catalogue, the examples and the fixtures', () => {
    expect(cases.length).toBeGreaterThan(DESIGNS.length + 5);
    expect(failing.sort()).toEqual(['test/fixtures/forgets-a-phase.ts', 'test/fixtures/no-design.js', 'test/fixtures/syntax-error.ts']);
  });

  let compared = 0;
  let violated = 0;
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    let configs: Partial<Config>[];
    try {
      configs = configsOf(c.design);
    } catch (e) {
      if (!(e instanceof DesignError)) throw e;
      // A design the explorer rejects is rejected under every reduction and worker count; where the
      // naive explorer can tell (a step that throws, writes outside its domain, is not deterministic), it rejects it too.
      await rejectedEverywhere(c, e);
      return;
    }
    expect(configs.length, `${c.name}: no configuration small enough for the oracle`).toBeGreaterThan(0);
    for (const config of configs) {
      const cfg = resolveConfig(c.design, config);
      const want = fromOracle(naiveExplore(buildModel(c.design, cfg), invariantsFor(c.design, cfg), FALLBACK));
      for (const reduce of supported(c.design, config)) {
        for (const workers of [1, 2]) {
          const label = `${c.name} ${JSON.stringify(config)} --reduce ${reduce} --workers ${workers}`;
          const r = await run(c, config, reduce, workers);
          expect(r.complete || r.stoppedBy === 'all-violated', label).toBe(true);
          expect(fromReport(r), label).toEqual(want);
          compared++;
          violated += want.filter((x) => x.includes('violated')).length;
        }
      }
    }
  });

  it('compared real verdicts, violations among them, and left no loader module behind', () => {
    expect(compared).toBeGreaterThan(100);
    expect(violated).toBeGreaterThan(100);
    // Workers ended while they imported a design file (one of them failed) cannot remove its module; the search does.
    const left = ['examples', 'test/fixtures'].flatMap((d) => readdirSync(`${root}/${d}`).filter((f) => f.includes('.hintcheck-')));
    expect(left).toEqual([]);
  });
});
