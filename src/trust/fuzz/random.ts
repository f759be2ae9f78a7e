// The fuzzer's seeded randomness. Every iteration draws from its own
// generator, seeded from (seed, iteration) alone, so a failing iteration
// replays by itself (`vqsim fuzz --seed S --iteration I`) without running the
// ones before it. The generator is the attack runner's xorshift32 (damage.ts).
import { rng } from '../attack/damage.js';

/** murmur3's fmix32 over seed and iteration: neighbouring iterations get unrelated streams. */
export function iterationSeed(seed: number, iteration: number): number {
  let h = (seed >>> 0) ^ Math.imul(iteration >>> 0, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A seeded stream of integers and choices. */
export class FuzzRandom {
  private readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = rng(seed);
  }
  /** 32 random bits. */
  u32(): number {
    return this.next() >>> 0;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor((this.u32() / 2 ** 32) * (hi - lo + 1));
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
  /** A value a liar likes: 0, all ones, just past a bound, or anything. */
  lie(bound: number, bits: 8 | 16 | 32 = 32): number {
    const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
    switch (this.int(0, 5)) {
      case 0:
        return 0;
      case 1:
        return mask >>> 0;
      case 2:
        return (bound & mask) >>> 0;
      case 3:
        return ((bound + this.int(1, 4)) & mask) >>> 0;
      case 4:
        return ((bound - 1) & mask) >>> 0;
      default:
        return (this.u32() & mask) >>> 0;
    }
  }
  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const r = this.u32();
      for (let k = 0; k < 4 && i + k < n; k++) b[i + k] = (r >>> (8 * k)) & 0xff;
    }
    return b;
  }
}
