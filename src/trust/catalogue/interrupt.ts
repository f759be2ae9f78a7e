// Interrupt-layer violations: interrupts a device raises when it must not
// (before DRIVER_OK, after a reset), storms, and config-change interrupts.
// The guest access (src/drivers/transport-access.ts) counts each in its
// AccessCounters; none fails an operation: the interrupt is ignored, the line
// disabled and polled, or the config work deferred, as Linux does.
import type { Violation } from './types.js';

const RING = 'drivers/virtio/virtio_ring.c';

export const interruptViolations: readonly Violation[] = [
  {
    id: 'IRQ_NOT_READY',
    side: 'device',
    layer: 'interrupt',
    severity: 'high',
    handling: 'clamp',
    summary:
      'a used-buffer interrupt before DRIVER_OK or after a reset: ignored, counted in irqNotReady (the callback would run on a queue that is not live)',
    message: 'virtio vring IRQ raised before DRIVER_OK',
    source: `vring_interrupt with CONFIG_VIRTIO_HARDEN_NOTIFICATION, ${RING}`,
  },
  {
    id: 'IRQ_STORM',
    side: 'device',
    layer: 'interrupt',
    severity: 'medium',
    handling: 'clamp',
    summary:
      'an interrupt storm: more than 99,900 of 100,000 interrupts unhandled; the line is disabled (irqLineDisabled) and the driver polls',
    message: 'irq %d: nobody cared (try booting with the "irqpoll" option)',
    source: 'note_interrupt / __report_bad_irq, kernel/irq/spurious.c',
  },
  {
    id: 'CONFIG_IRQ_STORM',
    side: 'device',
    layer: 'interrupt',
    severity: 'medium',
    handling: 'clamp',
    summary:
      'config-change interrupts without end, even from inside the config read the handler does: the work runs out of the interrupt, once per pending change, at most 64 runs in a row (configWorkThrottled)',
    message: 'none: config_work is queued once (schedule_work on a pending work is a no-op)',
    source: 'virtio_config_changed / __virtio_config_changed, drivers/virtio/virtio.c',
  },
];
