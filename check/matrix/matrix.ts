/**
 * The regression matrix: every design at each configuration it declares,
 * against every invariant that applies there, compared with the verdicts the
 * design expects, and (with a baseline) with the state and transition counts
 * of a saved run. A verdict or a count that moves is a finding: either the
 * model changed or the expectation was wrong, and the report says which cell
 * moved. Rows run on worker threads, one per core by default.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { Worker } from 'node:worker_threads';
import { checkAsync, type CheckReport } from '../check.js';
import { finish, overridesText, rowOptions, type MatrixRow } from './rows.js';
import { runnable } from '../../explorers/source.js';
import { removeLoadLeftovers } from '../load/load.js';
import { deserializeError, UsageError, type SerializedError } from '../../model/errors.js';
import type { Config } from '../../model/config.js';
import { DESIGNS } from '../../model/designs/index.js';
import type { Design } from '../../model/types.js';

export interface MatrixOptions {
  readonly designs?: readonly Design[];
  /** The file the designs came from (workers load it again). */
  readonly designFile?: string;
  readonly maxSeconds?: number;
  /** Rebuild counterexamples too (for the docs). */
  readonly traces?: boolean;
  /** Worker threads; 1 runs every row in this thread. */
  readonly workers?: number;
  /** Called as rows finish, in the order the designs declare them. */
  readonly onRow?: (row: MatrixRow) => void;
  /** Once this word is nonzero, rows in progress stop with what they have and no new row starts. */
  readonly interrupt?: Int32Array;
}

const stopped = (w: Int32Array | undefined): boolean => w !== undefined && Atomics.load(w, 0) !== 0;

export async function runMatrix(opts: MatrixOptions = {}): Promise<MatrixRow[]> {
  const designs = opts.designs ?? DESIGNS;
  const jobs = designs.flatMap((d) => d.expect.map((_, row) => ({ design: d, row })));
  const results: (MatrixRow | undefined)[] = new Array(jobs.length);
  let printed = 0;
  const done = (i: number, report: CheckReport): void => {
    results[i] = finish(jobs[i].design, jobs[i].row, report);
    while (printed < jobs.length && results[printed] !== undefined) {
      const row = results[printed++]!;
      opts.onRow?.(row);
    }
  };
  const workers = Math.min(opts.workers ?? availableParallelism(), jobs.length);
  // Rows come back in the order declared; once interrupted, the rows done are the report.
  const finished = (): MatrixRow[] => results.slice(0, printed) as MatrixRow[];
  if (workers <= 1) {
    for (let i = 0; i < jobs.length && !stopped(opts.interrupt); i++) {
      done(i, await checkAsync(jobs[i].design, rowOptions(jobs[i].design, jobs[i].row, opts.maxSeconds, opts.traces, opts.interrupt)));
    }
    return finished();
  }
  let next = 0;
  const url = runnable(new URL('./worker.js', import.meta.url));
  await Promise.all(
    Array.from({ length: workers }, async () => {
      const w = new Worker(url);
      try {
        while (next < jobs.length && !stopped(opts.interrupt)) {
          const i = next++;
          const report = await new Promise<CheckReport>((resolve, reject) => {
            const onMessage = (msg: { report?: CheckReport; error?: SerializedError }): void => {
              w.off('error', onError);
              if (msg.error === undefined) resolve(msg.report!);
              else reject(deserializeError(msg.error));
            };
            const onError = (e: Error): void => {
              w.off('message', onMessage);
              reject(e);
            };
            w.once('message', onMessage);
            w.once('error', onError);
            w.postMessage({ ref: { id: jobs[i].design.id, ...(opts.designFile !== undefined ? { file: resolvePath(opts.designFile), shownAs: opts.designFile } : {}) }, row: jobs[i].row, maxSeconds: opts.maxSeconds, traces: opts.traces, interrupt: opts.interrupt });
          });
          done(i, report);
        }
      } finally {
        await w.terminate();
        if (opts.designFile !== undefined) removeLoadLeftovers(resolvePath(opts.designFile));
      }
    }),
  );
  return finished();
}

/** What a baseline keeps of each row: enough to see a state space grow or shrink. */
export interface BaselineRow {
  readonly design: string;
  readonly overrides: Partial<Config>;
  readonly states: number;
  readonly transitions: number;
  readonly depth: number;
  readonly verdicts: Readonly<Record<string, string>>;
}

const key = (design: string, overrides: Partial<Config>): string => `${design} ${overridesText(overrides)}`;

export function baselineOf(rows: readonly MatrixRow[]): { version: 1; rows: BaselineRow[] } {
  return {
    version: 1,
    rows: rows.map((r) => ({
      design: r.design,
      overrides: r.overrides,
      states: r.report.states,
      transitions: r.report.transitions,
      depth: r.report.depth,
      verdicts: Object.fromEntries(r.report.results.map((x) => [x.invariant, x.verdict === 'violated' ? `violated@${x.depth}` : x.verdict])),
    })),
  };
}

export function writeBaseline(path: string, rows: readonly MatrixRow[]): void {
  writeFileSync(path, JSON.stringify(baselineOf(rows), null, 2) + '\n');
}

export function readBaseline(path: string): BaselineRow[] {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`--baseline ${path}: cannot be read as JSON (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); write one with --write-baseline`);
  }
  const rows = (data as { version?: unknown; rows?: unknown }).rows;
  if ((data as { version?: unknown }).version !== 1 || !Array.isArray(rows)) {
    throw new UsageError(`--baseline ${path}: not a hintcheck baseline (expected {"version": 1, "rows": [...]}); write one with --write-baseline`);
  }
  for (const r of rows as BaselineRow[]) {
    if (typeof r.design !== 'string' || typeof r.states !== 'number' || typeof r.transitions !== 'number') {
      throw new UsageError(`--baseline ${path}: a row lacks design, states or transitions; write one with --write-baseline`);
    }
  }
  return rows as BaselineRow[];
}

/** Rows whose counts or verdicts moved against the baseline, or that are new or gone, one sentence each. */
/** `partial`: the run was interrupted, so rows it did not get to are not gone, and a stopped row's counts say nothing. */
export function compareBaseline(rows: readonly MatrixRow[], base: readonly BaselineRow[], partial = false): string[] {
  const out: string[] = [];
  const old = new Map(base.map((b) => [key(b.design, b.overrides ?? {}), b]));
  const now = baselineOf(partial ? rows.filter((r) => !r.interrupted) : rows).rows;
  const pct = (a: number, b: number): string => {
    const x = ((b - a) / a) * 100;
    return `${b >= a ? '+' : ''}${x.toFixed(Math.abs(x) < 0.1 ? 3 : 1)}%`;
  };
  for (const r of now) {
    const k = key(r.design, r.overrides);
    const b = old.get(k);
    old.delete(k);
    if (b === undefined) {
      out.push(`${k}: new row (${r.states.toLocaleString('en-US')} states)`);
      continue;
    }
    if (b.states !== r.states) out.push(`${k}: states ${b.states.toLocaleString('en-US')} -> ${r.states.toLocaleString('en-US')} (${pct(b.states, r.states)})`);
    if (b.transitions !== r.transitions) out.push(`${k}: transitions ${b.transitions.toLocaleString('en-US')} -> ${r.transitions.toLocaleString('en-US')} (${pct(b.transitions, r.transitions)})`);
    for (const [inv, v] of Object.entries(r.verdicts)) {
      const was = b.verdicts?.[inv];
      if (was !== undefined && was !== v) out.push(`${k}: ${inv} ${was} -> ${v}`);
    }
  }
  if (!partial) for (const k of old.keys()) out.push(`${k}: row gone`);
  return out;
}
