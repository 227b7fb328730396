/** `hintcheck replay <file|token>`: a counterexample step by step on the model as it is now. */
import { readFileSync } from 'node:fs';
import { invariantsFor } from '../invariants/index.js';
import { loadDesignFile } from '../check/load/load.js';
import { UsageError } from '../model/config.js';
import { DESIGNS } from '../model/designs/index.js';
import { buildModel, resolveConfig } from '../model/system.js';
import { designIn } from '../model/types.js';
import { Diverged, parseSchedule, resolveSchedule } from '../explorers/replay.js';
import { describePath } from '../explorers/trace.js';
import { replayIds } from '../explorers/random/walk.js';
import { divergedJson, formatReplay, replayJson, type Replayed } from '../report/replay.js';
import { parseFlags, type FlagKind, type Io } from './args.js';

const REPLAY_FLAGS: Record<string, FlagKind> = { '--json': 'bool', '--design-file': 'string' };

function readSource(arg: string): { text: string; name: string } {
  if (arg.startsWith('hc1:')) return { text: arg, name: 'the token' };
  try {
    return { text: readFileSync(arg, 'utf8'), name: arg };
  } catch {
    throw new UsageError(`replay: cannot read '${arg}': give a trace file written by --trace-out or a replay token (hc1:...)`);
  }
}

export async function runReplay(argv: readonly string[], io: Io): Promise<number> {
  const positional = argv.filter((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1] === '--design-file'));
  const p = parseFlags('replay', argv.filter((a) => !positional.includes(a)), REPLAY_FLAGS);
  if (positional.length !== 1) throw new UsageError('replay: give one trace file or replay token: hintcheck replay <file|hc1:...> [--json] [--design-file F]');
  const src = readSource(positional[0]);
  const sched = parseSchedule(src.text, src.name);
  // A trace of a design from a file names the file: replayed on it unless told otherwise.
  const file = (p['--design-file'] as string | undefined) ?? sched.file;
  const pool = file !== undefined ? await loadDesignFile(file) : DESIGNS;
  const design = designIn(pool, sched.design, (accepted) =>
    new UsageError(`replay: the trace is of design '${sched.design}', which is not ${file !== undefined ? `in ${file}` : 'built in'}: accepted ${accepted}${file === undefined ? ' (a design from a file: give it with --design-file)' : ''}`),
  );
  const changed = sched.sourceHash !== undefined && design.sourceHash !== undefined && sched.sourceHash !== design.sourceHash;
  if (changed) io.err(`hintcheck: ${file} has changed since the trace was written (source ${sched.sourceHash}, now ${design.sourceHash}); replaying on the file as it is now\n`);
  const cfg = resolveConfig(design, sched.config);
  const m = buildModel(design, cfg);
  let ids: number[];
  try {
    ids = resolveSchedule(m, sched.steps);
  } catch (e) {
    if (!(e instanceof Diverged)) throw e;
    if (p['--json']) io.out(JSON.stringify(divergedJson(design, cfg, changed, e), null, 2) + '\n');
    io.err(`hintcheck: ${e.message}\n`);
    return 2;
  }
  // The trace is about the invariant it was recorded for: another one broken on the way (an
  // accepted double report, say) does not cut it short. Without one, the first violation counts.
  const all = invariantsFor(design, cfg);
  const recorded = all.filter((i) => i.id === sched.invariant);
  const v = replayIds(m, recorded.length > 0 ? recorded : all, ids);
  const trace = describePath(m, v ? ids.slice(0, v.steps) : ids);
  const replayed: Replayed = { design, config: cfg, sourceChanged: changed, schedule: sched, steps: ids.length, ...(v ? { violated: v } : {}), trace };
  io.out((p['--json'] ? JSON.stringify(replayJson(replayed), null, 2) : formatReplay(replayed)) + '\n');
  if (!v) return 0;
  return design.accepts?.[v.invariant] !== undefined ? 0 : 1;
}
