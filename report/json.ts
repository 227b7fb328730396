/**
 * The exhaustive check's report as JSON: what `check --json` prints and what
 * CI and scripts read. Its fields are documented in docs/model.md.
 */
import type { CheckReport } from '../check/verdicts.js';
import { stepsJson } from './random.js';

/** The JSON of one exhaustive check (the random explorers' is randomJson in report/random.ts). */
export function checkJson(report: CheckReport): Record<string, unknown> {
  return {
    design: report.design,
    config: report.config,
    complete: report.complete,
    stoppedBy: report.stoppedBy,
    states: report.states,
    transitions: report.transitions,
    depth: report.depth,
    seconds: Number(report.seconds.toFixed(3)),
    statesPerSecond: Math.round(report.statesPerSecond),
    bytesPerState: Number(report.bytesPerState.toFixed(1)),
    workers: report.workers,
    ...(report.partition !== undefined
      ? { partition: { fields: report.partition.fields, sampledChangeRate: Number(report.partition.changeRate.toFixed(3)), sampledBalance: Number(report.partition.balance.toFixed(3)) } }
      : {}),
    ...(report.note !== undefined ? { note: report.note } : {}),
    reductions: {
      symmetry: report.reduce.symmetry,
      partialOrder: report.reduce.por,
      ...(report.represented !== undefined ? { represented: report.represented, symmetryFactor: Number(report.symmetryFactor!.toFixed(3)) } : {}),
    },
    results: report.results.map((r) => ({
      invariant: r.invariant,
      verdict: r.verdict,
      ...(r.accepted !== undefined ? { accepted: r.accepted } : {}),
      ...(r.message !== undefined ? { message: r.message } : {}),
      ...(r.depth !== undefined ? { depth: r.depth } : {}),
      ...(r.preemptions !== undefined ? { preemptions: r.preemptions } : {}),
      ...(r.token !== undefined ? { token: r.token } : {}),
      ...(r.replay !== undefined ? { replay: r.replay } : {}),
      ...(r.unreached ? { unreached: true } : {}),
      ...(r.trace !== undefined
        ? { trace: r.trace.steps.map((s) => ({ step: s.step, actor: s.actor, action: s.action, args: s.args, kernel: s.kernel, changes: s.changes, summary: s.summary })) }
        : {}),
      ...(r.witness !== undefined ? { witness: stepsJson(r.witness) } : {}),
    })),
    coverage: report.coverage,
  };
}
