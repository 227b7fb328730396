/**
 * D5's host: QEMU's virtio_balloon_handle_report() (hw/virtio/virtio-balloon.c)
 * on the reporting virtqueue, the discard of every entry and the ack that
 * lets prdev->report() return. No guest lock is taken.
 */
import type { StepSpec } from '../../design-api.js';
import { HINTED, landDiscards } from '../../host.js';
import type { PageReportingParts, ReporterKit } from './kit.js';

/** virtio_balloon_handle_report(): ram_block_discard_range() of every entry, then virtqueue_push() and notify; no guest lock. */
export function virtioBalloonHandleReport(k: ReporterKit): StepSpec[] {
  const { m, at, is } = k;
  return [
    {
      name: 'virtio_balloon_handle_report',
      kernel: 'virtio_balloon_handle_report(): ram_block_discard_range(), then push and notify',
      pre: () => ({ at: at.reporter.vq, is: is.reporter.vq.posted }),
      apply: (s) => {
        if (s[at.reporter.vq] !== is.reporter.vq.posted) return false;
        landDiscards(m, s, HINTED);
        s[at.reporter.vq] = is.reporter.vq.done;
        s[m.f.evServed] = k.actor.reporter + 1;
        return true;
      },
    },
  ];
}

/** The host's steps: the device part in place (upstream, virtio_balloon_handle_report()). */
export function hostSteps(k: ReporterKit, parts: PageReportingParts): StepSpec[] {
  return parts.host(k);
}
