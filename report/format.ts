/**
 * Text rendering of reports and counterexamples, for a kernel engineer to
 * read: numbered steps, who acted, the kernel function the step stands for,
 * and what changed, with page-level changes folded into page ranges.
 */
import { match } from 'ts-pattern';
import type { CheckReport, InvariantResult, Verdict } from '../check/verdicts.js';
import type { Coverage } from '../check/coverage.js';
import { describeConfig } from '../model/config.js';
import type { TraceStep } from '../explorers/trace.js';
import { argsText } from '../model/describe.js';

export function num(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function secs(s: number): string {
  return s < 10 ? s.toFixed(2) : s.toFixed(1);
}

export function verdictWord(v: Verdict): string {
  return match(v)
    .with('holds', () => 'holds')
    .with('violated', () => 'violated')
    .with('unknown', () => 'unknown')
    .exhaustive();
}

/** Numbered steps, one header line per step and its changes indented below. */
export function formatTrace(t: { readonly steps: readonly Pick<TraceStep, 'step' | 'actor' | 'action' | 'args' | 'kernel' | 'summary'>[] }): string[] {
  const lines: string[] = [];
  const width = Math.max(6, ...t.steps.map((s) => s.actor.length));
  for (const s of t.steps) {
    const head = `${String(s.step).padStart(3)}. ${s.actor.padEnd(width)}  ${s.action}${argsText(s.args)}`;
    lines.push(`${head.padEnd(56)}  ${s.kernel}`);
    for (const c of s.summary) lines.push(`        ${c}`);
    if (s.summary.length === 0) lines.push('        (no change)');
  }
  return lines;
}

function resultLine(r: InvariantResult, c: Coverage): string {
  const v = verdictWord(r.verdict).padEnd(9);
  const pre = c.invariants.find((x) => x.invariant === r.invariant)?.precondition ?? 'its precondition';
  const extra = r.verdict === 'violated'
    ? `  (shortest counterexample: ${r.depth} step${r.depth === 1 ? '' : 's'}${r.preemptions !== undefined ? `, ${r.preemptions.to.preemptions} preemption${r.preemptions.to.preemptions === 1 ? '' : 's'} (from ${r.preemptions.from.preemptions})` : ''}${r.accepted !== undefined ? '; accepted by the design' : ''})`
    : r.unreached
      ? `  unreached: ${pre} never happened, so this proves nothing`
      : '';
  return `  ${v} ${r.invariant}${extra}`;
}

export function searchLine(r: Pick<CheckReport, 'complete' | 'stoppedBy' | 'states' | 'transitions' | 'depth' | 'seconds' | 'statesPerSecond'> & { readonly workers?: number }): string {
  const how = r.complete
    ? 'complete'
    : r.stoppedBy === 'all-violated'
      ? 'stopped once every checked invariant was violated'
      : `cut short (${r.stoppedBy})`;
  const on = r.workers !== undefined && r.workers > 1 ? ` on ${r.workers} workers` : '';
  return `search: ${how}, ${num(r.states)} states, ${num(r.transitions)} transitions, depth ${r.depth}, ${secs(r.seconds)} s${on}, ${num(r.statesPerSecond)} states/s`;
}

/** How a parallel search split its states: the key, and how its sample rated it. */
export function partitionLine(p: NonNullable<CheckReport['partition']>): string {
  const sampled = Number.isNaN(p.changeRate) ? '' : ` (sampled: ${Math.round(p.changeRate * 100)}% of steps change them; expected balance ${Math.round(p.balance * 100)}%)`;
  return `partition: states split by ${p.fields.join(', ')}${sampled}`;
}

/** Which reductions ran, and what symmetry's canonical states stand for. */
export function reductionLine(r: Pick<CheckReport, 'reduce' | 'represented' | 'symmetryFactor' | 'states'>): string {
  const used = [...(r.reduce.symmetry ? ['symmetry'] : []), ...(r.reduce.por ? ['partial-order'] : [])];
  if (used.length === 0) return 'reductions: none (every interleaving stored)';
  const parts = [`reductions: ${used.join(' + ')}`];
  if (r.represented !== undefined && r.symmetryFactor !== undefined) {
    parts.push(`${num(r.states)} canonical states stand for ${num(r.represented)} (×${r.symmetryFactor.toFixed(1)})`);
  }
  if (r.reduce.por) parts.push('partial-order: local steps explored alone (--reduce none for the full graph)');
  return parts.join('; ');
}

export function formatCheck(r: CheckReport, title: string): string {
  const lines: string[] = [];
  lines.push(`design: ${r.design} - ${title}`);
  lines.push(`bounds: ${describeConfig(r.config)}`);
  lines.push(searchLine(r));
  if (r.partition !== undefined) lines.push(partitionLine(r.partition));
  lines.push(reductionLine(r));
  if (r.note !== undefined) lines.push(`  (${r.note})`);
  if (!r.complete && r.stoppedBy !== 'all-violated') {
    lines.push('  (the search was cut short: invariants not violated so far are unknown, not proved)');
  }
  lines.push('');
  for (const x of r.results) lines.push(resultLine(x, r.coverage));
  lines.push('');
  lines.push(...coverageLines(r.coverage, 'transitions'));
  for (const x of r.results) {
    if (x.verdict !== 'violated') continue;
    lines.push('');
    lines.push(`${x.invariant} violated: ${x.message}`);
    if (x.accepted !== undefined) lines.push(`  (accepted by the design: ${x.accepted})`);
    if (x.replay !== undefined) lines.push(`  replay: ${x.replay}`);
    if (x.trace !== undefined) lines.push(...formatTrace(x.trace));
  }
  for (const x of r.results) {
    if (x.witness === undefined) continue;
    const pre = r.coverage.invariants.find((c) => c.invariant === x.invariant)?.precondition ?? '';
    lines.push('');
    lines.push(`${x.invariant}: a shortest path to its precondition (${pre})`);
    lines.push(...formatTrace(x.witness));
  }
  return lines.join('\n');
}
/** Actions by actor kind (vCPUs summed), then what never fired. */
export function coverageLines(c: Coverage, unit = 'steps'): string[] {
  const byKind = new Map<string, number>();
  for (const a of c.actions) {
    const key = `${a.actor.replace(/\d+$/, '*')} ${a.action}`;
    byKind.set(key, (byKind.get(key) ?? 0) + a.count);
  }
  const fired = c.actions.filter((a) => a.count > 0).length;
  const lines = [`coverage: ${fired} of ${c.actions.length} actor actions fired (${unit} per action)`];
  const w = Math.max(...[...byKind.keys()].map((k) => k.length));
  for (const [k, n] of byKind) lines.push(`  ${k.padEnd(w)}  ${num(n).padStart(12)}`);
  if (c.neverFired.length > 0) lines.push(`  never fired: ${c.neverFired.join(', ')}`);
  const unreached = c.invariants.filter((i) => !i.reached);
  if (unreached.length > 0) lines.push(`  preconditions never reached: ${unreached.map((i) => `${i.invariant} (${i.precondition ?? 'no precondition declared'})`).join('; ')}`);
  return lines;
}

