/** `hintcheck docs [--check]`: the generated design pages (report/docs.ts). */
import { DESIGNS } from '../model/designs/index.js';
import { runMatrix } from '../check/matrix/matrix.js';
import { designPages, stalePages, writePages } from '../report/docs.js';
import { parseFlags, type FlagKind, type Io } from './args.js';

const DOCS_FLAGS: Record<string, FlagKind> = {
  '--check': 'bool',
  '--dir': 'string',
  '--workers': 'int',
};

export async function runDocs(argv: readonly string[], io: Io): Promise<number> {
  const p = parseFlags('docs', argv, DOCS_FLAGS);
  const dir = (p['--dir'] as string | undefined) ?? 'docs';
  const rows = await runMatrix({ traces: true, ...(p['--workers'] !== undefined ? { workers: Math.max(1, p['--workers'] as number) } : {}) });
  const pages = designPages(dir, DESIGNS, rows);
  if (p['--check']) {
    const stale = stalePages(pages);
    if (stale.length === 0) {
      io.out(`${pages.size} design pages up to date\n`);
      return 0;
    }
    io.out(`${stale.length} design page${stale.length === 1 ? ' is' : 's are'} out of date (run npx hintcheck docs):\n${stale.map((x) => `  ${x}`).join('\n')}\n`);
    return 1;
  }
  const changed = writePages(pages);
  io.out(`${pages.size} design pages in ${dir}/designs, ${changed.length} rewritten\n`);
  return 0;
}
