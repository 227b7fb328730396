/**
 * A matrix worker thread: receives (design, row) jobs, runs the row's check
 * and posts the report back. Designs from a file are loaded once per file.
 */
import { parentPort } from 'node:worker_threads';
import { serializeError } from '../../model/errors.js';
import { loadDesignFile } from '../load/load.js';
import { runRow } from './matrix.js';
import { findDesign } from '../../model/designs/index.js';
import type { Design } from '../../model/types.js';

const files = new Map<string, Design[]>();

parentPort!.on('message', async (job: { design: string; file?: string; shownAs?: string; row: number; maxSeconds?: number; traces?: boolean; interrupt?: Int32Array }) => {
  try {
    let design: Design;
    if (job.file !== undefined) {
      if (!files.has(job.file)) files.set(job.file, await loadDesignFile(job.file, { typecheck: false, ...(job.shownAs !== undefined ? { shownAs: job.shownAs } : {}) }));
      design = files.get(job.file)!.find((d) => d.id === job.design)!;
    } else {
      design = findDesign(job.design);
    }
    parentPort!.postMessage({ report: runRow(design, job.row, job.maxSeconds, job.traces, job.interrupt) });
  } catch (e) {
    parentPort!.postMessage({ error: serializeError(e) });
  }
});
