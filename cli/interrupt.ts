/**
 * Ctrl-C and a CI job's timeout stop a search, not the process: the first
 * SIGINT or SIGTERM sets a word on a SharedArrayBuffer that every engine
 * (this thread's, the workers', the random walkers') polls between slices,
 * and the command prints the report it has, as a budget stop does. The
 * handlers are gone once the first signal arrived, so a second one ends the
 * process at once with the shell's code (130 for SIGINT, 143 for SIGTERM).
 */

export interface Interrupt {
  /** Nonzero once a signal arrived; pass it to the search. */
  readonly word: Int32Array;
  /** The signal that arrived, if one did. */
  signal(): NodeJS.Signals | undefined;
  /** Take the handlers away again (the command is done). */
  release(): void;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** Listen for the first SIGINT or SIGTERM while a search runs; `note` is written to stderr when it comes. */
export function onInterrupt(note: (line: string) => void): Interrupt {
  const word = new Int32Array(new SharedArrayBuffer(4));
  let got: NodeJS.Signals | undefined;
  const release = (): void => {
    for (const s of SIGNALS) process.off(s, handler);
  };
  const handler = (s: NodeJS.Signals): void => {
    got = s;
    Atomics.store(word, 0, 1);
    release();
    note(`hintcheck: ${s}: stopping the search and reporting what it has (${s} again stops at once)\n`);
  };
  for (const s of SIGNALS) process.on(s, handler);
  return { word, signal: () => got, release };
}
