// swiotlb across deployments: the same virtio-net workload (1500-byte frames,
// loopback) in each deployment, and what it costs besides time: bytes bounced
// through swiotlb or the VDUSE bounce domain, slot searches, IOTLB misses and
// exits per frame, read from the machine's stats registry (deterministic), and
// the wall-clock rate against `traditional` (measured, not modeled).
// Usage: node examples/swiotlb-deployments.mjs [packets per deployment]
import { createMachine, eventTotals, perOp, runNetPackets } from 'vqsim';

const packets = Number(process.argv[2] ?? 20_000);
const rows = [];
let baseline;
// Warm up the Wasm core first, so that the first (baseline) row is not the one that pays for tier-up.
const warm = createMachine({ devices: [{ kind: 'net', packetBytes: 1500 }] });
runNetPackets(warm.net(), 0, packets);
warm.close();
for (const deployment of ['traditional', 'hardware', 'vduse', 'cvm', 'cvm-tdisp']) {
  const m = createMachine({ deployment, devices: [{ kind: 'net', packetBytes: 1500 }] });
  runNetPackets(m.net(), 0, 1024);
  const before = eventTotals(m.stats());
  const t0 = process.hrtime.bigint();
  const moved = runNetPackets(m.net(), 0, packets);
  const rate = moved.packets / (Number(process.hrtime.bigint() - t0) / 1e9);
  const ops = perOp(before, eventTotals(m.stats()), moved.packets);
  baseline ??= rate;
  rows.push({
    deployment,
    dma: m.net().dma.backend.name, // cvm-tdisp: direct once the guest accepted the device
    encryption: m.config.encryption,
    'kpps (wall)': Math.round(rate / 1e3),
    vsTraditional: +(rate / baseline).toFixed(2),
    bounceBytesPerOp: +ops.bounceBytesPerOp.toFixed(1),
    slotSearchesPerOp: +ops.slotSearchesPerOp.toFixed(3),
    iotlbMissesPerOp: +ops.iotlbMissesPerOp.toFixed(3),
    exitsPerOp: +ops.exitsPerOp.toFixed(4),
  });
  m.close();
}
console.table(rows);
