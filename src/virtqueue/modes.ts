// The trust modes of a queue face (issue #10, ring points): whether its
// checks run (`hardened`), whether device-supplied indices are masked after
// their check (`nospec`), and where used.len is checked (`usedLenCheck`).
// They reach the engine as QF_* bits in the face's feature word.
import * as L from '../../assembly/layout.js';
import { ConfigError } from '../errors.js';

/**
 * Where a driver checks a used element's len against what it posted:
 * 'driver' (default) leaves it to the device drivers, as Linux since 5.16
 * (f124034faa91 reverted the ring-level check); 'ring' checks it in the reap
 * against the chain's writable bytes kept in desc_state, as Linux
 * 939779f5152d did ("used len %d is larger than in buflen %u").
 */
export type UsedLenCheck = 'driver' | 'ring';

export interface TrustModeOptions {
  /**
   * False: the face runs without its trust checks, as a pre-hardening
   * driver or an unchecked device model (the naive side of an attack). The
   * simulator itself stays inside the queue's areas. Default true.
   */
  hardened?: boolean;
  /** Mask every index the other side supplies after its bounds check (array_index_nospec). Default false. */
  nospec?: boolean;
  /** Driver faces only; see UsedLenCheck. Default 'driver'. */
  usedLenCheck?: UsedLenCheck;
}

/**
 * The QF_* mode bits for a face. The reference model has every check and no
 * naive mode (it is the oracle the Wasm core is held against): asking it for
 * hardened: false is a ConfigError. nospec changes nothing it computes (an
 * index masked after its check is the same index), so it takes the bit.
 */
export function modeFlags(o: TrustModeOptions, reference: boolean, where: string): number {
  const hardened = o.hardened ?? true;
  if (typeof hardened !== 'boolean')
    throw new ConfigError(`${where}: hardened ${String(hardened)}: must be true or false`);
  if (o.nospec !== undefined && typeof o.nospec !== 'boolean') {
    throw new ConfigError(`${where}: nospec ${String(o.nospec)}: must be true or false`);
  }
  const lenCheck = o.usedLenCheck ?? 'driver';
  if (lenCheck !== 'driver' && lenCheck !== 'ring') {
    throw new ConfigError(`${where}: usedLenCheck ${String(lenCheck)}: must be driver or ring`);
  }
  if (!hardened && reference) {
    throw new ConfigError(`${where}: hardened false needs engine wasm (the reference model is the hardened oracle)`);
  }
  return (
    (hardened ? 0 : L.QF_NAIVE) |
    (o.nospec ? L.QF_NOSPEC : 0) |
    (lenCheck === 'ring' ? L.QF_USED_LEN_RING : 0) |
    (STORES_ORDERED ? L.QF_STORE_ORDERED : 0)
  );
}

/**
 * Whether this CPU keeps stores in program order (x86 and x86-64: total store
 * order), so the Wasm core may publish ring indices and flags with plain
 * stores (see QF_STORE_ORDERED). Anywhere else, or where it cannot tell (a
 * browser), every publish stays a seq-cst atomic store.
 */
export const STORES_ORDERED = typeof process !== 'undefined' && (process.arch === 'x64' || process.arch === 'ia32');
