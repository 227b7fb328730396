/**
 * Which worker owns a state in a parallel search (see parallel.ts).
 *
 * Each worker stores, checks and expands the states it owns and hands every
 * other successor to its owner, and that costs: the handing over, and the
 * owner's lookup of a state whose neighbours it has not just seen. Hashing
 * the whole state sends a successor away half the time with two workers.
 * Hashing only fields that few steps write keeps most successors with the
 * worker that made them (Lerda and Sisto's partition by one process's
 * state, "Distributed-memory model checking with SPIN", 1999), as long as
 * those fields still split every breadth-first level evenly, since a level
 * ends when its busiest worker is done.
 *
 * Which fields those are depends on the design and its bounds, so a short
 * breadth-first sample measures both: how often a step changes each field,
 * and how evenly a key of fields splits each level. Fields join the key
 * greedily while the estimated time per state falls. The choice only moves
 * work between workers: any key gives the same states, counts and verdicts.
 */
import type { Model, State } from '../../model/types.js';
import { applyStep } from '../step.js';

/** States the sample visits: levels of a few thousand states, in a tenth of a second or two. */
const SAMPLE_STATES = 20_000;
/** Steps whose changed fields are kept for the estimate. */
const SAMPLE_STEPS = 200_000;
/** Levels smaller than this per worker say little about balance and are left out of it. */
const MIN_LEVEL_PER_WORKER = 16;

/** Expected balance below which a key is taken only if no other reaches it. */
const MIN_BALANCE = 0.95;
/** What a successor that changes hands costs, in steps kept at home (measured on spin-reference, 2 workers). */
const HANDOVER = 1;

export interface Partition {
  /** The key's fields, as group.field. */
  readonly fields: readonly string[];
  /** The key's bytes in the working vector. */
  readonly offsets: readonly number[];
  /** Share of the sampled steps that change the key: with n workers, (1 - 1/n) of these change hands. */
  readonly changeRate: number;
  /** Expected sampled levels' states over n times their busiest worker's (1: perfectly even). */
  readonly balance: number;
  /** States the sample visited. */
  readonly sampled: number;
}

/**
 * The owner of a packed state, of `n` workers: a mix of its words under the
 * key's masks (Layout.packedMasks), in generated straight-line code.
 */
export function ownerFunction(masks: Uint32Array, n: number): (w: Uint32Array) => number {
  const body = ['let h = 0x811c9dc5;'];
  masks.forEach((mask, i) => {
    if (mask !== 0) body.push(`h = Math.imul(h ^ (w[${i}] & ${mask >>> 0}), 0x01000193); h ^= h >>> 15;`);
  });
  body.push('h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);', 'h ^= h >>> 13;', `return (h >>> 0) % ${n};`);
  return new Function('w', body.join('\n')) as (w: Uint32Array) => number;
}

/**
 * Whether a step from packed state `a` to packed state `b` left the key
 * alone (so b has a's owner): a word or two, where comparing the key's
 * elements one by one took a score of byte loads on every step.
 */
export function keyKeptFunction(masks: Uint32Array): (a: Uint32Array, b: Uint32Array) => boolean {
  const test: string[] = [];
  masks.forEach((mask, i) => {
    if (mask !== 0) test.push(`((a[${i}] ^ b[${i}]) & ${mask >>> 0}) === 0`);
  });
  return new Function('a', 'b', `return ${test.join(' && ') || 'true'};`) as (a: Uint32Array, b: Uint32Array) => boolean;
}

/** The working-vector bytes of these fields' elements. */
function elementOffsets(fields: readonly { readonly offset: number; readonly length: number }[]): number[] {
  return fields.flatMap((f) => Array.from({ length: f.length }, (_, i) => f.offset + i));
}

/**
 * Choose the key for `n` workers from a breadth-first sample of `m` (with
 * `canon` applied to every state, as the search stores them).
 */
export function choosePartition(m: Model, n: number, canon?: (s: State) => void, sample = SAMPLE_STATES): Partition {
  const L = m.layout;
  const fields = L.stateFields();
  const F = fields.length;
  const all = elementOffsets(fields);
  const T = L.transients;
  const words = new Uint32Array(L.words);
  const key = (s: State): string => {
    L.pack(s, words, 0);
    return words.join(',');
  };

  // The sample: breadth-first levels, and for each step the fields it changed.
  const init = m.initial();
  canon?.(init);
  const seen = new Set<string>([key(init)]);
  const levels: State[][] = [];
  // Per sampled step, a bit per field it changed.
  const FW = Math.ceil(F / 32);
  const changed = new Uint32Array(SAMPLE_STEPS * FW);
  let steps = 0;
  let level: State[] = [init];
  while (level.length > 0 && seen.size < sample) {
    levels.push(level);
    const up: State[] = [];
    for (const s of level) {
      // A step that is not taken leaves its copy alone; one that is taken is copied out and the copy refreshed.
      const t = s.slice();
      for (const a of m.actions) {
        // What the step throws, or writes out of its domains, is the design's error here as in the search.
        if (!applyStep(m, t, a)) continue;
        canon?.(t);
        if (steps < SAMPLE_STEPS) {
          for (let k = 0; k < F; k++) {
            const f = fields[k];
            for (let i = 0; i < f.length; i++) if (s[f.offset + i] !== t[f.offset + i]) changed[steps * FW + (k >>> 5)] |= 1 << (k & 31);
          }
          steps++;
        }
        const k = key(t);
        if (!seen.has(k) && seen.size < sample) {
          seen.add(k);
          const u = t.slice();
          u.fill(0, T);
          up.push(u);
        }
        t.set(s);
      }
    }
    level = up;
  }
  if (level.length > 0) levels.push(level);
  const sampled = levels.reduce((t, l) => t + l.length, 0);

  // Per sampled state, the digest of the key chosen so far; per step, whether it changes that key.
  const states = levels.flat();
  const digest = new Uint32Array(states.length).fill(0x811c9dc5);
  const covered = new Uint8Array(steps);
  let coveredSteps = 0;
  const changes = (x: number, k: number): boolean => (changed[x * FW + (k >>> 5)] & (1 << (k & 31))) !== 0;
  /** Share of the sampled steps that change the key with field k added (k < 0: as it is). */
  const changeRate = (k: number): number => {
    if (steps === 0) return 0;
    let c = coveredSteps;
    if (k >= 0) for (let x = 0; x < steps; x++) if (covered[x] === 0 && changes(x, k)) c++;
    return c / steps;
  };
  const mixed = (i: number, k: number): number => {
    let h = digest[i];
    if (k < 0) return h;
    const s = states[i];
    const f = fields[k];
    for (let j = 0; j < f.length; j++) {
      h = Math.imul(h ^ s[f.offset + j], 0x01000193);
      h ^= h >>> 15;
    }
    return h >>> 0;
  };
  // A counting table for one level's key values, cleared by a new stamp rather than by zeroing.
  const slots = 1 << Math.ceil(Math.log2(2 * sample + 2));
  const seenKey = new Uint32Array(slots);
  const seenCount = new Uint32Array(slots);
  const stamp = new Uint32Array(slots);
  let generation = 0;
  /**
   * The expected share of the busiest worker, from how a level's states
   * spread over the key's values: hashing puts each value on a worker at
   * random, so a level whose states crowd into few values splits unevenly
   * whatever the hash. This reads the spread rather than one hash's luck,
   * which at the sample's size would decide more than the key does.
   */
  const balance = (k: number): number => {
    let total = 0;
    let paced = 0;
    // Expected excess of the largest of n loads over their mean, in standard deviations.
    const spread = n === 2 ? Math.sqrt(2 / Math.PI) : Math.sqrt(2 * Math.log(n));
    let i = 0;
    for (const l of levels) {
      const first = i;
      i += l.length;
      if (l.length < MIN_LEVEL_PER_WORKER * n) continue;
      generation++;
      let squares = 0;
      for (let x = first; x < i; x++) {
        const v = mixed(x, k);
        let slot = Math.imul(v, 0x9e3779b1) >>> 0 & (slots - 1);
        while (stamp[slot] === generation && seenKey[slot] !== v) slot = (slot + 1) & (slots - 1);
        if (stamp[slot] !== generation) {
          stamp[slot] = generation;
          seenKey[slot] = v;
          seenCount[slot] = 0;
        }
        // (c + 1)^2 - c^2: the sum of squared counts, kept as they grow.
        squares += 2 * seenCount[slot]++ + 1;
      }
      // A worker's share of the level has mean 1/n and deviation sqrt((n - 1) * squares) / n, squares over the level's size squared.
      const eff = 1 / (1 + (spread * Math.sqrt((n - 1) * squares)) / l.length);
      total += l.length;
      paced += l.length / eff;
    }
    return paced === 0 ? 1 : total / paced;
  };
  // Time per step, relative: a successor that changes hands costs about one more step, and the busiest worker sets the pace.
  const cost = (k: number): { cost: number; rate: number; bal: number } => {
    const rate = changeRate(k);
    const bal = balance(k);
    // A key that splits the sample's levels unevenly is likely to split the deeper ones worse: one below the floor loses to any above it.
    return { cost: (1 + HANDOVER * rate * (1 - 1 / n)) / bal + (bal < MIN_BALANCE ? 10 * (1 + MIN_BALANCE - bal) : 0), rate, bal };
  };
  const choose = (k: number): void => {
    for (let i = 0; i < states.length; i++) digest[i] = mixed(i, k);
    for (let x = 0; x < steps; x++) {
      if (covered[x] === 0 && changes(x, k)) {
        covered[x] = 1;
        coveredSteps++;
      }
    }
    chosen.push(k);
  };

  const chosen: number[] = [];
  let best = { cost: Infinity, rate: 1, bal: 1 };
  for (;;) {
    let pick = -1;
    let pickCost = best;
    for (let k = 0; k < F; k++) {
      if (chosen.includes(k)) continue;
      const c = cost(k);
      if (c.cost < pickCost.cost) {
        pick = k;
        pickCost = c;
      }
    }
    if (pick < 0) break;
    choose(pick);
    best = pickCost;
  }
  // A field that the sample saw change only together with the key costs nothing to add, and
  // splits later levels, which the sample did not reach, more finely (reported bits, counts).
  if (chosen.length > 0) {
    for (let k = 0; k < F; k++) {
      if (chosen.includes(k) || changeRate(k) > best.rate) continue;
      let alone = false;
      for (let x = 0; x < steps && !alone; x++) alone = changes(x, k);
      if (alone) choose(k);
    }
    best = cost(-1);
  }
  // A space too small to sample levels from: the whole state, which splits any level as evenly as hashing can.
  if (chosen.length === 0 || sampled < MIN_LEVEL_PER_WORKER * n) {
    for (let k = 0; k < F; k++) if (!chosen.includes(k)) choose(k);
    return { fields: fields.map((f) => f.name), offsets: all, changeRate: changeRate(-1), balance: balance(-1), sampled };
  }
  chosen.sort((x, y) => x - y);
  return { fields: chosen.map((k) => fields[k].name), offsets: elementOffsets(chosen.map((k) => fields[k])), changeRate: best.rate, balance: best.bal, sampled };
}

/** A key of the named fields (group.field), for a caller that knows better than the sample, and for tests. */
export function namedPartition(m: Model, names: readonly string[]): Partition {
  const fields = m.layout.stateFields();
  const unknown = names.filter((x) => !fields.some((f) => f.name === x));
  if (unknown.length > 0) throw new Error(`no stored field ${unknown.join(', ')}: accepted ${fields.map((f) => f.name).join(', ')}`);
  const chosen = fields.filter((f) => names.includes(f.name));
  return { fields: chosen.map((f) => f.name), offsets: elementOffsets(chosen), changeRate: NaN, balance: NaN, sampled: 0 };
}
