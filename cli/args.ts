/**
 * Command-line plumbing shared by the commands: flags, the configuration
 * they override, the design they name, and where output goes.
 */
import { match } from 'ts-pattern';
import { HOST_MODES, POISON_MODES, UsageError, type Config } from '../model/config.js';
import { DESIGNS } from '../model/designs/index.js';
import { loadDesignFile } from '../check/load/load.js';
import { designIn, type Design } from '../model/types.js';

export type FlagKind = 'string' | 'int' | 'number' | 'bytes' | 'bool' | 'list';

export type Parsed = Record<string, string | number | boolean | string[]>;

export function parseFlags(cmd: string, argv: readonly string[], spec: Record<string, FlagKind>): Parsed {
  const out: Parsed = {};
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const kind = spec[arg];
    if (kind === undefined) {
      throw new UsageError(`${cmd}: unknown option '${arg}': accepted ${Object.keys(spec).join(', ')}`);
    }
    if (kind === 'bool') {
      if (value !== undefined) throw new UsageError(`${cmd}: ${arg} takes no value`);
      out[arg] = true;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) throw new UsageError(`${cmd}: ${arg} needs a value`);
      value = argv[++i];
    }
    out[arg] = match(kind)
      .with('string', () => value!)
      .with('list', () => [...((out[arg] as string[] | undefined) ?? []), value!])
      .with('int', () => {
        if (!/^\d+$/.test(value!)) throw new UsageError(`${cmd}: ${arg} ${value} is not a whole number`);
        return Number(value);
      })
      .with('bytes', () => {
        const m = /^(\d+(?:\.\d+)?)([KMGT]?)i?B?$/i.exec(value!);
        if (m === null) throw new UsageError(`${cmd}: ${arg} ${value} is not a size: accepted a number of bytes with K, M, G or T, e.g. 2G`);
        const unit = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
        return Math.floor(Number(m[1]) * unit);
      })
      .with('number', () => {
        if (!/^\d+(\.\d+)?$/.test(value!)) throw new UsageError(`${cmd}: ${arg} ${value} is not a number of seconds`);
        return Number(value);
      })
      .exhaustive();
  }
  return out;
}

export function configOverrides(p: Parsed): Partial<Config> {
  const o: Record<string, unknown> = {};
  const map: Record<string, keyof Config> = {
    '--cpus': 'cpus', '--pages': 'pages', '--max-order': 'maxOrder', '--report-order': 'reportOrder',
    '--capacity': 'capacity', '--watermark-min': 'watermarkMin', '--migratetypes': 'migratetypes', '--poison': 'poison', '--host': 'host', '--mutant': 'mutant',
  };
  for (const [flag, key] of Object.entries(map)) if (p[flag] !== undefined) o[key] = p[flag];
  if (o.poison !== undefined && !(POISON_MODES as readonly string[]).includes(o.poison as string)) {
    throw new UsageError(`--poison ${String(o.poison)} is unknown: accepted ${POISON_MODES.join(', ')}`);
  }
  if (o.host !== undefined && !(HOST_MODES as readonly string[]).includes(o.host as string)) {
    throw new UsageError(`--host ${String(o.host)} is unknown: accepted ${HOST_MODES.join(', ')}`);
  }
  return o as Partial<Config>;
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  errIsTty: boolean;
}

/** The design --design names, among the built-in ones or those of --design-file. */
export async function pickDesign(p: Parsed): Promise<Design> {
  const file = p['--design-file'] as string | undefined;
  const pool = file !== undefined ? await loadDesignFile(file) : DESIGNS;
  const id = p['--design'] as string | undefined;
  if (id === undefined) {
    if (file !== undefined && pool.length === 1) return pool[0];
    throw new UsageError(`check: --design is required: accepted ${pool.map((d) => d.id).join(', ')}`);
  }
  return designIn(pool, id, (accepted) => new UsageError(`unknown design '${id}'${file !== undefined ? ` in ${file}` : ''}: accepted ${accepted}`));
}
