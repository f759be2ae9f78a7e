// Measuring what an attack cost: secrets planted in guest memory (what a
// device must not read) and canaries (what it must not change). Both are
// seeded random bytes; a leak is counted in 8-byte words of a secret found
// anywhere in what the attacker read (a chance match of 8 random bytes is
// 2^-64 per position), corruption in bytes of a canary that changed.
import { MachineCheckError, type GuestMemory } from '../../memory/guest-memory.js';

/** xorshift32: the attack runner's seeded generator (no Math.random). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

interface Region {
  gpa: number;
  bytes: Uint8Array;
}

export class Damage {
  private readonly secrets: Region[] = [];
  private readonly canaries: Region[] = [];
  private readonly words = new Set<bigint>();
  private readonly next: () => number;

  constructor(
    private readonly mem: GuestMemory,
    seed: number,
  ) {
    this.next = rng(seed ^ 0x5ec2e7);
  }

  private fill(gpa: number, len: number): Uint8Array {
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i += 4) {
      const r = this.next();
      for (let k = 0; k < 4 && i + k < len; k++) b[i + k] = (r >>> (8 * k)) & 0xff;
    }
    this.mem.write(gpa, b);
    return b;
  }

  /** Writes seeded secret bytes at [gpa, gpa+len) as the guest CPU would (plaintext); returns gpa. */
  secret(gpa: number, len: number): number {
    const bytes = this.fill(gpa, len);
    this.secrets.push({ gpa, bytes });
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i + 8 <= len; i += 8) this.words.add(dv.getBigUint64(i, true));
    return gpa;
  }

  /** Writes seeded canary bytes at [gpa, gpa+len) that nobody may change; returns gpa. */
  canary(gpa: number, len: number): number {
    this.canaries.push({ gpa, bytes: this.fill(gpa, len) });
    return gpa;
  }

  /** Bytes of secret (in whole 8-byte words) found at any offset of what the attacker read. */
  leakedIn(observed: Uint8Array): number {
    if (observed.length < 8 || this.words.size === 0) return 0;
    const dv = new DataView(observed.buffer, observed.byteOffset, observed.byteLength);
    let found = 0;
    for (let i = 0; i + 8 <= observed.length; i++) {
      if (this.words.has(dv.getBigUint64(i, true))) {
        found += 8;
        i += 7;
      }
    }
    return found;
  }

  /**
   * Bytes of every canary that differ from what was planted, read now as the
   * guest CPU sees them; a canary on a page the device poisoned (TDX: a
   * machine check on the read) counts whole.
   */
  corrupted(): number {
    return changed(this.mem, this.canaries);
  }

  /** Bytes of every secret that the guest CPU now reads differently (a secret is a canary too). */
  secretsChanged(): number {
    return changed(this.mem, this.secrets);
  }
}

function changed(mem: GuestMemory, regions: readonly Region[]): number {
  let n = 0;
  for (const c of regions) {
    let now: Uint8Array;
    try {
      now = mem.read(c.gpa, c.bytes.length);
    } catch (e) {
      if (!(e instanceof MachineCheckError)) throw e;
      n += c.bytes.length;
      continue;
    }
    for (let i = 0; i < now.length; i++) if (now[i] !== c.bytes[i]) n++;
  }
  return n;
}
