// Memory-encryption models (issue 9): what a device sees of a private guest
// page, and what its writes do, enforced in the DMA context on every access,
// through the rings' iovecs and the DMA view alike. Shared pages are
// plaintext to all. Page conversions are counted.
import { describe, expect, it } from 'vitest';
import {
  BlkStatus,
  DmaContext,
  DmaView,
  GuestMemory,
  MachineCheckError,
  VirtqueueError,
  createMachine,
  createQueue,
  type EncryptionModel,
} from '../../src/internal.js';

const MODELS: EncryptionModel[] = ['none', 'sev', 'sev-snp', 'tdx'];
const text = new TextEncoder();
const secret = new TextEncoder().encode('the guest kernel keeps its keys here');

function machine(encryption: EncryptionModel, ring: 'split' | 'packed', key = 7) {
  const mem = new GuestMemory({ size: 1 << 20, encryption, key });
  const view = new DmaView(mem, DmaContext.direct(mem), 'direct');
  const q = createQueue(mem, { ring, size: 8, device: view });
  const priv = mem.alloc(4096);
  const shared = mem.alloc(4096, { shared: true });
  mem.write(priv, secret);
  mem.write(shared, secret);
  return { mem, view, q, priv, shared };
}

/** The bytes a device reads of one readable buffer, through the iovec its pop made. */
function deviceReads(m: ReturnType<typeof machine>, addr: number, len: number): Uint8Array {
  m.q.driver.add([{ addr, len }], [], 1);
  const [c] = m.q.device.pop();
  const out = new Uint8Array(len);
  let off = 0;
  for (const b of c!.readable) {
    out.set(m.view.bytesAt(b.linear, b.len), off);
    off += b.len;
  }
  m.q.device.push([{ id: c!.id, len: 0 }]);
  m.q.driver.getUsed();
  return out;
}

/** The device writes `data` into one writable buffer through its iovec, then pushes. */
function deviceWrites(m: ReturnType<typeof machine>, addr: number, data: Uint8Array): void {
  m.q.driver.add([], [{ addr, len: data.length }], 2);
  const [c] = m.q.device.pop();
  let off = 0;
  for (const b of c!.writable) {
    m.view.bytesAt(b.linear, b.len).set(data.subarray(off, off + b.len));
    off += b.len;
  }
  m.q.device.push([{ id: c!.id, len: data.length }]);
  m.q.driver.getUsed();
}

describe.each(['split', 'packed'] as const)('encryption models through the %s ring', (ring) => {
  for (const model of MODELS) {
    it(`${model}: a device read of a private page ${model === 'none' ? 'is plaintext' : 'is ciphertext, every byte'}; a shared page is plaintext`, () => {
      const m = machine(model, ring);
      const seen = deviceReads(m, m.priv, secret.length);
      if (model === 'none') expect(seen).toEqual(secret);
      else for (let i = 0; i < secret.length; i++) expect(seen[i]).not.toBe(secret[i]);
      expect(deviceReads(m, m.shared, secret.length)).toEqual(secret);
      // Deterministic: the same key gives the same ciphertext; another key another.
      expect(deviceReads(machine(model, ring), machine(model, ring).priv, secret.length)).toEqual(seen);
      if (model !== 'none') expect(deviceReads(machine(model, ring, 8), m.priv, secret.length)).not.toEqual(seen);
    });
  }

  it('none: a device write to a private page lands', () => {
    const m = machine('none', ring);
    deviceWrites(m, m.priv, new TextEncoder().encode('evil'));
    expect(new TextDecoder().decode(m.mem.read(m.priv, 4))).toBe('evil');
  });

  it('sev: a device write to a private page lands and the guest reads garbage, silently; bytes it did not write stay', () => {
    const m = machine('sev', ring);
    const evil = new TextEncoder().encode('evil');
    deviceWrites(m, m.priv + 4, evil);
    const after = m.mem.read(m.priv, secret.length);
    expect(after.subarray(0, 4)).toEqual(secret.subarray(0, 4));
    expect(after.subarray(8)).toEqual(secret.subarray(8));
    for (let i = 0; i < 4; i++) {
      expect(after[4 + i]).not.toBe(evil[i]);
      expect(after[4 + i]).not.toBe(secret[4 + i]);
    }
  });

  it('sev-snp: a device write to a private page is refused by name (the RMP check); the page is untouched', () => {
    const m = machine('sev-snp', ring);
    m.q.driver.add([], [{ addr: m.priv, len: 16 }], 2);
    let e: unknown;
    try {
      m.q.device.pop();
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(VirtqueueError);
    expect((e as VirtqueueError).code).toBe('DMA_RMP_VIOLATION');
    expect(m.view.counters().faults).toBe(1);
    expect(m.mem.read(m.priv, secret.length)).toEqual(secret);
  });

  it('tdx: a device write to a private page poisons it; the guest reads it and gets a machine check', () => {
    const m = machine('tdx', ring);
    deviceWrites(m, m.priv, new TextEncoder().encode('evil'));
    let e: unknown;
    try {
      m.mem.read(m.priv, 4);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(MachineCheckError);
    expect((e as MachineCheckError).code).toBe('MACHINE_CHECK');
    expect((e as MachineCheckError).side).toBe('device');
    // A page the device only read is not poisoned.
    expect(deviceReads(m, m.shared, 4)).toEqual(secret.subarray(0, 4));
    expect(m.mem.read(m.shared, 4)).toEqual(secret.subarray(0, 4));
  });

  for (const model of MODELS) {
    it(`${model}: a device write to a shared page lands`, () => {
      const m = machine(model, ring);
      deviceWrites(m, m.shared, new TextEncoder().encode('ack!'));
      expect(new TextDecoder().decode(m.mem.read(m.shared, 4))).toBe('ack!');
    });
  }
});

describe('encryption models through the DMA view and every device', () => {
  it('the DMA view reads ciphertext and its writes follow the model', () => {
    for (const model of MODELS) {
      const mem = new GuestMemory({ size: 1 << 20, encryption: model });
      const view = new DmaView(mem, DmaContext.direct(mem), 'direct');
      const priv = mem.alloc(4096);
      mem.writeU32(priv, 0x01020304);
      expect(view.readU32(priv) === 0x01020304).toBe(model === 'none');
      if (model === 'sev-snp') {
        expect(() => view.writeU32(priv, 5)).toThrow(/RMP violation/);
      } else {
        view.writeU32(priv, 5);
        if (model === 'none') expect(mem.readU32(priv)).toBe(5);
        if (model === 'sev') expect(mem.readU32(priv)).not.toBe(5);
        if (model === 'tdx') expect(() => mem.readU32(priv)).toThrow(MachineCheckError);
      }
    }
  });

  it('a CVM whose devices use direct DMA cannot do I/O: the device meets its private buffers through the model', () => {
    const outcome: Record<string, string> = {};
    for (const model of MODELS) {
      const m = createMachine({ encryption: model, devices: [{ kind: 'blk', capacityBytes: 1 << 20 }] });
      const blk = m.blk();
      const store = (blk.store as unknown as { contents(): Uint8Array }).contents();
      try {
        const status = blk.driver.write(0, new Uint8Array(512).fill(0x41));
        outcome[model] =
          `status ${status === BlkStatus.OK ? 'OK' : 'garbage'}, store ${store[0] === 0x41 ? 'written' : 'not written'}`;
      } catch (e) {
        outcome[model] = (e as { code: string }).code;
      }
      m.close();
    }
    expect(outcome).toEqual({
      // The device reads the header's plaintext and writes the status.
      none: 'status OK, store written',
      // It reads the header's ciphertext (no such request) and its status write decrypts to garbage.
      sev: 'status garbage, store not written',
      // Its status write is refused (RMP): the device stops, the request never completes.
      'sev-snp': 'BLK_NOT_COMPLETED',
      // Its status write poisons the page: the driver's read of the status byte is a machine check.
      tdx: 'MACHINE_CHECK',
    });
  });

  it("net and console in a CVM with direct DMA: the device meets the guest's private buffers through the model", () => {
    const outcome: Record<string, string> = {};
    for (const model of MODELS) {
      const net = createMachine({ encryption: model, devices: [{ kind: 'net', queueSize: 64, packetBytes: 64 }] });
      net.net().driver.send(0, [new Uint8Array(60).fill(0x41)]);
      const got = net.net().driver.receive(0);
      outcome[`net ${model}`] =
        got.length === 0 ? 'nothing received' : got[0]!.data.every((b) => b === 0x41) ? 'frame intact' : 'garbled';
      if (net.net().device.failure) outcome[`net ${model}`] += `, device stopped`;
      net.close();
      const con = createMachine({ encryption: model, devices: [{ kind: 'console' }] });
      try {
        con.console().driver.write(text.encode('hello'));
        const back = new TextDecoder().decode(con.console().driver.read());
        outcome[`console ${model}`] = back === 'hello' ? 'hello' : back === '' ? 'nothing' : 'garbage';
        if (con.console().device.failure) outcome[`console ${model}`] += ', device stopped';
      } catch (e) {
        outcome[`console ${model}`] = (e as { code: string }).code;
      }
      con.close();
    }
    expect(outcome).toEqual({
      'net none': 'frame intact',
      // The device loops back ciphertext into a private RX buffer, which decrypts to garbage:
      // the hardened driver's checks drop it.
      'net sev': 'nothing received',
      // Its RX write is refused: the device stops.
      'net sev-snp': 'nothing received, device stopped',
      // Its RX write poisons the buffer's page; the driver's checks drop what it read.
      'net tdx': 'nothing received',
      'console none': 'hello',
      'console sev': 'garbage',
      'console sev-snp': 'nothing, device stopped',
      'console tdx': 'MACHINE_CHECK',
    });
  });

  it('page conversions are counted in a confidential VM, not in a traditional one', () => {
    const cvm = new GuestMemory({ size: 1 << 20, encryption: 'tdx' });
    const a = cvm.alloc(3 * 4096, { shared: true });
    cvm.setShared(a, 4096, false);
    cvm.setShared(a, 3 * 4096, true); // one page changes back
    expect(cvm.conversions()).toEqual({ calls: 3, toShared: 4, toPrivate: 1 });
    const vm = new GuestMemory({ size: 1 << 20 });
    vm.alloc(4096, { shared: true });
    expect(vm.conversions()).toEqual({ calls: 0, toShared: 0, toPrivate: 0 });
  });
});
