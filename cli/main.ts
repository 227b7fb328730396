/**
 * The command line: parse, call the library, print, set the exit code
 * (cli/exit.ts). One file per command; this one dispatches and reports
 * errors.
 */
import { match } from 'ts-pattern';
import { UsageError } from '../model/config.js';
import { errorJson, errorKind, exitCodeOf } from '../model/errors.js';
import type { Io } from './args.js';
import { runCheck } from './check.js';
import { runDocs } from './docs.js';
import { HELP } from './help.js';
import { runList } from './list.js';
import { runMatrixCmd } from './matrix.js';
import { runMerge } from './merge.js';
import { runReplay } from './replay.js';

export async function main(argv: readonly string[], io: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  errIsTty: Boolean(process.stderr.isTTY),
}): Promise<number> {
  try {
    const cmd = argv.length > 0 ? argv[0] : undefined;
    const rest = argv.slice(1);
    return await match(cmd)
      .with('check', () => runCheck(rest, io))
      .with('list', () => runList(rest, io))
      .with('matrix', () => runMatrixCmd(rest, io))
      .with('docs', () => runDocs(rest, io))
      .with('replay', () => runReplay(rest, io))
      .with('merge', () => runMerge(rest, io))
      .with('help', '--help', '-h', undefined, () => {
        io.out(HELP + '\n');
        return cmd === undefined ? 2 : 0;
      })
      .otherwise(() => {
        throw new UsageError(`unknown command '${cmd}': accepted check, replay, merge, matrix, list, docs, help`);
      });
  } catch (e) {
    return reportError(e, argv.includes('--json'), io);
  }
}

/**
 * An error as the command line shows it: one line on stderr (and under
 * --json one object on stdout), and its kind's exit code. A bug of ours
 * says so, and shows its stack only with HINTCHECK_DEBUG=1.
 */
export function reportError(e: unknown, json: boolean, io: Io): number {
  const kind = errorKind(e);
  if (json) io.out(JSON.stringify(errorJson(e)) + '\n');
  const line = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');
  if (kind === 'internal') {
    io.err(`hintcheck: internal error: ${line} (a bug in hintcheck, exit code 4; HINTCHECK_DEBUG=1 shows where)\n`);
    if (process.env.HINTCHECK_DEBUG === '1' && e instanceof Error && e.stack !== undefined) io.err(`${e.stack}\n`);
  } else {
    io.err(`hintcheck: ${line}\n`);
    if (process.env.HINTCHECK_DEBUG === '1' && e instanceof Error && e.stack !== undefined) io.err(`${e.stack}\n`);
  }
  return exitCodeOf(e);
}

