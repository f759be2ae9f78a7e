// Protection-layer violations: what the guest's end-to-end protection
// (src/trust/protect) finds when the device hands back payload bytes the
// guest did not seal. The device commits them; without protection the same
// lies go through unseen (a frame or a sector altered, replayed or dropped).
import type { Violation } from './types.js';

export const protectViolations: readonly Violation[] = [
  {
    id: 'PROTECT_RECORD_LENGTH',
    side: 'device',
    layer: 'protect',
    severity: 'high',
    handling: 'break',
    summary: 'a received record whose header or length is not what the sender wrote (a truncated or padded frame)',
    message: 'decode_error: record length does not match its frame',
    source: 'tls_rx_msg_size, net/tls/tls_strp.c (RFC 8446 §5.1)',
  },
  {
    id: 'PROTECT_RECORD_AUTH',
    side: 'device',
    layer: 'protect',
    severity: 'critical',
    handling: 'break',
    summary: 'a received record whose AES-GCM tag does not verify (a byte of the frame altered)',
    message: 'bad_record_mac: record failed authentication',
    source: 'tls_decrypt_sg, net/tls/tls_sw.c (RFC 8446 §5.2)',
  },
  {
    id: 'PROTECT_RECORD_REPLAY',
    side: 'device',
    layer: 'protect',
    severity: 'high',
    handling: 'break',
    summary: 'an authentic record delivered again, or behind a later one (replay or reorder)',
    message: 'record replayed: sequence number already delivered',
    source: 'dtls1_record_replay_check, ssl/record/rec_layer_d1.c (RFC 9147 §4.5.1)',
  },
  {
    id: 'PROTECT_RECORD_GAP',
    side: 'device',
    layer: 'protect',
    severity: 'high',
    handling: 'break',
    summary: 'an authentic record past the next sequence number (a frame dropped, or reordered ahead)',
    message: 'record sequence gap: records dropped or reordered',
    source: 'tls_sw_recvmsg, net/tls/tls_sw.c (implicit sequence number, RFC 8446 §5.3)',
  },
  {
    id: 'PROTECT_SECTOR_INTEGRITY',
    side: 'device',
    layer: 'protect',
    severity: 'critical',
    handling: 'fail',
    summary: "a sector read whose integrity tag does not verify for its sector number and the guest's write counter",
    message: 'device-mapper: integrity: Checksum failed at sector 0x%llx',
    source: 'integrity_metadata, drivers/md/dm-integrity.c',
  },
  {
    id: 'PROTECT_SECTOR_REPLAY',
    side: 'device',
    layer: 'protect',
    severity: 'high',
    handling: 'fail',
    summary: 'a sector read that returns an older write, with its genuine old tag (rollback)',
    message: 'integrity: stale sector: tag verifies only for an older write counter',
    source: 'vqsim freshness counter (dm-integrity keeps none; cf. dm-verity root hash, drivers/md/dm-verity-target.c)',
  },
];
