/**
 * Text rendering of reports and counterexamples, for a kernel engineer to
 * read: numbered steps, who acted, the kernel function the step stands for,
 * and what changed, with page-level changes folded into page ranges.
 */
import { match } from 'ts-pattern';
import type { CheckReport, InvariantResult, Verdict } from '../check.js';
import type { Coverage } from '../coverage.js';
import { describeConfig } from '../model/config.js';
import type { Change, RowView, StateView, Value } from '../model/layout.js';
import type { TraceStep } from '../explorers/trace.js';

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

function args(a: TraceStep['args']): string {
  const parts = Object.entries(a).map(([k, v]) => `${k}=${v}`);
  return parts.length ? `(${parts.join(', ')})` : '';
}

const PAGE_SHAPE = new Set(['owner', 'order', 'reported']);

function pageToken(owner: Value, order: Value, reported: Value): string {
  const head = owner === 'free-head' || owner === 'isolated-head';
  if (!head) return String(owner);
  return `${owner}(${order}${reported === true ? ', reported' : ''})`;
}

/** Whether a change belongs to a page's or a vCPU's row (a table group), from its label. */
function rowOf(c: Change): 'page' | 'vcpu' | undefined {
  if (c.index === undefined) return undefined;
  if (c.label.startsWith('page ')) return 'page';
  if (c.label.startsWith('vcpu')) return 'vcpu';
  return undefined;
}

interface Row {
  readonly subject: string;
  readonly index: number | undefined;
  readonly group: string;
  readonly text: string;
}

/**
 * Changes of one step as lines: `lock: free -> vcpu0`,
 * `pages 0-3: free-head(2) -> allocated`, `vcpu0: phase idle -> alloc-locked`.
 */
export function describeChanges(changes: readonly Change[], before: StateView, after: StateView): string[] {
  const rows: Row[] = [];
  const byRow = new Map<string, Change[]>();
  for (const c of changes) {
    // Table rows (a page, a vCPU) gather their fields; a record field stands alone.
    const key = rowOf(c) !== undefined ? `${c.group}#${c.index}` : `${c.group}.${c.field}${c.index !== undefined ? `#${c.index}` : ''}`;
    const list = byRow.get(key) ?? [];
    list.push(c);
    byRow.set(key, list);
  }
  for (const [key, list] of byRow) {
    const c0 = list[0];
    if (c0.group === 'pages') {
      const get = (field: string, when: 'from' | 'to'): Value => {
        const c = list.find((x) => x.field === field);
        if (c !== undefined) return c[when];
        const rows = (when === 'from' ? before : after).pages as RowView[];
        return rows[c0.index!][field];
      };
      const shape = list.filter((c) => PAGE_SHAPE.has(c.field));
      const parts: string[] = [];
      if (shape.length) parts.push(`${pageToken(get('owner', 'from'), get('order', 'from'), get('reported', 'from'))} -> ${pageToken(get('owner', 'to'), get('order', 'to'), get('reported', 'to'))}`);
      for (const c of list) if (!PAGE_SHAPE.has(c.field)) parts.push(`${c.field} ${c.from} -> ${c.to}`);
      rows.push({ subject: 'page', index: c0.index, group: 'pages', text: parts.join(', ') });
    } else if (rowOf(c0) === 'page') {
      // Another per-page group (memory, obligations, or a design's): name the group unless it is one of the model's own.
      const prefix = c0.group === 'memory' || c0.group === 'obligations' ? '' : `${c0.group}.`;
      rows.push({ subject: 'page', index: c0.index, group: c0.group, text: list.map((c) => `${prefix}${c.field} ${c.from} -> ${c.to}`).join(', ') });
    } else if (rowOf(c0) === 'vcpu') {
      const prefix = c0.group === 'vcpus' ? '' : `${c0.group}.`;
      rows.push({ subject: c0.label, index: undefined, group: 'vcpus', text: list.map((c) => `${prefix}${c.field} ${c.from} -> ${c.to}`).join(', ') });
    } else {
      const name = c0.group === 'zone' && c0.field === 'lock' ? 'zone lock' : c0.group === 'freeArea' ? `nr_free[${c0.index}]` : c0.label;
      rows.push({ subject: name, index: undefined, group: key, text: `${c0.from} -> ${c0.to}` });
    }
  }
  // Fold consecutive pages with the same change into a range.
  const out: string[] = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (r.subject !== 'page') {
      out.push(`${r.subject}: ${r.text}`);
      continue;
    }
    let j = i;
    while (j + 1 < rows.length && rows[j + 1].subject === 'page' && rows[j + 1].group === r.group && rows[j + 1].text === r.text && rows[j + 1].index === rows[j].index! + 1) j++;
    const label = j > i ? `pages ${r.index}-${rows[j].index}` : `page ${r.index}`;
    out.push(`${label}: ${r.text}`);
    i = j;
  }
  return out;
}

/** Numbered steps, one header line per step and its changes indented below. */
export function formatTrace(t: { readonly steps: readonly Pick<TraceStep, 'step' | 'actor' | 'action' | 'args' | 'kernel' | 'summary'>[] }): string[] {
  const lines: string[] = [];
  const width = Math.max(6, ...t.steps.map((s) => s.actor.length));
  for (const s of t.steps) {
    const head = `${String(s.step).padStart(3)}. ${s.actor.padEnd(width)}  ${s.action}${args(s.args)}`;
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

