/**
 * D3c/D3d's disabling thread: v11's page_hinting_disable() (cancel the
 * work, then free the config and the bitmaps with no lock and no RCU) and
 * v12's page_reporting_disable() (unpublish the config, synchronize_rcu(),
 * cancel the work, then free the bitmaps).
 */
import type { StepSpec } from '../../design-api.js';
import type { State } from '../../types.js';
import { bitCount, ENQUEUE, type BitmapKit, type BitmapOptions } from './bitmap-kit.js';

/** v11 page_hinting_disable(): cancel_work_sync() dequeues the work or waits for the running pass; no lock. */
function cancelWorkSync(k: BitmapKit): StepSpec {
  const { at, phase } = k;
  return {
    name: 'cancel_work_sync',
    kernel: 'page_hinting_disable(): cancel_work_sync(&hinting_work); no lock',
    /** page_hinting_disable(): cancel_work_sync() dequeues the work or waits for the running pass; no lock. */
    apply: (s: State) => {
      if (s[at.worker.phase] !== phase.worker.idle) return false;
      s[at.worker.pending] = 0;
      s[at.disabler.phase] = phase.disabler.cancelled;
      return true;
    },
  };
}

/** v12 page_reporting_disable(): RCU_INIT_POINTER(page_reporting_conf, NULL); page_reporting_mutex. */
function pageReportingDisable(k: BitmapKit): StepSpec {
  const { at, phase } = k;
  return {
    name: 'page_reporting_disable',
    kernel: 'page_reporting_disable(): RCU_INIT_POINTER(page_reporting_conf, NULL); page_reporting_mutex',
    /** page_reporting_disable(), page_reporting_mutex: unpublish the config, so enqueues from now on return at once. */
    apply: (s: State) => {
      s[at.disabler.phase] = phase.disabler.unpublished;
      return true;
    },
  };
}

/** v12 page_reporting_disable(): synchronize_rcu(), then cancel_work_sync(); no zone lock. */
function synchronizeRcu(k: BitmapKit): StepSpec {
  const { m, cfg, at, phase } = k;
  return {
    name: 'synchronize_rcu',
    kernel: 'page_reporting_disable(): synchronize_rcu(), then cancel_work_sync(&phconf->reporting_work)',
    /** page_reporting_disable(): synchronize_rcu() waits out every enqueue in rcu_read_lock(), then cancel_work_sync(); no zone lock. */
    apply: (s: State) => {
      for (let c = 0; c < cfg.cpus; c++) if (s[m.f.vPhase + c] === ENQUEUE) return false;
      if (s[at.worker.phase] !== phase.worker.idle) return false;
      s[at.worker.pending] = 0;
      s[at.disabler.phase] = phase.disabler.cancelled;
      return true;
    },
  };
}

/** The bitmaps freed, with free_pages: the step of either version that does it; no lock. */
function freeBitmaps(k: BitmapKit, v: BitmapOptions, name: string, kernel: string): StepSpec {
  const { at, phase } = k;
  const nbits = bitCount(v, k.cfg);
  return {
    name,
    kernel,
    /** free_area_cleanup() / zone_reporting_cleanup(): the bitmaps are freed (v11: with the config, and nothing keeps out an enqueue past its check); no lock. */
    apply: (s: State) => {
      for (let b = 0; b < nbits; b++) s[at.bitmap.bits + b] = 0;
      s[at.bitmap.freePages] = 0;
      s[at.disabler.phase] = phase.disabler.disabled;
      return true;
    },
  };
}

/** v11 page_hinting_disable(): page_hitning_conf = NULL, free_area_cleanup(); no lock, no RCU. */
function pageHintingDisable(k: BitmapKit, v: BitmapOptions): StepSpec {
  return freeBitmaps(
    k,
    v,
    'page_hinting_disable',
    'page_hinting_disable(): page_hitning_conf = NULL; free_area_cleanup(): bitmap_free(), nbits = 0, free_pages = 0; no lock, no RCU',
  );
}

/** v12 zone_reporting_cleanup(), from page_reporting_disable(); no lock. */
function zoneReportingCleanup(k: BitmapKit, v: BitmapOptions): StepSpec {
  return freeBitmaps(
    k,
    v,
    'zone_reporting_cleanup',
    'page_reporting_disable(): kfree(phconf->sg); zone_reporting_cleanup(): bitmap_free(), zone->bitmap = NULL, free_pages = 0',
  );
}

/** The disabler's steps per phase, v11's or v12's. */
export function disablerSteps(k: BitmapKit, v: BitmapOptions) {
  if (v.v12) {
    return {
      enabled: [pageReportingDisable(k)],
      unpublished: [synchronizeRcu(k)],
      cancelled: [zoneReportingCleanup(k, v)],
      disabled: [],
    };
  }
  return {
    enabled: [cancelWorkSync(k)],
    unpublished: [],
    cancelled: [pageHintingDisable(k, v)],
    disabled: [],
  };
}
