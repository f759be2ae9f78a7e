// The TDISP state machine and what each state lets the device reach through
// its DMA context (issue 9): untrusted until accepted in RUN, then plaintext
// private memory; a change to locked configuration → ERROR → no DMA at all.
import { describe, expect, it } from 'vitest';
import { DmaContext, DmaView, GuestMemory, TdispInterface, type TdispReport } from '../../src/internal.js';

const MEASUREMENT = 'ab'.repeat(48);
const identity: TdispReport = { vendor: 0x1af4, device: 0x1041, revision: 2, measurement: MEASUREMENT };

function setup() {
  const mem = new GuestMemory({ size: 1 << 20, encryption: 'sev-snp' });
  const ctx = DmaContext.direct(mem);
  const view = new DmaView(mem, ctx, 'direct');
  const priv = mem.alloc(4096);
  mem.writeU32(priv, 0xc0ffee);
  return { mem, ctx, view, priv, iface: new TdispInterface(identity, ctx) };
}

describe('TDISP device interface', () => {
  it('CONFIG_UNLOCKED → CONFIG_LOCKED → RUN once the guest accepts the report: then private memory is plaintext to it', () => {
    const { mem, view, priv, iface } = setup();
    expect(iface.state).toBe('CONFIG_UNLOCKED');
    // Untrusted: the device sees ciphertext and may not write a private page (SNP).
    expect(view.readU32(priv)).not.toBe(0xc0ffee);
    expect(() => view.writeU32(priv, 1)).toThrow(/RMP violation/);
    expect(() => iface.report()).toThrow(/CONFIG_UNLOCKED/);
    iface.lock();
    expect(iface.report()).toEqual(identity);
    expect(iface.acceptAndStart((r) => r.measurement === MEASUREMENT && r.vendor === 0x1af4)).toBe(true);
    expect(iface.state).toBe('RUN');
    expect(iface.trusted).toBe(true);
    expect(view.readU32(priv)).toBe(0xc0ffee);
    view.writeU32(priv, 7);
    expect(mem.readU32(priv)).toBe(7);
  });

  it('a report the guest refuses leaves the device locked and untrusted', () => {
    const { view, priv, iface } = setup();
    iface.lock();
    expect(iface.acceptAndStart((r) => r.measurement === 'cd'.repeat(48))).toBe(false);
    expect(iface.state).toBe('CONFIG_LOCKED');
    expect(iface.trusted).toBe(false);
    expect(view.readU32(priv)).not.toBe(0xc0ffee);
  });

  it('a configuration change after lock → ERROR → no DMA at all, not even to shared pages', () => {
    const { mem, ctx, view, priv, iface } = setup();
    const shared = mem.alloc(4096, { shared: true });
    iface.lock();
    iface.acceptAndStart(() => true);
    iface.configChange('BAR0 moved by the host');
    expect(iface.state).toBe('ERROR');
    expect(iface.trusted).toBe(false);
    expect(() => view.readU32(priv)).toThrow(/TDISP interface is in ERROR/);
    expect(() => view.readU32(shared)).toThrow(/TDISP interface is in ERROR/);
    expect(ctx.counters().faults).toBe(2);
    expect(() => iface.lock()).toThrow(/in ERROR/);
    expect(iface.log).toEqual([
      'CONFIG_UNLOCKED -> CONFIG_LOCKED: LOCK_INTERFACE_REQUEST',
      'CONFIG_LOCKED -> RUN: START_INTERFACE_REQUEST (report accepted)',
      'RUN -> ERROR: locked configuration changed: BAR0 moved by the host',
    ]);
    // STOP_INTERFACE_REQUEST: unlocked again, untrusted, DMA as any untrusted device.
    iface.stop();
    expect(iface.state).toBe('CONFIG_UNLOCKED');
    expect(view.readU32(shared)).toBe(0);
    expect(view.readU32(priv)).not.toBe(0xc0ffee);
  });

  it('a change while unlocked is harmless; requests out of order are named errors', () => {
    const { iface } = setup();
    iface.configChange('BAR0');
    expect(iface.state).toBe('CONFIG_UNLOCKED');
    expect(() => iface.acceptAndStart(() => true)).toThrow(/CONFIG_UNLOCKED, not CONFIG_LOCKED/);
    iface.lock();
    expect(() => iface.lock()).toThrow(/CONFIG_LOCKED, not CONFIG_UNLOCKED/);
    expect(() => new TdispInterface({ ...identity, measurement: 'xyz' }, setup().ctx)).toThrow(/96 hex digits/);
  });
});
