// Keys of the protection layers, derived from one master secret with HKDF
// (RFC 5869, SHA-256), one label per use, as TLS 1.3's key schedule derives
// a key and an IV per direction (RFC 8446 §7.3) and as cryptsetup derives
// the dm-crypt and dm-integrity keys from the volume key. The master secret
// is what attestation or a key exchange would hand the guest; here it is
// given, or derived from a seed so that tests and attack scenarios replay.
import { createHash, hkdfSync } from 'node:crypto';
import { ConfigError } from '../../errors.js';

/** A master secret of 32 bytes, from `seed` (deterministic: tests, scenarios, benchmarks). */
export function masterFromSeed(seed: number): Uint8Array {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new ConfigError(`protect seed ${String(seed)}: must be a whole number from 0 to 4294967295`);
  }
  return new Uint8Array(createHash('sha256').update(`vqsim protect master ${seed}`).digest());
}

/** HKDF-Expand of `master` for `label`: `bytes` bytes. */
export function deriveKey(master: Uint8Array, label: string, bytes: number): Uint8Array {
  if (master.length < 16) throw new ConfigError(`protect master secret of ${master.length} bytes: at least 16`);
  return new Uint8Array(hkdfSync('sha256', master, new Uint8Array(0), `vqsim ${label}`, bytes));
}
