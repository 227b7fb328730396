/**
 * One worker of a parallel search (parallel.ts starts it, protocol.ts is what they say): an Engine that owns
 * the states whose partition key hashes to its index. Foreign successors are batched per owner
 * and posted on the pair's port; the owner takes batches in with
 * receiveMessageOnPort between two of its own states, and waits on its
 * arrival word (Atomics) only once its own share of the level is done.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { knownInvariants } from '../../invariants/index.js';
import { serializeError } from '../../model/errors.js';
import { designOfSource } from '../source.js';
import { buildModel } from '../../model/system.js';
import { Engine } from '../exhaustive/engine.js';
import type { StopReason } from '../exhaustive/types.js';
import { keyKeptFunction, ownerFunction } from './partition.js';
import { CTRL_ARRIVALS, CTRL_STOP, STATS, STAT_COUNT, STAT_QUEUE, STAT_TRANSITIONS, type LevelReport, type WorkerCommand, type WorkerInit, type WorkerReply } from './protocol.js';
import { StoreFull } from '../store.js';

/** States per batch: big enough that posting is rare, small enough that a level's tail is not held back. */
const BATCH = 1 << 14;
/** A batch this full is posted at the next look round (every 1,024 states expanded). */
const EARLY = 1 << 11;

const init = workerData as WorkerInit;
const ctrl = new Int32Array(init.ctrl);
const stats = new Float64Array(init.stats);
const me = init.index;
const n = init.count;

function reply(r: WorkerReply): void {
  parentPort!.postMessage(r);
}

async function main(): Promise<void> {
  const design = await designOfSource(init.design);
  const m = buildModel(design, init.config);
  const known = knownInvariants(design);
  const invariants = init.invariants.map((id) => known.find((i) => i.id === id)!);
  const W = m.layout.words;

  let peers: (MessagePort | null)[] = [];
  const out: Uint32Array[] = Array.from({ length: n }, () => new Uint32Array(BATCH * W));
  const fill = new Int32Array(n);
  // Batch buffers come back once taken in, rather than go to the C heap and be asked for again.
  const spare: Uint32Array[] = [];
  const post = (dest: number, msg: unknown, transfer: ArrayBuffer[] = []): void => {
    peers[dest]!.postMessage(msg, transfer);
    Atomics.add(ctrl, CTRL_ARRIVALS + dest, 1);
    Atomics.notify(ctrl, CTRL_ARRIVALS + dest);
  };
  const flush = (dest: number): void => {
    if (fill[dest] === 0) return;
    const buf = out[dest];
    post(dest, { count: fill[dest], buf }, [buf.buffer as ArrayBuffer]);
    out[dest] = spare.pop() ?? new Uint32Array(BATCH * W);
    fill[dest] = 0;
  };

  /** Hand a successor to its owner, batched. */
  const foreign = (w: Uint32Array, dest: number): void => {
    const f = fill[dest];
    const buf = out[dest];
    for (let i = 0; i < W; i++) buf[f * W + i] = w[i];
    if ((fill[dest] = f + 1) === BATCH) flush(dest);
  };
  // Made once the coordinator has chosen the partition, which it does while the workers start.
  let engine!: Engine;

  let ends = 0;
  /** Take in every batch waiting on the ports; count the peers that finished the level. */
  const drain = (): void => {
    for (let p = 0; p < n; p++) {
      const port = peers[p];
      if (port === null || port === undefined) continue;
      for (let msg = receiveMessageOnPort(port); msg !== undefined; msg = receiveMessageOnPort(port)) {
        const x = msg.message as { count?: number; buf?: Uint32Array; end?: true; back?: Uint32Array };
        if (x.back !== undefined) spare.push(x.back);
        else if (x.end === true) ends++;
        else {
          engine.absorb(x.buf!, x.count!);
          port.postMessage({ back: x.buf }, [x.buf!.buffer as ArrayBuffer]);
        }
      }
    }
  };
  const publish = (): void => {
    stats[me * STATS + STAT_COUNT] = engine.store.count;
    stats[me * STATS + STAT_TRANSITIONS] = engine.transitions;
    stats[me * STATS + STAT_QUEUE] = engine.level.length - engine.next + engine.upcoming.length;
  };
  let cut = false;
  const stop = (): boolean => {
    publish();
    // Post what has gathered, so the owners take it in while they expand rather than all at the level's end.
    for (let p = 0; p < n; p++) if (fill[p] >= EARLY) flush(p);
    drain();
    if (Atomics.load(ctrl, CTRL_STOP) !== 0 || Date.now() >= init.deadline) cut = true;
    return cut;
  };

  const reported = new Set<string>();
  const report = (done: boolean, stoppedBy?: StopReason, note?: string): LevelReport => {
    publish();
    const violations = [...engine.violations.values()].filter((v) => !reported.has(v.invariant.id)).map((v) => ({ id: v.invariant.id, message: v.message, depth: v.depth }));
    for (const v of violations) reported.add(v.id);
    return {
      kind: 'level',
      done,
      upcoming: engine.upcoming.length,
      count: engine.store.count,
      transitions: engine.transitions,
      nextBytes: engine.nextLevelBytes(),
      bytes: engine.bytes(),
      represented: engine.represented,
      violations,
      fired: Array.from(engine.fired),
      reached: Array.from(engine.reachedDepth),
      ...(stoppedBy !== undefined ? { stoppedBy } : {}),
      ...(note !== undefined ? { note } : {}),
    };
  };

  /** Expand this worker's share of the level, then exchange until every peer has said it is done. */
  const level = (advance: boolean): LevelReport => {
    let stoppedBy: StopReason | undefined;
    let note: string | undefined;
    let done = true;
    try {
      if (advance) {
        engine.advance(true);
        engine.store.reserve = engine.queued();
      }
      done = engine.expandLevel(stop);
    } catch (e) {
      if (!(e instanceof StoreFull)) throw e;
      stoppedBy = e.reason === 'memory-limit' ? 'memory-limit' : 'store-full';
      note = e.message;
      done = false;
    }
    // Tell every peer this share is done, even when cut short, so none waits for it.
    for (let p = 0; p < n; p++) {
      if (p === me) continue;
      flush(p);
      post(p, { end: true });
    }
    for (;;) {
      const seen = Atomics.load(ctrl, CTRL_ARRIVALS + me);
      try {
        drain();
      } catch (e) {
        if (!(e instanceof StoreFull)) throw e;
        stoppedBy ??= e.reason === 'memory-limit' ? 'memory-limit' : 'store-full';
        note ??= e.message;
        done = false;
      }
      if (ends >= n - 1) break;
      Atomics.wait(ctrl, CTRL_ARRIVALS + me, seen, 100);
    }
    ends -= n - 1;
    return report(done && !cut, stoppedBy, note);
  };

  parentPort!.on('message', (cmd: WorkerCommand) => {
    try {
      switch (cmd.kind) {
        case 'ports': {
          peers = cmd.ports;
          const masks = m.layout.packedMasks(cmd.partition);
          engine = new Engine(m, {
            invariants,
            reduce: init.reduce,
            memoryLimit: init.memoryLimit,
            share: { me, owner: ownerFunction(masks, n), kept: keyKeptFunction(masks), foreign },
          });
          engine.start();
          reply(report(true));
          break;
        }
        case 'level':
          reply(level(cmd.advance));
          break;
        case 'finish':
          reply(report(true));
          break;
      }
    } catch (e) {
      reply({ kind: 'error', error: serializeError(e) });
    }
  });
}

main().catch((e: unknown) => {
  reply({ kind: 'error', error: serializeError(e) });
});
