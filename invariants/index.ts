import { UsageError, type Config } from '../model/config.js';
import type { Design } from '../model/types.js';
import { allocatorConservation } from './allocator-conservation.js';
import { noHintUnderZoneLock } from './no-hint-under-zone-lock.js';
import { noDoubleReport } from './no-double-report.js';
import { noFakeOom } from './no-fake-oom.js';
import { noMissedHints } from './no-missed-hints.js';
import { noBackedFreeBlocks } from './no-backed-free-blocks.js';
import { noReuseWhileHinting } from './no-reuse-while-hinting.js';
import { poisonReadsBack } from './poison-reads-back.js';
import type { Invariant } from '../model/types.js';

export type { Checks, Invariant } from '../model/types.js';

export const INVARIANTS: readonly Invariant[] = [
  noHintUnderZoneLock,
  noReuseWhileHinting,
  poisonReadsBack,
  allocatorConservation,
  noMissedHints,
  noDoubleReport,
  noFakeOom,
  noBackedFreeBlocks,
];

/** The invariants that apply to a design at a configuration: the shared ones it does not skip, then its own. */
export function invariantsFor(design: Design, cfg: Config): Invariant[] {
  return [...INVARIANTS, ...(design.invariants ?? [])].filter((i) => i.applies(cfg) && design.skip?.[i.id] === undefined);
}

/** Every invariant a design can be checked against, whatever the configuration. */
export function knownInvariants(design: Design): Invariant[] {
  return [...INVARIANTS, ...(design.invariants ?? [])];
}

export function findInvariant(id: string): Invariant {
  const inv = INVARIANTS.find((i) => i.id === id);
  if (inv === undefined) throw new UsageError(`unknown invariant '${id}': accepted ${INVARIANTS.map((i) => i.id).join(', ')}`);
  return inv;
}
