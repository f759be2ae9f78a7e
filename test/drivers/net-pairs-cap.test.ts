// A virtio-net device that offers more queue pairs than the guest has CPUs
// gets rings for the pairs in use only (and its control queue, at index 2N):
// it cannot make the driver spend guest RAM at will.
import { describe, expect, it } from 'vitest';
import { createMachine, runNetPackets } from '../../src/internal.js';

describe('virtio-net pairs beyond the guest CPUs', () => {
  it('64 pairs offered, 4 CPUs: 4 pairs and the control queue set up, traffic on each, the cut counted', () => {
    const few = createMachine({ cpus: 4, devices: [{ kind: 'net', queues: 4, queueSize: 64 }] });
    const many = createMachine({ cpus: 4, devices: [{ kind: 'net', queues: 64, queueSize: 64 }] });
    const d = many.net().driver;
    expect([d.maxPairs, d.setUpPairs, d.pairs.length]).toEqual([64, 4, 4]);
    // Rings of 4 pairs and a control queue: as much coherent memory as a device that offers 4.
    expect(many.net().dma.counters().coherentAllocs).toBe(few.net().dma.counters().coherentAllocs);
    for (let p = 0; p < 4; p++) expect(runNetPackets(many.net(), p, 256).packets).toBeGreaterThanOrEqual(256);
    expect(many.stats()['net0.driver.transport']!.counters.queuesCapped).toBe(1);
    few.close();
    many.close();
  });
});
