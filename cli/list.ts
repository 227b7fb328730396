/** `hintcheck list`: the designs, host and poison modes, and invariants. */
import { INVARIANTS } from '../invariants/index.js';
import { HOST_MODES, POISON_MODES } from '../model/config.js';
import { DESIGNS } from '../model/designs/index.js';
import { parseFlags, type Io } from './args.js';

export function runList(argv: readonly string[], io: Io): number {
  parseFlags('list', argv, {});
  const lines: string[] = ['designs:'];
  const w = Math.max(...DESIGNS.map((d) => d.id.length));
  for (const d of DESIGNS) lines.push(`  ${d.id.padEnd(w)}  ${d.title}`);
  lines.push('', 'host modes (--host):');
  const hostDoc: Record<(typeof HOST_MODES)[number], string> = {
    dontneed: 'MADV_DONTNEED: a discarded page reads zero at its next touch',
    'madv-free': 'MADV_FREE: a discarded page reads its old content, or zero if the host reclaimed it',
    'poison-on-fault': 'a discarded page faults in filled with the guest\'s poison value',
    'skip-if-poisoned': 'QEMU: no discard at all when the guest reports a non-zero poison value',
  };
  for (const h of HOST_MODES) lines.push(`  ${h.padEnd(16)}  ${hostDoc[h]}`);
  lines.push('', 'poison modes (--poison): ' + POISON_MODES.join(', '));
  lines.push('', 'invariants (--invariant):');
  const iw = Math.max(...INVARIANTS.map((i) => i.id.length));
  for (const i of INVARIANTS) lines.push(`  ${i.number}. ${i.id.padEnd(iw)}  ${i.title}`);
  const own = new Map<string, { title: string; designs: string[] }>();
  for (const d of DESIGNS) for (const i of d.invariants ?? []) {
    const e = own.get(i.id) ?? { title: i.title, designs: [] };
    e.designs.push(d.id);
    own.set(i.id, e);
  }
  if (own.size > 0) {
    lines.push('', 'invariants of particular designs:');
    const ow = Math.max(...[...own.keys()].map((k) => k.length));
    for (const [id, e] of own) lines.push(`  ${id.padEnd(ow)}  ${e.title} (${e.designs.length === 1 ? e.designs[0] : `${e.designs.length} designs: ${e.designs[0]}, ...`})`);
  }
  io.out(lines.join('\n') + '\n');
  return 0;
}

