/**
 * spin-reference: the peer model of bench/page_reporting.pml,
 * step for step, so that hintcheck and SPIN (and ref_enum.py, and Rumur) can
 * be compared on the same transition system. Equal state and transition
 * counts are the proof that the port is faithful.
 *
 * A simplified v5.7 free page reporting over NPAGES pages of the reporting
 * order: NCPU vCPUs allocate any free page, use it and free it (a vCPU may
 * hold several); one worker isolates any min(CAP, #eligible) free unreported
 * pages under the zone lock (one step per choice), drops the lock, posts the
 * batch, waits for the host's ack, then returns the pages marked reported;
 * the host discards every batch page (the next read sees zero, or the poison
 * with HOST_POISON_ON_FAULT). Granularity: one step per atomic/d_step block
 * of the Promela model; locals rest at 0 between steps, as the model makes
 * them, so no state differs by a dead value.
 *
 * Mapped onto hintcheck's invariants: I1 is no-hint-under-zone-lock (the
 * host serves the worker while the worker holds the lock), I3 is
 * poison-reads-back (V_READ); I2, I4 and I5 (no lost write) are the
 * reference's own below.
 */
import type { Invariant } from '../../types.js';
import { UsageError, type Config } from '../../config.js';
import type { GroupDecl } from '../../layout.js';
import type { ActionSpec, Design, DesignInstance, Model, State } from '../../types.js';
import { factorial, popcount } from '../../math.js';

/** Page content, as the Promela model names it. */
const C_DATA = 0;
const C_ZERO = 1;
const C_POISON = 2;
const C_STALE = 3;

/** vCPU program counters: alloc (A0 is also "between operations"), then free. */
const PCS = ['A0', 'A1', 'A2', 'A3', 'F1', 'F2'] as const;
const A0 = 0;
const A1 = 1;
const A2 = 2;
const A3 = 3;
const F1 = 4;
const F2 = 5;
/** Worker program counters. */
const WPCS = ['W0', 'W1', 'W2', 'W3', 'W4', 'W5'] as const;
const VQ_IDLE = 0;
const VQ_POSTED = 1;
const VQ_DONE = 2;

export const SPIN_MUTANTS = ['hold-lock', 'no-isolate'] as const;

function actorsFor(cfg: Config): string[] {
  return [...Array.from({ length: cfg.cpus }, (_, c) => `vcpu${c}`), 'worker', 'host'];
}

function groups(cfg: Config): GroupDecl[] {
  const actors = actorsFor(cfg);
  return [
    {
      name: 'pages', segment: 0, rows: cfg.pages, rowLabel: (p) => `page ${p}`,
      fields: {
        state: { domain: [...actors.slice(0, cfg.cpus), 'free', 'isolated'], doc: 'pstate[]: the vCPU that holds the page, FREE or ISO' },
        reported: { domain: 'bool', doc: 'reported[]' },
        content: { domain: ['data', 'zero', 'poison', 'stale'], doc: 'content[]: what a read returns' },
        mapped: { domain: 'bool', doc: 'mapped[]: the host backs the page' },
        inb: { domain: 'bool', doc: 'inb[]: the page is in the batch' },
      },
    },
    {
      name: 'zone',
      fields: {
        lock: { domain: ['free', ...actors], doc: 'zone_lock: its owner (0 free, else actor + 1, as the shared lock)' },
        nrFree: { domain: { max: cfg.pages }, doc: 'nr_free' },
        nb: { domain: { max: cfg.capacity }, doc: 'nb: pages in the batch' },
        vq: { domain: ['idle', 'posted', 'done'], doc: 'vq: the virtqueue between worker and host' },
      },
    },
    {
      name: 'cpus', rows: cfg.cpus, rowLabel: (c) => `vcpu${c}`,
      fields: {
        pc: { domain: PCS, doc: 'the vCPU process\'s location' },
        p: { domain: { max: Math.max(0, cfg.pages - 1) }, doc: 'local p: the page in use (0 between steps that need none)' },
      },
    },
    { name: 'worker', fields: { pc: { domain: WPCS, doc: 'the worker process\'s location' } } },
  ];
}

/** Every subset of pages of size 1..cap, as bit masks. */
function subsets(pages: number, cap: number): number[] {
  const out: number[] = [];
  for (let mask = 1; mask < 1 << pages; mask++) {
    let n = 0;
    for (let x = mask; x; x &= x - 1) n++;
    if (n <= cap) out.push(mask);
  }
  return out;
}

function instantiate(m: Model): DesignInstance {
  const L = m.layout;
  const cfg = m.cfg;
  const N = cfg.pages;
  const ps = L.at('pages', 'state');
  const rep = L.at('pages', 'reported');
  const con = L.at('pages', 'content');
  const mp = L.at('pages', 'mapped');
  const inb = L.at('pages', 'inb');
  const lock = L.at('zone', 'lock');
  const nf = L.at('zone', 'nrFree');
  const nb = L.at('zone', 'nb');
  const vq = L.at('zone', 'vq');
  const pc = L.at('cpus', 'pc');
  const pp = L.at('cpus', 'p');
  const wpc = L.at('worker', 'pc');
  const worker = cfg.cpus;
  const FREE = cfg.cpus;
  const ISO = cfg.cpus + 1;
  const LK_FREE = 0;
  const LK_WORKER = worker + 1;
  const poison = cfg.poison === 'on';
  const fault = cfg.host === 'poison-on-fault' ? C_POISON : C_ZERO;
  const holdLock = cfg.mutant === 'hold-lock';
  const noIsolate = cfg.mutant === 'no-isolate';
  const f = m.f;
  const lostWrite = L.at('spin', 'lostWrite');

  /** Eligible pages for W_ISOLATE (FREE and not reported), as a mask. */
  const eligible = (s: State): number => {
    let mask = 0;
    for (let k = 0; k < N; k++) if (s[ps + k] === FREE && !s[rep + k]) mask |= 1 << k;
    return mask;
  };

  /**
   * Partial-order reduction. V_READ and V_WRITE touch only page p, which
   * vCPU i holds: no vCPU can allocate it, W_ISOLATE takes only free pages,
   * and H and W_RETURN touch only batch pages; so while p is not in the batch
   * (always, but in the no-isolate mutant) nothing else can read or write
   * what they touch, and they change no field an invariant reads (V_READ's
   * own poison check reads the same value whenever it runs). W_POST and W_ACK
   * touch vq, which only H also touches, and H is disabled until W_POST and
   * has run before W_ACK is enabled.
   */
  const privatePage = (i: number) => (s: State): boolean => s[inb + s[pp + i]] === 0;
  const always = (): boolean => true;

  const actions: ActionSpec[] = [];
  for (let i = 0; i < cfg.cpus; i++) {
    const at = pc + i;
    for (let k = 0; k < N; k++) {
      actions.push({
        actor: i, name: 'V_ALLOC', kernel: 'rmqueue(): take zone_lock, pick any FREE page', args: { page: k },
        guardAt: at, guardIs: A0, guard2At: ps + k, guard2Is: FREE,
        /** V_ALLOC: [lock free, page FREE] take the lock and the page. */
        apply: (s) => {
          if (s[at] !== A0 || s[lock] !== LK_FREE || s[ps + k] !== FREE) return false;
          s[lock] = i + 1;
          s[ps + k] = i;
          s[rep + k] = 0;
          s[nf]--;
          s[at] = A1;
          s[pp + i] = k;
          return true;
        },
      });
      if (poison) {
        actions.push({
          actor: i, name: 'V_POISON', kernel: 'kernel_poison_pages(): poison any owned page; no lock', args: { page: k },
          guardAt: at, guardIs: A0, guard2At: ps + k, guard2Is: i,
          /** V_POISON: [owns page k] I5 (it holds DATA), then the poison. */
          apply: (s) => {
            if (s[at] !== A0 || s[ps + k] !== i) return false;
            if (s[con + k] !== C_DATA) s[lostWrite] = k + 1;
            s[con + k] = C_POISON;
            s[at] = F1;
            s[pp + i] = k;
            return true;
          },
        });
      } else {
        actions.push({
          actor: i, name: 'V_FREE', kernel: '__free_one_page(): take zone_lock, free any owned page', args: { page: k },
          guardAt: at, guardIs: A0, guard2At: ps + k, guard2Is: i,
          /** V_FREE (POISON=0): [lock free, owns page k] I5, then the page goes FREE, stale, unreported. */
          apply: (s) => {
            if (s[at] !== A0 || s[lock] !== LK_FREE || s[ps + k] !== i) return false;
            if (s[con + k] !== C_DATA) s[lostWrite] = k + 1;
            s[lock] = i + 1;
            s[con + k] = C_STALE;
            s[ps + k] = FREE;
            s[rep + k] = 0;
            s[nf]++;
            s[at] = F2;
            return true;
          },
        });
      }
    }
    actions.push({
      actor: i, name: 'V_UNLOCK', kernel: 'spin_unlock(&zone_lock) after the allocation', args: {},
      guardAt: at, guardIs: A1,
      apply: (s) => {
        if (s[at] !== A1) return false;
        s[lock] = LK_FREE;
        s[at] = poison ? A2 : A3;
        return true;
      },
    });
    if (poison) {
      actions.push({
        actor: i, name: 'V_READ', kernel: 'check_poison_mem(): read page p (a discarded page faults in); no lock', args: {},
        guardAt: at, guardIs: A2, local: privatePage(i),
        /** V_READ: I3, the page reads the poison. */
        apply: (s) => {
          if (s[at] !== A2) return false;
          const p = s[pp + i];
          const v = s[mp + p] ? s[con + p] : fault;
          if (v !== C_POISON) {
            s[f.evBadPage] = p + 1;
            s[f.evBadRead] = v === C_ZERO ? 0 : v === C_POISON ? 1 : v === C_DATA ? 2 : 3;
          }
          s[con + p] = v;
          s[mp + p] = 1;
          s[at] = A3;
          return true;
        },
      });
    }
    actions.push({
      actor: i, name: 'V_WRITE', kernel: 'the vCPU writes its data to page p; no lock', args: {},
      guardAt: at, guardIs: A3, local: privatePage(i),
      apply: (s) => {
        if (s[at] !== A3) return false;
        const p = s[pp + i];
        s[con + p] = C_DATA;
        s[mp + p] = 1;
        s[at] = A0;
        s[pp + i] = 0;
        return true;
      },
    });
    if (poison) {
      actions.push({
        actor: i, name: 'V_FREE', kernel: '__free_one_page(): take zone_lock, free the poisoned page p', args: {},
        guardAt: at, guardIs: F1,
        apply: (s) => {
          if (s[at] !== F1 || s[lock] !== LK_FREE) return false;
          const p = s[pp + i];
          s[lock] = i + 1;
          s[ps + p] = FREE;
          s[rep + p] = 0;
          s[nf]++;
          s[at] = F2;
          s[pp + i] = 0;
          return true;
        },
      });
    }
    actions.push({
      actor: i, name: 'V_UNLOCK', kernel: 'spin_unlock(&zone_lock) after the free', args: {},
      guardAt: at, guardIs: F2,
      apply: (s) => {
        if (s[at] !== F2) return false;
        s[lock] = LK_FREE;
        s[at] = A0;
        return true;
      },
    });
  }

  for (const take of subsets(N, cfg.capacity)) {
    const pages: number[] = [];
    for (let k = 0; k < N; k++) if (take & (1 << k)) pages.push(k);
    actions.push({
      actor: worker, name: 'W_ISOLATE', kernel: 'page_reporting_cycle(): take zone_lock, isolate min(CAP, #eligible) pages', args: { pages: pages.join(',') },
      guardAt: wpc, guardIs: 0, guard2At: ps + pages[0], guard2Is: FREE,
      /** W_ISOLATE: [lock free] any set of exactly min(CAP, #eligible) eligible pages (the list order abstracted). */
      apply: (s) => {
        if (s[wpc] !== 0 || s[lock] !== LK_FREE) return false;
        const el = eligible(s);
        if ((take & el) !== take || popcount(take) !== Math.min(cfg.capacity, popcount(el))) return false;
        s[lock] = LK_WORKER;
        for (const k of pages) {
          s[inb + k] = 1;
          if (!noIsolate) {
            s[ps + k] = ISO;
            s[nf]--;
          }
        }
        s[nb] = pages.length;
        s[wpc] = holdLock ? 2 : 1;
        return true;
      },
    });
  }
  if (!holdLock) {
    actions.push({
      actor: worker, name: 'W_UNLOCK', kernel: 'spin_unlock(&zone_lock): drop the lock before reporting', args: {},
      guardAt: wpc, guardIs: 1,
      apply: (s) => {
        if (s[wpc] !== 1) return false;
        s[lock] = LK_FREE;
        s[wpc] = 2;
        return true;
      },
    });
  }
  actions.push({
    actor: worker, name: 'W_POST', kernel: 'prdev->report(): hand the batch to the host, kick', args: {},
    guardAt: wpc, guardIs: 2, local: always,
    apply: (s) => {
      if (s[wpc] !== 2) return false;
      // No hint event here: page_reporting.pml asserts I1 where the host serves the report (H), and so does the port.
      s[vq] = VQ_POSTED;
      s[wpc] = 3;
      return true;
    },
  });
  actions.push({
    actor: worker, name: 'W_ACK', kernel: 'wait_event(): the host returned the buffer', args: {},
    guardAt: wpc, guardIs: 3, local: always,
    apply: (s) => {
      if (s[wpc] !== 3 || s[vq] !== VQ_DONE) return false;
      s[vq] = VQ_IDLE;
      s[wpc] = 4;
      return true;
    },
  });
  actions.push({
    actor: worker, name: 'W_RETURN', kernel: 'page_reporting_drain(): take zone_lock, return the batch reported', args: {},
    guardAt: wpc, guardIs: 4,
    apply: (s) => {
      if (s[wpc] !== 4) return false;
      if (!holdLock) {
        if (s[lock] !== LK_FREE) return false;
        s[lock] = LK_WORKER;
      }
      for (let k = 0; k < N; k++) {
        if (!s[inb + k]) continue;
        if (noIsolate) {
          if (s[ps + k] === FREE) s[rep + k] = 1;
        } else {
          s[ps + k] = FREE;
          s[nf]++;
          s[rep + k] = 1;
        }
        s[inb + k] = 0;
      }
      s[nb] = 0;
      s[wpc] = 5;
      return true;
    },
  });
  actions.push({
    actor: worker, name: 'W_UNLOCK2', kernel: 'spin_unlock(&zone_lock) after the drain', args: {},
    guardAt: wpc, guardIs: 5,
    apply: (s) => {
      if (s[wpc] !== 5) return false;
      s[lock] = LK_FREE;
      s[wpc] = 0;
      return true;
    },
  });
  actions.push({
    actor: m.host, name: 'H', kernel: 'virtio_balloon_handle_report(): discard every batch page, then ack', args: {},
    guardAt: vq, guardIs: VQ_POSTED,
    /** H: I1 is read from the served event: the worker must not hold the lock. */
    apply: (s) => {
      if (s[vq] !== VQ_POSTED) return false;
      for (let k = 0; k < N; k++) {
        if (!s[inb + k]) continue;
        s[con + k] = fault;
        s[mp + k] = 0;
      }
      s[vq] = VQ_DONE;
      s[f.evServed] = worker + 1;
      return true;
    },
  });

  return {
    actions,
    hooks: {},
    init: (s) => {
      for (let k = 0; k < N; k++) {
        s[ps + k] = FREE;
        s[con + k] = poison ? C_POISON : C_STALE;
        s[mp + k] = 1;
      }
      s[lock] = LK_FREE;
      s[nf] = N;
    },
    idle: () => true,
  };
}

/** The reference's I2: no page is allocated while it is in the batch. */
const spinI2: Invariant = {
  id: 'spin-i2-batch-not-allocated',
  short: 'I2 batch',
  title: 'No page in the batch is allocated (the reference model\'s I2)',
  why: 'page_reporting.pml\'s I2: the batch is with the host from W_ISOLATE to W_RETURN; a vCPU must not hold one of its pages.',
  applies: () => true,
  precondition: 'a vCPU allocates while a batch is out',
  bind: (m) => {
    const ps = m.layout.at('pages', 'state');
    const inb = m.layout.at('pages', 'inb');
    const pc = m.layout.at('cpus', 'pc');
    return {
      state: (s) => {
        for (let k = 0; k < m.cfg.pages; k++) if (s[inb + k] && s[ps + k] < m.cfg.cpus) return `page ${k} is in the batch and allocated to vcpu${s[ps + k]}`;
        return null;
      },
      reads: ['pages'],
      // A batch page can only be taken by V_ALLOC: a vCPU that has just allocated (A1, the lock still held) while a batch is out is where it could have been.
      reached: {
        state: (s) => {
          let allocating = false;
          for (let i = 0; i < m.cfg.cpus; i++) if (s[pc + i] === A1) allocating = true;
          if (!allocating) return false;
          for (let k = 0; k < m.cfg.pages; k++) if (s[inb + k]) return true;
          return false;
        },
      },
    };
  },
};

/** The reference's I4: nr_free counts the FREE pages, nb the batch. */
const spinI4: Invariant = {
  id: 'spin-i4-counters',
  short: 'I4 counts',
  title: 'nr_free counts the free pages and nb the batch (the reference model\'s I4)',
  why: 'page_reporting.pml\'s I4: every page is allocated, free or isolated (by construction), and the counters agree with the pages.',
  applies: () => true,
  precondition: 'a page off the free list',
  bind: (m) => {
    const L = m.layout;
    const ps = L.at('pages', 'state');
    const inb = L.at('pages', 'inb');
    const nf = L.at('zone', 'nrFree');
    const nb = L.at('zone', 'nb');
    return {
      state: (s) => {
        let free = 0;
        let batch = 0;
        for (let k = 0; k < m.cfg.pages; k++) {
          if (s[ps + k] === m.cfg.cpus) free++;
          if (s[inb + k]) batch++;
        }
        if (free !== s[nf]) return `nr_free is ${s[nf]} but ${free} pages are free`;
        if (batch !== s[nb]) return `nb is ${s[nb]} but ${batch} pages are in the batch`;
        return null;
      },
      // At boot every page is free, the batch empty and the counters set to match: they can only drift once a page has left the free list.
      reached: {
        state: (s) => {
          for (let k = 0; k < m.cfg.pages; k++) if (s[ps + k] !== m.cfg.cpus) return true;
          return false;
        },
      },
    };
  },
};

/** The reference's I5: a page a vCPU frees (or poisons) still holds its data. */
const spinI5: Invariant = {
  id: 'spin-i5-no-lost-write',
  short: 'I5 write',
  title: 'A page a vCPU frees still holds what it wrote (the reference model\'s I5)',
  why: 'page_reporting.pml\'s I5: a host discard of a page in use would lose the write; the free path sees it.',
  applies: () => true,
  precondition: 'a vCPU frees (or poisons) a page',
  bind: (m) => {
    const lost = m.layout.at('spin', 'lostWrite');
    const pc = m.layout.at('cpus', 'pc');
    return {
      edge: (_b, after, a) => (after[lost] ? `${m.actors[a.actor]} freed page ${after[lost] - 1}, which no longer holds its data` : null),
      events: ['spin.lostWrite'],
      // The write is judged where the free path reaches the page (V_FREE, or V_POISON with poisoning): a vCPU past that point (F1 or F2) has been judged.
      reached: {
        state: (s) => {
          for (let i = 0; i < m.cfg.cpus; i++) if (s[pc + i] === F1 || s[pc + i] === F2) return true;
          return false;
        },
      },
    };
  },
};

export const spinReference: Design = {
  id: 'spin-reference',
  title: 'The peer SPIN model of v5.7 page reporting, step for step (bench/page_reporting.pml)',
  summary:
    'NCPU vCPUs allocate, write and free single pages of the reporting order; one worker isolates up to CAP free unreported pages under the zone lock, drops it, posts them to the host and waits for the ack, then returns them reported; the host discards the batch. One step per atomic block of the Promela model, so the state and transition counts equal SPIN\'s, Rumur\'s and ref_enum.py\'s.',
  defaults: { cpus: 2, pages: 4, maxOrder: 0, reportOrder: 0, capacity: 2 },
  actors: ['worker'],
  standalone: true,
  actorsFor,
  mutants: SPIN_MUTANTS,
  groups: (cfg) => {
    if (cfg.maxOrder !== 0) throw new UsageError(`--max-order ${cfg.maxOrder}: spin-reference models pages of one order; accepted 0`);
    return [
      ...groups(cfg),
      {
        name: 'spin',
        fields: { lostWrite: { domain: { max: cfg.pages }, transient: true, doc: 'page + 1 freed or poisoned without its data (I5)' } },
      },
    ];
  },
  instantiate,
  symmetry: (m) => spinSymmetry(m),
  // Proven sound for the mapped invariants: see docs/reductions.md.
  reductions: { symmetry: true, por: true },
  invariants: [spinI2, spinI4, spinI5],
  skip: {
    'no-reuse-while-hinting': 'replaced by the reference\'s own I2 (spin-i2-batch-not-allocated), which reads the batch rather than in-flight hints',
    'allocator-conservation': 'no buddy allocator: replaced by the reference\'s own I4 (spin-i4-counters)',
    'no-missed-hints': 'the reference model states no such property',
    'no-backed-free-blocks': 'the reference model states no such property',
    'no-double-report': 'the reference model states no such property',
    'no-fake-oom': 'the reference model has no failing allocation',
  },
  expect: [
    { violates: [], why: 'RESULTS.md: "The correct design has no error in any configuration"; (2,4,2) has 25,145 states.' },
    { config: { cpus: 3, pages: 5, capacity: 3 }, violates: [], why: 'RESULTS.md A: (3,5,3), 943,809 states.' },
    { config: { poison: 'on', host: 'poison-on-fault' }, violates: [], why: 'RESULTS.md A, POISON=1 HOST_POISON_ON_FAULT=1: (2,4,2), 47,849 states.' },
    { config: { poison: 'on' }, violates: ['poison-reads-back'], why: 'RESULTS.md C: POISON=1, HPOF=0 fails I3 in 10 model steps.' },
    { config: { mutant: 'hold-lock' }, violates: ['no-hint-under-zone-lock'], why: 'RESULTS.md C: MUTANT_HOLD_LOCK fails I1 in 3 model steps.' },
    {
      config: { mutant: 'no-isolate' },
      violates: ['spin-i2-batch-not-allocated', 'spin-i5-no-lost-write'],
      why: 'RESULTS.md C: MUTANT_NO_ISOLATE fails I2 in 3 model steps; SPIN stops there, the full search also finds the write the host then discards (I5, 8 steps).',
    },
  ],
};

/**
 * Symmetry of the reference model: its pages are interchangeable (one
 * order, no addresses) and so are its vCPUs. A state's canonical form sorts
 * the vCPUs by what they are doing and the pages they hold, then the pages
 * by owner (in the vCPUs' new order), by being the page a vCPU works on, and
 * by their own fields; the references between them (a page's owner, a
 * vCPU's page, the lock's owner) are renamed to match. vCPUs with the same
 * key hold pages with the same fields, so any order among them gives the
 * same form: the form is one per class. The class size is
 * pages! * cpus! / |automorphisms|, the automorphisms being the swaps of
 * equal vCPUs (with their pages) and of equal pages.
 */
export function spinSymmetry(m: Model): { canon: (s: State) => void; orbit: (s: State) => number } {
  const L = m.layout;
  const cfg = m.cfg;
  const N = cfg.pages;
  const C = cfg.cpus;
  const ps = L.at('pages', 'state');
  const rep = L.at('pages', 'reported');
  const con = L.at('pages', 'content');
  const mp = L.at('pages', 'mapped');
  const inb = L.at('pages', 'inb');
  const lock = L.at('zone', 'lock');
  const pc = L.at('cpus', 'pc');
  const pp = L.at('cpus', 'p');
  const KEY = N + 2;
  // Scratch, private to the canonicaliser: keys and orders, reused for every state.
  const cpuKey = new Int32Array(C * KEY);
  const cpuOrder = new Int32Array(C);
  const cpuRank = new Int32Array(C);
  const pageKey = new Float64Array(N);
  const pageOrder = new Int32Array(N);
  const pageRank = new Int32Array(N);
  const tmp = new Uint8Array(N * 5 + C * 2);
  const holdsP = (s: State, c: number): boolean => s[pc + c] === A1 || s[pc + c] === A2 || s[pc + c] === A3 || s[pc + c] === F1;
  /** Page fields that do not name a vCPU or a page, packed in 6 bits. */
  const attrs = (s: State, k: number): number => (s[rep + k] << 4) | (s[con + k] << 2) | (s[mp + k] << 1) | s[inb + k];
  const cmpCpu = (x: number, y: number): number => {
    for (let i = 0; i < KEY; i++) {
      const d = cpuKey[x * KEY + i] - cpuKey[y * KEY + i];
      if (d !== 0) return d;
    }
    return 0;
  };

  const keys = (s: State): void => {
    for (let c = 0; c < C; c++) {
      const o = c * KEY;
      cpuKey[o] = s[pc + c];
      cpuKey[o + 1] = s[lock] === c + 1 ? 1 : 0;
      // The pages the vCPU holds, largest key first: (is its working page, fields).
      let n = 0;
      for (let k = 0; k < N; k++) {
        if (s[ps + k] !== c) continue;
        const v = ((holdsP(s, c) && s[pp + c] === k ? 1 : 0) << 6) | attrs(s, k);
        let j = n++;
        while (j > 0 && cpuKey[o + 2 + j - 1] < v) {
          cpuKey[o + 2 + j] = cpuKey[o + 2 + j - 1];
          j--;
        }
        cpuKey[o + 2 + j] = v;
      }
      for (let j = n; j < N; j++) cpuKey[o + 2 + j] = -1;
    }
    for (let c = 0; c < C; c++) {
      let j = c;
      while (j > 0 && cmpCpu(cpuOrder[j - 1], c) > 0) {
        cpuOrder[j] = cpuOrder[j - 1];
        j--;
      }
      cpuOrder[j] = c;
    }
    for (let r = 0; r < C; r++) cpuRank[cpuOrder[r]] = r;
    for (let k = 0; k < N; k++) {
      const owner = s[ps + k];
      const group = owner < C ? cpuRank[owner] : owner; // FREE = C, ISO = C + 1 sort after every vCPU
      const isP = owner < C && holdsP(s, owner) && s[pp + owner] === k ? 1 : 0;
      pageKey[k] = (group * 2 + isP) * 64 + attrs(s, k);
      let j = k;
      while (j > 0 && pageKey[pageOrder[j - 1]] > pageKey[k]) {
        pageOrder[j] = pageOrder[j - 1];
        j--;
      }
      pageOrder[j] = k;
    }
    for (let r = 0; r < N; r++) pageRank[pageOrder[r]] = r;
  };

  const canon = (s: State): void => {
    keys(s);
    for (let r = 0; r < N; r++) {
      const k = pageOrder[r];
      const owner = s[ps + k];
      tmp[r] = owner < C ? cpuRank[owner] : owner;
      tmp[N + r] = s[rep + k];
      tmp[2 * N + r] = s[con + k];
      tmp[3 * N + r] = s[mp + k];
      tmp[4 * N + r] = s[inb + k];
    }
    for (let r = 0; r < C; r++) {
      const c = cpuOrder[r];
      tmp[5 * N + r] = s[pc + c];
      tmp[5 * N + C + r] = holdsP(s, c) ? pageRank[s[pp + c]] : s[pp + c];
    }
    for (let r = 0; r < N; r++) {
      s[ps + r] = tmp[r];
      s[rep + r] = tmp[N + r];
      s[con + r] = tmp[2 * N + r];
      s[mp + r] = tmp[3 * N + r];
      s[inb + r] = tmp[4 * N + r];
    }
    for (let r = 0; r < C; r++) {
      s[pc + r] = tmp[5 * N + r];
      s[pp + r] = tmp[5 * N + C + r];
    }
    const l = s[lock];
    if (l >= 1 && l <= C) s[lock] = cpuRank[l - 1] + 1;
  };

  const total = factorial(N) * factorial(C);
  const orbit = (s: State): number => {
    keys(s);
    let aut = 1;
    for (let r = 0; r < C; ) {
      let e = r + 1;
      while (e < C && cmpCpu(cpuOrder[r], cpuOrder[e]) === 0) e++;
      aut *= factorial(e - r);
      r = e;
    }
    for (let r = 0; r < N; ) {
      let e = r + 1;
      while (e < N && pageKey[pageOrder[e]] === pageKey[pageOrder[r]]) e++;
      aut *= factorial(e - r);
      r = e;
    }
    return total / aut;
  };

  return { canon, orbit };
}
