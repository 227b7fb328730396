/**
 * Bounds and switches of one model instance. Small numbers stand in for the
 * kernel's: orders 0..maxOrder for 0..MAX_ORDER-1, reportOrder for
 * pageblock_order (page_reporting_order), capacity for PAGE_REPORTING_CAPACITY.
 */

import { UsageError } from './errors.js';

export const POISON_MODES = ['off', 'on', 'init-on-free'] as const;
export type PoisonMode = (typeof POISON_MODES)[number];

export const HOST_MODES = ['dontneed', 'madv-free', 'poison-on-fault', 'skip-if-poisoned'] as const;

export const MIGRATETYPE_MODES = ['off', 'on'] as const;
export type MigratetypeMode = (typeof MIGRATETYPE_MODES)[number];
export type HostMode = (typeof HOST_MODES)[number];

export interface Config {
  /** vCPU threads that allocate, write and free. */
  readonly cpus: number;
  /** Base pages in the zone. */
  readonly pages: number;
  /** Largest buddy order (MAX_ORDER - 1). */
  readonly maxOrder: number;
  /** Smallest order a hint covers (pageblock_order / HUGETLB_PAGE_ORDER). */
  readonly reportOrder: number;
  /** Blocks per report batch (PAGE_REPORTING_CAPACITY). */
  readonly capacity: number;
  /** Guest page poisoning: off, poison on free (checked at allocation), or init_on_free. */
  readonly poison: PoisonMode;
  /** What the host does with a hinted range. */
  readonly host: HostMode;
  /** A named mutant of the design ('none' for the design itself; only designs that declare mutants accept others). */
  readonly mutant: string;
  /**
   * zone->_watermark[WMARK_MIN] in pages, for designs that read the zone's
   * watermarks (Design.watermarks); absent for the others. The low mark is
   * derived as __setup_per_zone_wmarks() does: min + max(min / 4,
   * managed * watermark_scale_factor / 10000), whose second term is 0 at
   * these zone sizes.
   */
  readonly watermarkMin?: number;
  /**
   * Pageblock migratetypes (MOVABLE and ISOLATE per pageblock of 2^R pages)
   * and the pageblock isolator, for designs that declare them
   * (Design.migratetypes); absent for the others.
   */
  readonly migratetypes?: MigratetypeMode;
}

export const CONFIG_KEYS = ['cpus', 'pages', 'maxOrder', 'reportOrder', 'capacity', 'poison', 'host', 'mutant', 'watermarkMin', 'migratetypes'] as const;

export { UsageError } from './errors.js';

export const LIMITS = {
  cpus: { min: 1, max: 6 },
  pages: { min: 1, max: 32 },
  maxOrder: { min: 0, max: 4 },
  capacity: { min: 1, max: 8 },
} as const;

function checkRange(name: string, flag: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new UsageError(`${flag} ${v} is out of range: accepted ${min}..${max}`);
  }
}

/** Throws UsageError naming the first inconsistent parameter and what is accepted. */
export function validateConfig(c: Config): Config {
  checkRange('cpus', '--cpus', c.cpus, LIMITS.cpus.min, LIMITS.cpus.max);
  checkRange('pages', '--pages', c.pages, LIMITS.pages.min, LIMITS.pages.max);
  checkRange('maxOrder', '--max-order', c.maxOrder, LIMITS.maxOrder.min, LIMITS.maxOrder.max);
  checkRange('reportOrder', '--report-order', c.reportOrder, 0, c.maxOrder);
  checkRange('capacity', '--capacity', c.capacity, LIMITS.capacity.min, LIMITS.capacity.max);
  const block = 1 << c.maxOrder;
  if (c.pages % block !== 0) {
    throw new UsageError(
      `--pages ${c.pages} is not a multiple of the largest block (2^${c.maxOrder} = ${block} pages): accepted multiples of ${block} up to ${LIMITS.pages.max}`,
    );
  }
  if (c.watermarkMin !== undefined) checkRange('watermarkMin', '--watermark-min', c.watermarkMin, 0, c.pages);
  if (c.migratetypes !== undefined && !(MIGRATETYPE_MODES as readonly string[]).includes(c.migratetypes)) {
    throw new UsageError(`--migratetypes ${c.migratetypes} is unknown: accepted ${MIGRATETYPE_MODES.join(', ')}`);
  }
  if (!(POISON_MODES as readonly string[]).includes(c.poison)) {
    throw new UsageError(`--poison ${c.poison} is unknown: accepted ${POISON_MODES.join(', ')}`);
  }
  if (!(HOST_MODES as readonly string[]).includes(c.host)) {
    throw new UsageError(`--host ${c.host} is unknown: accepted ${HOST_MODES.join(', ')}`);
  }
  return c;
}

export function describeConfig(c: Config): string {
  const mutant = c.mutant !== 'none' ? ` mutant=${c.mutant}` : '';
  const wmark = c.watermarkMin !== undefined ? ` watermark-min=${c.watermarkMin} low=${lowWatermark(c)}` : '';
  const mt = c.migratetypes === 'on' ? ' migratetypes=on' : '';
  return `cpus=${c.cpus} pages=${c.pages} max-order=${c.maxOrder} report-order=${c.reportOrder} capacity=${c.capacity} poison=${c.poison} host=${c.host}${wmark}${mt}${mutant}`;
}

/**
 * low_wmark_pages(): __setup_per_zone_wmarks() sets WMARK_LOW to
 * min + max_t(u64, tmp >> 2, mult_frac(zone_managed_pages(zone),
 * watermark_scale_factor, 10000)); at 32 pages or fewer and the default
 * factor of 10 the second term is 0.
 */
export function lowWatermark(c: Config): number {
  const min = c.watermarkMin ?? 0;
  return min + Math.max(min >> 2, Math.floor((c.pages * 10) / 10000));
}
