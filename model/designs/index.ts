/**
 * The design registry. Each entry declares the checks that make up its rows
 * of the regression matrix: a configuration and the invariants it is
 * expected to violate there (every other applicable invariant must hold).
 */
import { UsageError } from '../config.js';
import { designIn, type Design } from '../types.js';
import { D1_DESIGNS } from './d1/arch-free-page.js';
import { D2_DESIGNS } from './d2/catalogue.js';
import { D3B_DESIGNS } from './d3/async-return.js';
import { D3CD_DESIGNS } from './d3/bitmap-catalogue.js';
import { D3A_DESIGNS } from './d3/capture-array.js';
import { D4_DESIGNS } from './d4/catalogue.js';
import { D5_DESIGNS } from './d5/catalogue.js';
import { D6_DESIGNS } from './d6/catalogue.js';
import { spinReference } from './spin-reference/spin-reference.js';

/** Every design, in the order of the kernel's history (designs.md §3). */
export const DESIGNS: readonly Design[] = [
  ...D1_DESIGNS,
  ...D2_DESIGNS,
  ...D3A_DESIGNS,
  ...D3B_DESIGNS,
  ...D3CD_DESIGNS,
  ...D4_DESIGNS,
  ...D5_DESIGNS,
  ...D6_DESIGNS,
  spinReference,
];

/** A built-in design by id; an unknown id is a usage error naming the accepted ones. */
export function findDesign(id: string): Design {
  return designIn(DESIGNS, id, (accepted) => new UsageError(`unknown design '${id}': accepted ${accepted}`));
}
