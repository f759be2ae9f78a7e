// Throughput sweep: a virtio-net machine (loopback backend) per ring kind and
// queue size; each row is frames per second measured in wall time beside the
// exits (notifications) and interrupts per frame counted in the machine's
// stats registry. Usage: node examples/throughput-sweep.mjs [packets per case]
import { createMachine, eventTotals, perOp, runNetPackets } from 'vqsim';

const packets = Number(process.argv[2] ?? 20_000);
const rows = [];
// Warm up the Wasm core first, so that the first row is not the one that pays for tier-up.
const warm = createMachine({ devices: [{ kind: 'net', packetBytes: 1500 }] });
runNetPackets(warm.net(), 0, packets);
warm.close();
for (const ring of ['split', 'packed']) {
  for (const queueSize of [64, 256, 1024]) {
    const m = createMachine({ devices: [{ kind: 'net', ring, queueSize, packetBytes: 1500 }] });
    runNetPackets(m.net(), 0, 4 * queueSize); // warm up: the Wasm core tiers up on batched calls
    const before = eventTotals(m.stats());
    const t0 = process.hrtime.bigint();
    const moved = runNetPackets(m.net(), 0, packets);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const ops = perOp(before, eventTotals(m.stats()), moved.packets);
    rows.push({
      ring,
      queueSize,
      packets: moved.packets,
      'Mpps (wall)': +(moved.packets / seconds / 1e6).toFixed(3),
      exitsPerOp: +ops.exitsPerOp.toFixed(4),
      interruptsPerOp: +ops.interruptsPerOp.toFixed(4),
    });
    m.close();
  }
}
console.table(rows);
