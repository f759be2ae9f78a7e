// Errors of the end-to-end protection layers (src/trust/protect): what the
// guest's record layer (net) and sector crypt layer (blk) find when the
// device hands back bytes the guest did not seal. The side is always the
// device: on this path nobody else holds the data between seal and open.
import { VqsimError } from '../../errors.js';

/**
 * A protected payload failed its check on the guest side. Codes:
 *
 * - PROTECT_RECORD_LENGTH: a record whose header is not one the sender
 *   writes (type, version) or whose length field disagrees with the frame
 *   (truncated or padded by the device).
 * - PROTECT_RECORD_AUTH: the AES-GCM tag does not verify (a byte of the
 *   header, ciphertext or tag changed): TLS's bad_record_mac.
 * - PROTECT_RECORD_REPLAY: an authentic record whose sequence number was
 *   already delivered (replayed, or reordered behind a later one).
 * - PROTECT_RECORD_GAP: an authentic record whose sequence number is past
 *   the next one expected (a record dropped, or reordered ahead).
 * - PROTECT_SECTOR_INTEGRITY: a sector whose tag does not verify for its
 *   sector number and the guest's write counter (changed or moved data).
 * - PROTECT_SECTOR_REPLAY: an authentic but stale sector: the tag verifies
 *   for an older write counter than the guest's (an old write served again).
 */
export class ProtectError extends VqsimError {
  constructor(code: string, message: string) {
    super(code, message, 'device');
    this.name = 'ProtectError';
  }
}
