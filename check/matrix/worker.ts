/**
 * A matrix worker thread: receives (design, row) jobs, runs the row's check
 * and posts the report back. Designs from a file are loaded once per file.
 */
import { parentPort } from 'node:worker_threads';
import { serializeError } from '../../model/errors.js';
import type { DesignRef } from '../../explorers/source.js';
import { designOf } from '../load/design-ref.js';
import { runRow } from './rows.js';

parentPort!.on('message', async (job: { ref: DesignRef; row: number; maxSeconds?: number; traces?: boolean; interrupt?: Int32Array }) => {
  try {
    parentPort!.postMessage({ report: runRow(await designOf(job.ref), job.row, job.maxSeconds, job.traces, job.interrupt) });
  } catch (e) {
    parentPort!.postMessage({ error: serializeError(e) });
  }
});
