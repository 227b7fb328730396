/** `--trace-out`: counterexamples as trace files, which `hintcheck replay` reads back. */
import { writeFileSync } from 'node:fs';
import type { CheckReport } from '../check/verdicts.js';
import { buildModel } from '../model/system.js';
import type { Design } from '../model/types.js';
import { scheduleOf, traceFile, type Schedule } from '../explorers/replay.js';
import type { Io } from './args.js';

/** Write one trace file per violated invariant: `file` itself when there is one, else `name.<invariant>.json`. */
export function writeTraces(file: string, found: readonly { invariant: string; schedule: Schedule; message?: string }[], io: Io): void {
  found.forEach((f) => {
    const path = found.length === 1 ? file : file.replace(/(\.json)?$/, `.${f.invariant}.json`);
    writeFileSync(path, JSON.stringify(traceFile(f.schedule, f.message), null, 2) + '\n');
    io.err(`trace of ${f.invariant} written to ${path}\n`);
  });
}

/** `--trace-out` for an exhaustive check: its counterexamples as trace files. */
export function writeCheckTraces(file: string, design: Design, report: CheckReport, io: Io): void {
  const m = buildModel(design, report.config);
  writeTraces(
    file,
    report.results.filter((r) => r.trace !== undefined).map((r) => ({
      invariant: r.invariant,
      message: r.message!,
      schedule: scheduleOf(m, r.trace!.steps.map((s) => s.id), { invariant: r.invariant, explorer: 'exhaustive' }),
    })),
    io,
  );
}
