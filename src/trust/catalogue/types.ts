// The shape of one entry of the violation catalogue: what a side can do
// wrong across the trust boundary, as data. Checks raise VqsimErrors whose
// `code` is an entry's id and whose `side` is the entry's side; the catalogue
// is how `vqsim attack --list`, the README table, the policy and the attack
// runner learn about them, so they all come from one source.

/** Who commits the violation (VqsimError's `side`). */
export type ViolationSide = 'driver' | 'device';

/** Where the lie crosses the boundary. */
export type ViolationLayer = 'ring' | 'transport' | 'config' | 'device' | 'dma' | 'interrupt' | 'protect';

/**
 * What an unchecked violation costs the victim, worst first:
 * - 'critical': confidentiality or integrity of memory outside the attacker's
 *   own buffers (a read of private memory, a write through a freed buffer).
 * - 'high': the victim corrupts its own state or data (a length past the
 *   buffer, a completion for a buffer never popped, a lost write).
 * - 'medium': denial of service (a hang, a livelock, unbounded allocation).
 * - 'low': a protocol breach a correct peer tolerates (a value clamped).
 */
export type ViolationSeverity = 'critical' | 'high' | 'medium' | 'low';

/**
 * What the hardened side does when it finds the violation:
 * - 'break': the queue or device is marked broken (BAD_RING, virtio_error)
 *   and the operation fails with the named error.
 * - 'fail': the operation (probe, request, read) fails with the named error;
 *   the queue stays usable.
 * - 'clamp': the value is corrected (clamped, masked, ignored) and counted.
 */
export type ViolationHandling = 'break' | 'fail' | 'clamp';

export interface Violation {
  /** The code the check raises (VqsimError.code), or the counter it bumps for 'clamp'. */
  readonly id: string;
  readonly side: ViolationSide;
  readonly layer: ViolationLayer;
  readonly severity: ViolationSeverity;
  readonly handling: ViolationHandling;
  /** One line: the lie, in the victim's words. */
  readonly summary: string;
  /** The message Linux, QEMU or vhost prints for it (vqsim prints the same). */
  readonly message: string;
  /** The function and file it follows (`virtqueue_get_buf_ctx_split, drivers/virtio/virtio_ring.c`). */
  readonly source: string;
}
