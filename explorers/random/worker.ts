/**
 * One worker of a random run (see random.ts): its own model and walker,
 * taking the walks it is sent, one share of a round at a time, and
 * returning their outcomes and coverage.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { InternalError, serializeError } from '../../model/errors.js';
import { knownInvariants } from '../../invariants/index.js';
import { buildModel } from '../../model/system.js';
import { designOfSource } from '../source.js';
import { Planner, runWalks } from './plan.js';
import type { WalkWorkerInit, WalkWorkerReply } from './protocol.js';
import { Walker } from './walk.js';

const init = workerData as WalkWorkerInit;

async function main(): Promise<void> {
  const design = await designOfSource(init.design);
  const m = buildModel(design, init.config);
  const known = knownInvariants(design);
  const invs = init.invariants.map((id) => {
    const inv = known.find((k) => k.id === id);
    if (inv === undefined) throw new InternalError(`walk worker: unknown invariant ${id}`);
    return inv;
  });
  const walker = new Walker(m, invs);
  const planner = new Planner(m, init.plan);
  parentPort!.on('message', (walks: number[]) => {
    let reply: WalkWorkerReply;
    try {
      reply = { kind: 'round', result: runWalks(walker, planner, walks) };
    } catch (e) {
      reply = { kind: 'error', error: serializeError(e) };
    }
    parentPort!.postMessage(reply);
  });
}

main().catch((e: unknown) => {
  parentPort!.postMessage({ kind: 'error', error: serializeError(e) } satisfies WalkWorkerReply);
});
