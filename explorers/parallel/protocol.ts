/**
 * What a parallel search and its workers say to each other: the shared
 * control and statistics words, the worker's start parameters, and the
 * messages of each level.
 */
import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from '../../model/errors.js';
import type { Config } from '../../model/config.js';
import type { Reductions, StopReason } from '../exhaustive/types.js';
import type { DesignSource } from '../source.js';

/** Shared control words: [stop, arrivals per worker...]; stats: STATS doubles per worker. */
export const CTRL_STOP = 0;
export const CTRL_ARRIVALS = 1;
export const STATS = 4;
export const STAT_COUNT = 0;
export const STAT_TRANSITIONS = 1;
export const STAT_QUEUE = 2;

export interface WorkerInit {
  readonly design: DesignSource;
  readonly config: Config;
  readonly invariants: readonly string[];
  readonly reduce: Reductions;
  readonly memoryLimit: number;
  readonly index: number;
  readonly count: number;
  readonly ctrl: SharedArrayBuffer;
  readonly stats: SharedArrayBuffer;
  /** Date.now() after which the workers stop expanding. */
  readonly deadline: number;
}

/** A worker's answer to one level (or to the start). */
export interface LevelReport {
  readonly kind: 'level';
  /** Whether the worker expanded all of its share (false: a stop cut it short). */
  readonly done: boolean;
  readonly upcoming: number;
  readonly count: number;
  readonly transitions: number;
  readonly nextBytes: number;
  readonly bytes: number;
  readonly represented: number;
  readonly violations: readonly { readonly id: string; readonly message: string; readonly depth: number }[];
  /** Coverage so far: transitions per action id, and per invariant the depth its precondition first held (-1: not yet). */
  readonly fired: readonly number[];
  readonly reached: readonly number[];
  readonly note?: string;
  readonly stoppedBy?: StopReason;
}

export type WorkerReply = LevelReport | { readonly kind: 'error'; readonly error: SerializedError };

/** `ports` starts the search: the worker's channels to its peers, and the partition key's bytes in the working vector, which each worker turns into masks of the packed words (see partition.ts). */
export type WorkerCommand = { readonly kind: 'ports'; readonly ports: (MessagePort | null)[]; readonly partition: readonly number[] } | { readonly kind: 'level'; readonly advance: boolean } | { readonly kind: 'finish' };

