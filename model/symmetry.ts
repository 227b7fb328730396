/**
 * vCPU symmetry for the buddy-allocator designs. The vCPUs run the same
 * code and start alike; what tells two apart is only their row of state
 * (phase, block, and any per-vCPU group a design adds) and whether one holds
 * the zone lock. Pages are not interchangeable (a block's address decides its
 * buddy), so only the vCPUs are permuted: the canonical form sorts their rows
 * and renames the lock's owner to match.
 *
 * A design may use this only if nothing else in its state names a vCPU
 * (events do, but they are not stored): D1 and D5 qualify; a design with
 * per-vCPU arrays in record groups, or a field holding a vCPU's number, does
 * not.
 */
import type { Model, State } from './types.js';
import { factorial } from './math.js';

export function cpuSymmetry(m: Model): { canon: (s: State) => void; orbit: (s: State) => number } {
  const C = m.cfg.cpus;
  const rows = m.layout.groups.filter((g) => g.rows === C && (g.name === 'vcpus' || g.rowLabel?.(0) === 'vcpu0'));
  // Offsets of every per-vCPU field (row 0), in layout order: the sort key.
  const fields = rows.flatMap((g) => Object.keys(g.fields).filter((f) => !g.fields[f].transient).map((f) => m.layout.at(g.name, f)));
  const lock = m.f.lock;
  const order = new Int32Array(C);
  const rank = new Int32Array(C);
  const tmp = new Uint8Array(fields.length * C);
  const cmp = (s: State, x: number, y: number): number => {
    for (const o of fields) {
      const d = s[o + x] - s[o + y];
      if (d !== 0) return d;
    }
    // The lock holder sorts after an equal row that does not hold it.
    return (s[lock] === x + 1 ? 1 : 0) - (s[lock] === y + 1 ? 1 : 0);
  };
  const sort = (s: State): void => {
    for (let c = 0; c < C; c++) {
      let j = c;
      while (j > 0 && cmp(s, order[j - 1], c) > 0) {
        order[j] = order[j - 1];
        j--;
      }
      order[j] = c;
    }
    for (let r = 0; r < C; r++) rank[order[r]] = r;
  };
  const canon = (s: State): void => {
    sort(s);
    fields.forEach((o, i) => {
      for (let r = 0; r < C; r++) tmp[i * C + r] = s[o + order[r]];
    });
    fields.forEach((o, i) => {
      for (let r = 0; r < C; r++) s[o + r] = tmp[i * C + r];
    });
    const l = s[lock];
    if (l >= 1 && l <= C) s[lock] = rank[l - 1] + 1;
  };
  const total = factorial(C);
  const orbit = (s: State): number => {
    sort(s);
    let aut = 1;
    for (let r = 0; r < C; ) {
      let e = r + 1;
      while (e < C && cmp(s, order[r], order[e]) === 0) e++;
      aut *= factorial(e - r);
      r = e;
    }
    return total / aut;
  };
  return { canon, orbit };
}
