// A recovery (reset, probe again) gives back the rings of the probe before:
// a device that keeps asking for resets cannot make the driver spend guest
// RAM (Linux's del_vqs before find_vqs in virtblk_restore / virtnet_restore).
import { describe, expect, it } from 'vitest';
import { BlkStatus, createMachine } from '../../src/internal.js';

const live = (c: { coherentAllocs: number; coherentFrees: number }) => c.coherentAllocs - c.coherentFrees;

describe('recovery releases the old rings', () => {
  it('virtio-blk: ten recoveries, the same coherent memory live and the disk still answers', () => {
    const m = createMachine({ devices: [{ kind: 'blk', capacityBytes: 1 << 20 }] });
    const b = m.blk();
    const before = live(b.dma.counters());
    for (let i = 0; i < 10; i++) b.driver.recover();
    expect(live(b.dma.counters())).toBe(before);
    const data = new Uint8Array(4096).fill(7);
    expect(b.driver.write(8, data)).toBe(BlkStatus.OK);
    expect(b.driver.read(8, 4096).data).toEqual(data);
    m.close();
  });

  it('virtio-net and virtio-console: remove() gives back the rings (and recover() is remove() and a probe)', () => {
    const m = createMachine({ devices: [{ kind: 'net', queueSize: 64 }, { kind: 'console' }] });
    const net = m.net();
    const con = m.console();
    const netLive = live(net.dma.counters());
    const conLive = live(con.dma.counters());
    let nd = net.driver;
    let cd = con.driver;
    for (let i = 0; i < 5; i++) {
      nd = nd.recover();
      cd = cd.recover();
    }
    expect(live(net.dma.counters())).toBe(netLive);
    expect(live(con.dma.counters())).toBe(conLive);
    nd.remove();
    cd.remove();
    expect(live(net.dma.counters())).toBe(0);
    expect(live(con.dma.counters())).toBe(0);
    m.close();
  });
});
