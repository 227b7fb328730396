/** What a random run and its walk workers say to each other. */
import type { Config } from '../../model/config.js';
import type { SerializedError } from '../../model/errors.js';
import type { DesignSource } from '../source.js';
import type { RoundResult, RunPlan } from './plan.js';

export interface WalkWorkerInit {
  readonly design: DesignSource;
  readonly config: Config;
  readonly invariants: readonly string[];
  readonly plan: RunPlan;
}

export type WalkWorkerReply = { readonly kind: 'round'; readonly result: RoundResult } | { readonly kind: 'error'; readonly error: SerializedError };

