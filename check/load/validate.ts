/**
 * What a design says about invariants and configurations, checked against
 * what exists: an id in `skip`, `accepts` or `expect` that names no
 * invariant would otherwise be ignored, and the matrix would then expect
 * (or excuse) something other than what the author meant. Each mistake is
 * a DesignError naming the design, the entry and the accepted values.
 */
import { designError, UsageError, type DesignWhere } from '../../model/errors.js';
import { INVARIANTS, knownInvariants } from '../../invariants/index.js';
import { CONFIG_KEYS, type Config } from '../../model/config.js';
import { resolveConfig } from '../../model/system.js';
import type { Design } from '../../model/types.js';

function whereOf(d: Design): DesignWhere {
  return { design: d.id, ...(d.source !== undefined ? { file: d.source } : {}) };
}

function configKeys(d: Design, what: string, c: unknown): void {
  if (c === undefined) return;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw designError(whereOf(d), `${what} is not an object of configuration values: accepted keys ${CONFIG_KEYS.join(', ')}`);
  for (const k of Object.keys(c)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(k)) throw designError(whereOf(d), `${what} has an unknown key '${k}': accepted ${CONFIG_KEYS.join(', ')}`);
  }
}

function resolved(d: Design, what: string, over: Partial<Config>): Config {
  try {
    return resolveConfig(d, over);
  } catch (e) {
    if (e instanceof UsageError) throw designError(whereOf(d), `${what}: ${e.message}`);
    throw e;
  }
}

/** Throws a DesignError at the first id, key or configuration of the design that does not exist or does not fit. */
export function validateDesign(d: Design): void {
  const where = whereOf(d);
  const shared = INVARIANTS.map((i) => i.id);
  const own = d.invariants ?? [];
  const seen = new Set<string>();
  own.forEach((inv, k) => {
    const bad = (problem: string): never => {
      throw designError({ ...where, ...(typeof inv?.id === 'string' ? { invariant: inv.id } : {}) }, `invariants[${k}]${typeof inv?.id === 'string' ? ` (${inv.id})` : ''} ${problem}`);
    };
    if (typeof inv !== 'object' || inv === null) bad('is not an invariant object');
    if (typeof inv.id !== 'string' || inv.id === '') bad('has no id');
    if (shared.includes(inv.id)) bad(`has the id of a shared invariant; pick another (shared: ${shared.join(', ')})`);
    if (seen.has(inv.id)) bad('repeats an id another invariant of the design has');
    seen.add(inv.id);
    for (const f of ['title', 'short', 'why'] as const) if (typeof inv[f] !== 'string') bad(`has no ${f} (a string)`);
    if (typeof inv.applies !== 'function') bad('has no applies(cfg) function');
    if (typeof inv.bind !== 'function') bad('has no bind(m) function');
    const fields = ['id', 'number', 'title', 'short', 'why', 'applies', 'notApplicable', 'precondition', 'bind'];
    for (const f of Object.keys(inv)) if (!fields.includes(f)) bad(`has an unknown field '${f}': accepted ${fields.join(', ')}`);
  });
  const known = knownInvariants(d).map((i) => i.id);
  for (const id of Object.keys(d.skip ?? {})) {
    if (!shared.includes(id)) throw designError(where, `skip names '${id}', which is not a shared invariant: accepted ${shared.join(', ')}`);
  }
  for (const id of Object.keys(d.accepts ?? {})) {
    if (!known.includes(id)) throw designError(where, `accepts names '${id}', which is not an invariant of this design: accepted ${known.join(', ')}`);
    if (d.skip?.[id] !== undefined) throw designError(where, `accepts names '${id}', which the design also skips`);
  }
  configKeys(d, 'defaults', d.defaults);
  resolved(d, 'defaults', {});
  if (!Array.isArray(d.expect)) throw designError(where, 'expect is not a list of matrix rows ({ config?, violates, why })');
  d.expect.forEach((e, k) => {
    const what = `expect[${k}]`;
    if (typeof e !== 'object' || e === null) throw designError(where, `${what} is not a matrix row ({ config?, violates, why })`);
    const fields = ['config', 'violates', 'why', 'smaller'];
    for (const f of Object.keys(e)) if (!fields.includes(f)) throw designError(where, `${what} has an unknown field '${f}': accepted ${fields.join(', ')}`);
    configKeys(d, `${what}.config`, e.config);
    const cfg = resolved(d, `${what}.config`, e.config ?? {});
    if (!Array.isArray(e.violates)) throw designError(where, `${what}.violates is not a list of invariant ids: accepted ${known.join(', ')}`);
    for (const id of e.violates) {
      if (!known.includes(id)) throw designError(where, `${what}.violates names '${id}', which is not an invariant of this design: accepted ${known.join(', ')}`);
      if (d.skip?.[id] !== undefined) throw designError(where, `${what}.violates names '${id}', which the design skips`);
      const inv = knownInvariants(d).find((i) => i.id === id)!;
      if (!inv.applies(cfg)) throw designError(where, `${what}.violates names '${id}', which says nothing at that configuration: it ${inv.notApplicable ?? 'does not apply there'}`);
    }
    if (typeof e.why !== 'string') throw designError(where, `${what} has no why (a sentence a reviewer can check)`);
  });
}
