import { describe, expect, it } from 'vitest';
import * as vqsim from '../../src/internal.js';
import { createMachine, type Machine } from '../../src/internal.js';
import { Damage, rng } from '../../src/trust/attack/damage.js';
import { violationOf } from '../../src/trust/catalogue/index.js';
import {
  GROUP_BYTES,
  GROUP_DEVICE_BYTES,
  masterFromSeed,
  ProtectedNet,
  ProtectError,
  RECORD_OVERHEAD,
  RecordOpener,
  RecordSealer,
  recordKeys,
  SectorCrypt,
} from '../../src/trust/protect/index.js';
import { BlkStatus } from '../../src/spec/blk.js';

const SEED = 0x11;
const MAX_FRAME = 65536 - 12 - 18;

function bytes(seed: number, n: number): Uint8Array {
  const next = rng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = next() & 0xff;
  return b;
}

/** The error `f` throws, as a ProtectError (fails the test otherwise). */
function caught(f: () => unknown): ProtectError {
  try {
    f();
  } catch (e) {
    if (e instanceof ProtectError) return e;
    throw e;
  }
  throw new Error('expected a ProtectError, nothing was thrown');
}

function netMachine(deployment: 'traditional' | 'cvm', packetBytes: number): Machine {
  return createMachine({ deployment, seed: SEED, devices: [{ kind: 'net', packetBytes, queueSize: 64 }] });
}

describe('record layer: seal and open', () => {
  const keys = recordKeys(masterFromSeed(SEED), 'a-to-b');

  it('opens what it sealed, in order, and counts sequence numbers', () => {
    const s = new RecordSealer(keys);
    const o = new RecordOpener(keys);
    for (const n of [1, 15, 16, 1500, 65503]) {
      const p = bytes(n, n);
      const r = s.seal(p);
      expect(r.length).toBe(n + RECORD_OVERHEAD);
      expect(o.open(r)).toEqual(p);
    }
    expect(s.seq).toBe(5);
    expect(o.expected).toBe(5);
  });

  it('names an alteration, a replay, a drop and a truncation, and stays closed after one', () => {
    const cases: [string, (r: Uint8Array[]) => Uint8Array[]][] = [
      ['PROTECT_RECORD_AUTH', (r) => [r[0]!.map((b, i) => (i === 40 ? b ^ 1 : b))]],
      ['PROTECT_RECORD_AUTH', (r) => [r[0]!.map((b, i) => (i === 15 ? b ^ 1 : b))]], // sequence field
      ['PROTECT_RECORD_REPLAY', (r) => [r[0]!, r[0]!]],
      ['PROTECT_RECORD_GAP', (r) => [r[1]!]],
      ['PROTECT_RECORD_LENGTH', (r) => [r[0]!.subarray(0, 100)]],
      ['PROTECT_RECORD_LENGTH', () => [new Uint8Array(10)]],
    ];
    for (const [code, lie] of cases) {
      const s = new RecordSealer(keys);
      const o = new RecordOpener(keys);
      const sent = [s.seal(bytes(1, 200)), s.seal(bytes(2, 200))];
      const got = lie(sent);
      const e = caught(() => got.forEach((r) => o.open(r)));
      expect(e.code, code).toBe(code);
      expect(violationOf(e)?.id).toBe(code);
      expect(violationOf(e)?.side).toBe('device');
      // Closed: even the next genuine record is refused with the same error.
      expect(caught(() => o.open(sent[1]!))).toBe(e);
    }
  });

  it('keys differ per direction and per master', () => {
    const ab = recordKeys(masterFromSeed(SEED), 'a-to-b');
    const ba = recordKeys(masterFromSeed(SEED), 'b-to-a');
    const other = recordKeys(masterFromSeed(SEED + 1), 'a-to-b');
    const r = new RecordSealer(ab).seal(bytes(3, 64));
    expect(caught(() => new RecordOpener(ba).open(r)).code).toBe('PROTECT_RECORD_AUTH');
    expect(caught(() => new RecordOpener(other).open(r)).code).toBe('PROTECT_RECORD_AUTH');
  });
});

describe('record layer over virtio-net', () => {
  for (const deployment of ['traditional', 'cvm'] as const) {
    for (const placement of ['zero-copy', 'bounce'] as const) {
      it(`${deployment}, ${placement}: payloads of several sizes make the round trip, the device sees no plaintext`, () => {
        // The largest frame a TX buffer takes: 64 KiB less the virtio header and 18 bytes of Ethernet framing.
        const sizes = [1, 64, 1500 - RECORD_OVERHEAD, 9000, MAX_FRAME - RECORD_OVERHEAD];
        const m = netMachine(deployment, MAX_FRAME);
        const net = m.net();
        const pn = new ProtectedNet(net.driver, net.dma, { seed: SEED, placement });
        expect(pn.zeroCopy).toBe(deployment === 'cvm' && placement === 'zero-copy');
        const damage = new Damage(m.mem, SEED);
        const before = net.dma.counters().syncsForDevice;
        const dv = net.dma.deviceView();
        let leaked = 0;
        for (const n of sizes) {
          const src = damage.secret(m.mem.alloc(n), n);
          const payload = m.mem.read(src, n);
          // One at a time: a 64 KiB frame takes 43 of the 64 mergeable RX buffers.
          for (let rep = 0; rep < 2; rep++) {
            expect(pn.send(0, [payload])).toBe(1);
            // What the device read: each TX buffer it was handed, through its own DMA view.
            const p = net.driver.pairs[0]!;
            for (const d of p.txSlots.dma) leaked += damage.leakedIn(dv.read(d, 12 + n + RECORD_OVERHEAD));
            expect(net.driver.reapTx(0)).toBe(1);
            const got = pn.receive(0);
            expect(got.length).toBe(1);
            expect(got[0]).toEqual(payload);
          }
        }
        expect(leaked).toBe(0);
        expect(pn.counters.sealed).toBe(10);
        expect(pn.counters.opened).toBe(10);
        expect(pn.counters.sealedInPlace).toBe(pn.zeroCopy ? 10 : 0);
        // Zero copy posts with no dma_sync_single_for_device; the bounce placement syncs each frame.
        const syncs = net.dma.counters().syncsForDevice - before;
        expect(syncs).toBe(deployment === 'cvm' && placement === 'bounce' ? 10 : 0);
        m.close();
      });
    }
  }

  it('without protection the same device reads the plaintext (the measure above can see a leak)', () => {
    const m = netMachine('cvm', 1500);
    const net = m.net();
    const damage = new Damage(m.mem, SEED);
    const src = damage.secret(m.mem.alloc(1024), 1024);
    net.driver.send(0, [m.mem.read(src, 1024)]);
    const dv = net.dma.deviceView();
    let leaked = 0;
    for (const d of net.driver.pairs[0]!.txSlots.dma) leaked += damage.leakedIn(dv.read(d, 12 + 1024));
    expect(leaked).toBe(1024);
    m.close();
  });

  it('a frame the device alters in the RX buffer fails the receiver with PROTECT_RECORD_AUTH', () => {
    const m = netMachine('cvm', 1500);
    const net = m.net();
    const pn = new ProtectedNet(net.driver, net.dma, { seed: SEED });
    pn.send(0, [bytes(4, 1000)]);
    net.driver.reapTx(0);
    // The device flips a byte of the ciphertext in every RX buffer that holds a record.
    const dv = net.dma.deviceView();
    let altered = 0;
    for (const d of net.driver.pairs[0]!.rxSlots.dma) {
      const b = dv.read(d, 12 + 17);
      if (b[12] === 0x17 && b[13] === 1) {
        dv.write(d + 12 + 16, new Uint8Array([b[12 + 16]! ^ 0x80]));
        altered++;
      }
    }
    expect(altered).toBe(1);
    expect(caught(() => pn.receive(0)).code).toBe('PROTECT_RECORD_AUTH');
    expect(pn.counters.opened).toBe(0);
    m.close();
  });
});

describe('sector crypt layer over virtio-blk', () => {
  function blkMachine(deployment: 'traditional' | 'cvm'): Machine {
    return createMachine({ deployment, seed: SEED, devices: [{ kind: 'blk', capacityBytes: 1 << 20, queueSize: 64 }] });
  }

  for (const deployment of ['traditional', 'cvm'] as const) {
    for (const sectorBytes of [512, 4096] as const) {
      it(`${deployment}, ${sectorBytes}-byte crypt sectors: writes read back across many sectors; the store holds no plaintext`, () => {
        const m = blkMachine(deployment);
        const blk = m.blk();
        const sc = new SectorCrypt(m.mem, blk.store.bytes / 512, { seed: SEED, sectorBytes });
        expect(sc.groups).toBe(Math.floor(2048 / 9));
        const damage = new Damage(m.mem, SEED);
        const n = 40 * GROUP_BYTES; // more than one request: 128 KiB of maxIoBytes carries 28 groups with their tags
        const src = damage.secret(m.mem.alloc(n), n);
        const plain = m.mem.read(src, n);
        expect(sc.write(blk.driver, 8 * 100, plain)).toBe(BlkStatus.OK);
        expect(sc.write(blk.driver, 0, plain.subarray(0, GROUP_BYTES))).toBe(BlkStatus.OK);
        const r = sc.read(blk.driver, 8 * 100, n);
        expect(r.status).toBe(BlkStatus.OK);
        expect(r.data).toEqual(plain);
        expect(sc.read(blk.driver, 0, GROUP_BYTES).data).toEqual(plain.subarray(0, GROUP_BYTES));
        // A group never written reads as zeros, unchecked.
        expect(sc.read(blk.driver, 8, GROUP_BYTES).data).toEqual(new Uint8Array(GROUP_BYTES));
        expect(sc.counters.unwritten).toBe(GROUP_BYTES / sectorBytes);
        expect(sc.counters.sealed).toBe((41 * GROUP_BYTES) / sectorBytes);
        // What the device holds: its whole store.
        const store = m.mem.bytes.subarray(blk.store.linearBase!, blk.store.linearBase! + blk.store.bytes);
        expect(damage.leakedIn(store)).toBe(0);
        m.close();
      });
    }
  }

  function tampered(lie: (store: Uint8Array, sc: SectorCrypt) => void, writes = 1): string {
    const m = blkMachine('cvm');
    const blk = m.blk();
    const sc = new SectorCrypt(m.mem, blk.store.bytes / 512, { seed: SEED, sectorBytes: 512 });
    const store = m.mem.bytes.subarray(blk.store.linearBase!, blk.store.linearBase! + blk.store.bytes);
    for (let w = 0; w < writes; w++) {
      expect(sc.write(blk.driver, 16, bytes(w + 1, 2 * GROUP_BYTES))).toBe(BlkStatus.OK);
      if (w === 0) lie(store, sc);
    }
    if (writes > 1) lie(store, sc);
    try {
      sc.read(blk.driver, 16, 2 * GROUP_BYTES);
      return 'none';
    } catch (e) {
      expect(violationOf(e)?.side).toBe('device');
      return (e as ProtectError).code;
    } finally {
      m.close();
    }
  }

  it('names a changed data byte, a changed tag, a moved sector and a replayed write', () => {
    const at = (16 / 8) * GROUP_DEVICE_BYTES; // device offset of data sector 16's group
    expect(tampered((s) => (s[at + 700]! ^= 1))).toBe('PROTECT_SECTOR_INTEGRITY');
    expect(tampered((s) => (s[at + GROUP_BYTES + 9]! ^= 1))).toBe('PROTECT_SECTOR_INTEGRITY');
    // The device serves the first sector's ciphertext and tag in the second's place.
    expect(
      tampered((s) => {
        s.copyWithin(at + 512, at, at + 512);
        s.copyWithin(at + GROUP_BYTES + 40, at + GROUP_BYTES, at + GROUP_BYTES + 40);
      }),
    ).toBe('PROTECT_SECTOR_INTEGRITY');
    // The device keeps the first write's image and serves it after the second write.
    let old: Uint8Array | undefined;
    const code = tampered((s) => {
      if (!old) old = s.slice(at, at + 2 * GROUP_DEVICE_BYTES);
      else s.set(old, at);
    }, 2);
    expect(code).toBe('PROTECT_SECTOR_REPLAY');
  });

  it('revert takes back a seal that never reached the device: the stored image still reads back', () => {
    const m = blkMachine('cvm');
    const blk = m.blk();
    const sc = new SectorCrypt(m.mem, blk.store.bytes / 512, { seed: SEED, sectorBytes: 512 });
    const first = bytes(5, GROUP_BYTES);
    expect(sc.write(blk.driver, 0, first)).toBe(BlkStatus.OK);
    sc.sealInto(0, bytes(6, GROUP_BYTES), new Uint8Array(GROUP_DEVICE_BYTES));
    expect(caught(() => sc.read(blk.driver, 0, GROUP_BYTES)).code).toBe('PROTECT_SECTOR_REPLAY');
    sc.revert(0, GROUP_BYTES);
    expect(sc.read(blk.driver, 0, GROUP_BYTES).data).toEqual(first);
    expect(sc.counters.sealed).toBe(8);
    m.close();
  });

  it("refuses requests that are not whole 4 KiB groups, as the user's error", () => {
    const m = blkMachine('traditional');
    const sc = new SectorCrypt(m.mem, m.blk().store.bytes / 512);
    expect(() => sc.read(m.blk().driver, 4, GROUP_BYTES)).toThrow(/whole 4 KiB groups/);
    expect(() => sc.write(m.blk().driver, 0, new Uint8Array(512))).toThrow(/whole 4 KiB groups/);
    m.close();
  });
});

it('the README example runs as written, with what the package exports', () => {
  expect([vqsim.ProtectedNet, vqsim.SectorCrypt]).toEqual([ProtectedNet, SectorCrypt]);
  const m = createMachine({ deployment: 'cvm', seed: 1, devices: [{ kind: 'net' }, { kind: 'blk' }] });
  const net = m.net();
  const tls = new ProtectedNet(net.driver, net.dma, { seed: 1 }); // sealed straight into the swiotlb slot
  tls.send(0, [new TextEncoder().encode('hello')]);
  net.driver.reapTx(0);
  expect(tls.receive(0).map((p) => new TextDecoder().decode(p))).toEqual(['hello']);
  expect(tls.zeroCopy).toBe(true);

  const blk = m.blk();
  const disk = new SectorCrypt(m.mem, blk.store.bytes / 512, { seed: 1 });
  expect(disk.write(blk.driver, 0, new Uint8Array(4096).fill(7))).toBe(BlkStatus.OK);
  expect(disk.read(blk.driver, 0, 4096).data).toEqual(new Uint8Array(4096).fill(7));
  m.close();
});
