/**
 * The exit codes, one rule for every command:
 *
 *   0  every checked invariant holds and the search was complete
 *   1  a violation was found (matrix: a verdict or a count differs from the expected one)
 *   2  usage or design error (model/errors.ts)
 *   3  incomplete: a budget or a signal stopped the search and no violation was found
 *      (random explorers: no violation found, which proves nothing)
 *   4  internal error
 */

/** A violation the design does not accept is a failure; anything short of a complete search is unknown. */
export function verdictExit(results: readonly { readonly verdict: string; readonly accepted?: string }[], complete: boolean): 0 | 1 | 3 {
  if (results.some((x) => x.verdict === 'violated' && x.accepted === undefined)) return 1;
  return complete ? 0 : 3;
}
