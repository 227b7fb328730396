/**
 * The readable story of one step: the changes between two readable views
 * (the layout's), as the lines a trace prints under the step. Traces carry
 * these lines, so they live beside the layout, not in the report.
 */
import type { Change, RowView, StateView, Value } from './layout.js';

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


/** A step's arguments as every trace, error and diagram shows them: `(order=1, isolate=0,2)`, or nothing. */
export function argsText(args: Readonly<Record<string, number | string>>): string {
  const parts = Object.entries(args).map(([k, v]) => `${k}=${v}`);
  return parts.length ? `(${parts.join(', ')})` : '';
}

/** A step as one label: `reporter isolate(order=1, isolate=0,2)`. */
export function stepText(actor: string, action: string, args: Readonly<Record<string, number | string>>): string {
  return `${actor} ${action}${argsText(args)}`;
}
