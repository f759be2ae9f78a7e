// Co-located net workers: each thread builds its own net machine and moves
// packets through it; the main thread sums them. Every packet is counted on
// both sides, a stop ends a run cleanly, and a worker that dies, throws or
// hangs is reported by name without anything waiting forever.
import { beforeAll, describe, expect, it } from 'vitest';
import { VqsimError } from '../../src/errors.js';
import { NetWorker, netLoop, runNetColocated } from '../../src/sim/net.js';
import { createMachine } from '../../src/sim/machine.js';
import type { MachineConfig, NetDeviceConfig } from '../../src/sim/machine-config.js';
import { bundleWorker } from '../helpers/bundle-worker.js';
import { until } from '../helpers/until.js';

// The threads run the bundled entry: build it from the sources under test.
beforeAll(() => bundleWorker('net-worker'));

const net: NetDeviceConfig = { kind: 'net', ring: 'split', packetBytes: 64, queueSize: 64 };
/** One net device, `net` with `over` on top. */
const machineWith = (over: Partial<NetDeviceConfig> = {}): MachineConfig => ({ devices: [{ ...net, ...over }] });
const machine = machineWith();

async function rejection(p: Promise<unknown>): Promise<VqsimError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(VqsimError);
    return e as VqsimError;
  }
  throw new Error('expected a rejection');
}

describe('co-located net workers', () => {
  it('netLoop on this thread moves the packets asked for, and the device counts each one', () => {
    for (const backend of ['loopback', 'sink', 'source'] as const) {
      const m = createMachine(machineWith({ ring: 'packed', backend, queues: 2 })).net();
      const r = netLoop(undefined, m, { chains: 3000 });
      // Chunks of 256 per pair, each run in whole 64-frame bursts: 5 × 512, then 256 + 192.
      expect(r.packets, backend).toBe(3008);
      expect(r.deviceDelivered, backend).toBe(r.packets);
      expect(r.deviceTxPackets, backend).toBe(m.driver.counters.txCompleted);
      expect(m.driver.counters.rxLengthErrors).toBe(0);
      // Source: the guest only receives; every frame it counted came from the device.
      if (backend === 'source') {
        expect(r.deviceTxPackets).toBe(0);
        expect(m.driver.counters.rxPackets).toBe(r.packets);
      }
    }
  });

  it('two workers move every packet, each on its own machine', async () => {
    for (const ring of ['split', 'packed'] as const) {
      const r = await runNetColocated(2, machineWith({ ring }), { chains: 20000 }, { warmMs: 0 });
      expect(r.workers).toHaveLength(2);
      for (const w of r.workers) {
        expect(w.packets).toBeGreaterThanOrEqual(20000);
        expect(w.deviceDelivered).toBe(w.packets);
        expect(w.deviceTxPackets).toBe(w.packets);
        expect(w.bytes).toBe(w.packets * 64);
      }
      expect(r.packets).toBe(r.workers[0]!.packets + r.workers[1]!.packets);
      expect(r.bitsPerSec).toBeCloseTo(r.pps * 64 * 8, 0);
    }
  });

  it('a source worker only receives, and its device delivered every frame its driver counted', async () => {
    for (const ring of ['split', 'packed'] as const) {
      const r = await runNetColocated(
        1,
        machineWith({ ring, packetBytes: 1500, backend: 'source' }),
        { chains: 5000 },
        { warmMs: 0 },
      );
      const w = r.workers[0]!;
      expect(w.packets).toBeGreaterThanOrEqual(5000);
      expect(w.deviceDelivered).toBe(w.packets);
      expect(w.deviceTxPackets).toBe(0);
      expect(w.bytes).toBe(w.packets * 1500);
    }
  });

  it('stops a run on request, then ends the thread; later runs are refused', async () => {
    const w = await NetWorker.start(machine);
    const run = w.run({ durationMs: 600000 });
    expect(await until(() => w.stats().chains >= 5000)).toBe(true);
    w.stop();
    const r = await run;
    expect(r.packets).toBeGreaterThanOrEqual(5000);
    expect(r.deviceDelivered).toBe(r.packets);
    // A second run on the same machine goes on from there.
    const again = await w.run({ chains: 1000 });
    expect(again.deviceDelivered).toBe(again.packets);
    await w.terminate();
    await w.terminate();
    expect(w.error).toBeUndefined();
    expect((await rejection(w.run({ chains: 1 }))).code).toBe('WORKER_STOPPED');
  });

  it('reports a killed worker by name', async () => {
    const w = await NetWorker.start(machine, { label: 'net worker 3' });
    const run = w.run({ durationMs: 600000 });
    expect(await until(() => w.stats().chains > 0)).toBe(true);
    await w.kill();
    const e = await rejection(run);
    expect(e.code).toBe('WORKER_DIED');
    expect(e.message).toMatch(/^net worker 3 exited with code/);
    expect(w.error).toBe(e);
    await w.terminate();
  });

  it('a worker that exits, throws or hangs fails the whole run, naming it, and the others stop', async () => {
    const cases = [
      { kind: 'exit', code: 'WORKER_DIED', message: /^net worker \d exited with code 7/ },
      { kind: 'throw', code: 'WORKER_FAILED', message: /^net worker \d failed: .*injected fault/ },
      { kind: 'hang', code: 'WORKER_HUNG', message: /^net worker \d hung: no progress for 300 ms/ },
    ] as const;
    for (const c of cases) {
      const e = await rejection(
        runNetColocated(
          2,
          machine,
          { durationMs: 600000 },
          { warmMs: 0, hangTimeoutMs: 300, loop: { fault: { kind: c.kind, afterChains: 2000 } } },
        ),
      );
      expect(e.code, c.kind).toBe(c.code);
      expect(e.message, c.kind).toMatch(c.message);
    }
  });
});
