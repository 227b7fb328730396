/**
 * What can go wrong, in three kinds, each with one exit code:
 *
 *  - UsageError: the command line (or a library call's options) is wrong;
 *  - DesignError: the user's design is wrong, found when its file loads,
 *    when its model is built, when an invariant binds to it, or while a
 *    step, hook or check of its own runs;
 *  - InternalError (or any other exception): a bug in hintcheck.
 *
 * Each is one line naming the problem, and where there is a list, the
 * accepted values. This module imports nothing, so that every layer (the
 * design API, the layout, the explorers, the CLI) can throw the right kind.
 */

export type ErrorKind = 'usage' | 'design' | 'internal';

/** Exit codes of the command line. */
export const EXIT = {
  /** Every checked invariant holds and the search was complete. */
  ok: 0,
  /** A violation was found (matrix: a verdict differs from the expected one). */
  violated: 1,
  /** A usage or design error. */
  usage: 2,
  design: 2,
  /** A budget or an interrupt stopped the search and no violation was found. */
  incomplete: 3,
  /** A bug in hintcheck. */
  internal: 4,
  /** A second SIGINT or SIGTERM: out at once, as a shell reports a signal. */
  sigint: 130,
  sigterm: 143,
} as const;

/** Where in a design a DesignError is: as many of these as are known. */
export interface DesignWhere {
  /** The design file, as given on the command line. */
  readonly file?: string;
  readonly design?: string;
  /** The step, as `actor name(args)`. */
  readonly step?: string;
  readonly invariant?: string;
}

/** Bad input from the user: printed as one line, exit code 2. */
export class UsageError extends Error {
  readonly kind = 'usage' as const;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * The user's design is wrong: it does not load, does not type-check, names
 * something that does not exist, or a step, hook or check of its own
 * misbehaves. Exit code 2, never a verdict.
 */
export class DesignError extends Error {
  readonly kind = 'design' as const;
  readonly where: DesignWhere;
  constructor(message: string, where: DesignWhere = {}) {
    super(message);
    this.name = 'DesignError';
    this.where = where;
  }
}

/** A bug in hintcheck itself: exit code 4, with a stack trace under HINTCHECK_DEBUG=1. */
export class InternalError extends Error {
  readonly kind = 'internal' as const;
  constructor(message: string) {
    super(message);
    this.name = 'InternalError';
  }
}

/** `design <id> (<file>)`, the prefix of a design error's line. */
export function designLabel(where: DesignWhere): string {
  if (where.design === undefined) return where.file !== undefined ? `design file ${where.file}` : 'design';
  return `design ${where.design}${where.file !== undefined ? ` (${where.file})` : ''}`;
}

/** A design error whose line starts with the design (and its file), then what is wrong. */
export function designError(where: DesignWhere, problem: string): DesignError {
  return new DesignError(`${designLabel(where)}: ${problem}`, where);
}

/**
 * A design error raised where less was known, placed in its design: the
 * line gets the design's label (or its file added to it), the fields what
 * is known now.
 */
export function inDesign(e: DesignError, where: DesignWhere): DesignError {
  const merged: DesignWhere = { ...where, ...e.where, ...(e.where.file === undefined && where.file !== undefined ? { file: where.file } : {}) };
  let message = e.message;
  const bare = designLabel({ ...(merged.design !== undefined ? { design: merged.design } : {}) });
  if (merged.design !== undefined && message.startsWith(`${bare}: `) && merged.file !== undefined) message = `${designLabel(merged)}: ${message.slice(bare.length + 2)}`;
  else if (!message.startsWith('design ')) message = `${designLabel(merged)}: ${message}`;
  return new DesignError(message, merged);
}

export function errorKind(e: unknown): ErrorKind {
  if (e instanceof UsageError) return 'usage';
  if (e instanceof DesignError) return 'design';
  return 'internal';
}

export function exitCodeOf(e: unknown): number {
  const kind = errorKind(e);
  return kind === 'usage' ? EXIT.usage : kind === 'design' ? EXIT.design : EXIT.internal;
}

/** The first line of an exception's message (a user's Error may span several). */
export function firstLine(e: unknown): string {
  const text = e instanceof Error ? `${e.message}` : String(e);
  return text.split('\n')[0];
}

/** An error as it crosses a thread boundary (structured clone keeps no class). */
export interface SerializedError {
  readonly kind: ErrorKind;
  readonly message: string;
  readonly where?: DesignWhere;
  readonly stack?: string;
}

export function serializeError(e: unknown): SerializedError {
  const kind = errorKind(e);
  return {
    kind,
    message: e instanceof Error ? e.message : String(e),
    ...(e instanceof DesignError ? { where: e.where } : {}),
    ...(e instanceof Error && e.stack !== undefined ? { stack: e.stack } : {}),
  };
}

/** The error a worker reported, as the class it was thrown as. */
export function deserializeError(s: SerializedError): Error {
  const e = s.kind === 'usage' ? new UsageError(s.message) : s.kind === 'design' ? new DesignError(s.message, s.where ?? {}) : new InternalError(s.message);
  if (s.stack !== undefined) e.stack = s.stack;
  return e;
}

/** The `{"error": ...}` object `--json` prints for an error. */
export function errorJson(e: unknown): { readonly error: { readonly kind: ErrorKind; readonly message: string } & DesignWhere } {
  const kind = errorKind(e);
  const where = e instanceof DesignError ? e.where : {};
  return {
    error: {
      kind,
      message: kind === 'internal' ? `internal error: ${firstLine(e)}` : firstLine(e),
      ...(where.file !== undefined ? { file: where.file } : {}),
      ...(where.design !== undefined ? { design: where.design } : {}),
      ...(where.step !== undefined ? { step: where.step } : {}),
      ...(where.invariant !== undefined ? { invariant: where.invariant } : {}),
    },
  };
}
