// A device that takes a behaviour from its config: it lies at a chosen
// doorbell, or at a seeded share of them, and the hardened driver names it.
import { describe, expect, it } from 'vitest';
import { BlkStatus, ConfigError, createMachine, runNetPackets } from '../../src/internal.js';
import { violationOf } from '../../src/trust/catalogue/index.js';

describe('device behaviours from the machine config', () => {
  it('a blk device that lies at its third doorbell: two requests complete, the third names the violation', () => {
    const m = createMachine({
      devices: [{ kind: 'blk', capacityBytes: 1 << 20, behaviour: { lie: 'used-id', at: 3 } }],
    });
    const b = m.blk();
    const data = new Uint8Array(512).fill(3);
    expect(b.driver.write(0, data)).toBe(BlkStatus.OK);
    expect(b.driver.write(1, data)).toBe(BlkStatus.OK);
    let caught: unknown;
    try {
      b.driver.write(2, data);
    } catch (e) {
      caught = e;
    }
    expect(violationOf(caught)?.id).toBe('USED_ID_OUT_OF_RANGE');
    expect(b.lies).toHaveLength(1);
    expect(b.lies![0]).toMatchObject({ doorbell: 3 });
    expect(b.lies![0]!.what).toMatch(/^used\[\d+\]\.id = \d+$/);
    m.close();
  });

  it('a seeded mix of honest and lying doorbells replays exactly from its seed', () => {
    const run = () => {
      const m = createMachine({
        devices: [{ kind: 'net', queueSize: 32, behaviour: { lie: 'mix', rate: 0.3, seed: 11 } }],
      });
      const got: string[] = [];
      try {
        runNetPackets(m.net(), 0, 400);
      } catch (e) {
        got.push(violationOf(e)?.id ?? String(e));
      }
      got.push(...m.net().lies!.map((l) => `${l.doorbell}:${l.what}`));
      m.close();
      return got;
    };
    const a = run();
    expect(a.length).toBeGreaterThan(1);
    expect(run()).toEqual(a);
  });

  it.each([
    [{ lie: 'fib', at: 1 }, 'devices[0].behaviour.lie'],
    [{ lie: 'used' }, 'devices[0].behaviour: give one of at'],
    [{ lie: 'used', rate: 2 }, 'devices[0].behaviour.rate: 2 is not a number from 0 to 1'],
    [{ lie: 'used', at: 1, colour: 1 }, 'devices[0].behaviour.colour'],
  ])('%j: a ConfigError naming the field', (behaviour, message) => {
    expect(() => createMachine({ devices: [{ kind: 'blk', behaviour: behaviour as never }] })).toThrow(ConfigError);
    expect(() => createMachine({ devices: [{ kind: 'blk', behaviour: behaviour as never }] })).toThrow(message);
  });
});

describe('driver behaviours from the machine config', () => {
  it('a blk driver that lies about the chain it just made available: the device names it, asks for a reset, and the driver recovers', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const m = createMachine({
        seed,
        devices: [{ kind: 'blk', capacityBytes: 1 << 20, behaviour: { side: 'driver', lie: 'ring', at: 2, seed } }],
      });
      const b = m.blk();
      expect(b.driver.write(0, new Uint8Array(512).fill(1))).toBe(BlkStatus.OK);
      // The lie breaks the second request's chain: the device stops (NEEDS_RESET);
      // the hardened driver resets it and submits the request again.
      expect(b.driver.write(1, new Uint8Array(512).fill(2))).toBe(BlkStatus.OK);
      expect(b.lies).toHaveLength(1);
      expect(b.lies![0]!.doorbell).toBe(2);
      expect(b.driver.counters.resets).toBe(1);
      expect(b.driver.read(1, 512).data[0]).toBe(2);
      m.close();
    }
  });
});
