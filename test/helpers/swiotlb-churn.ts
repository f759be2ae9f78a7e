// Random map/unmap traffic on a swiotlb pool from one thread (one CPU), for
// the test of two threads sharing a pool: each mapping's bounce bytes are
// stamped with a tag the thread checks before unmapping, so two threads ever
// holding the same slot shows as a broken stamp.
import { Swiotlb, SwiotlbFullError } from '../../src/dma/swiotlb.js';
import { DmaDirection } from '../../src/dma/types.js';
import { rng } from './ring.js';

export interface ChurnResult {
  maps: number;
  full: number;
  /** Mappings whose stamp another mapping overwrote. */
  broken: number;
}

export function churn(sw: Swiotlb, cpu: number, ops: number, seed: number, orig: number): ChurnResult {
  const mem = sw.mem;
  const r = rng(seed);
  const live: { addr: number; size: number; tag: number }[] = [];
  const out: ChurnResult = { maps: 0, full: 0, broken: 0 };
  const check = (m: { addr: number; size: number; tag: number }) => {
    const at = mem.linear(m.addr, m.size);
    for (let k = 0; k < m.size; k++) {
      if (mem.bytes[at + k] !== m.tag) {
        out.broken++;
        return;
      }
    }
  };
  for (let i = 0; i < ops; i++) {
    if (live.length < 16 && (live.length === 0 || r() < 0.55)) {
      const size = 1 + Math.floor(r() * 8000);
      let addr: number;
      try {
        addr = sw.map(orig, size, { cpu, dir: DmaDirection.TO_DEVICE });
      } catch (e) {
        if (!(e instanceof SwiotlbFullError)) throw e;
        out.full++;
        continue;
      }
      const tag = 1 + ((cpu * 97 + i) % 255);
      mem.fill(addr, size, tag);
      live.push({ addr, size, tag });
      out.maps++;
    } else {
      const [m] = live.splice(Math.floor(r() * live.length), 1);
      check(m!);
      sw.unmap(m!.addr, m!.size, { cpu, dir: DmaDirection.TO_DEVICE });
    }
  }
  for (const m of live) {
    check(m);
    sw.unmap(m.addr, m.size, { cpu, dir: DmaDirection.TO_DEVICE });
  }
  return out;
}
