// The transport target: a virtio-blk device model behind virtio-pci or
// virtio-mmio, probed by the hardened driver and then used for a few
// requests, while (unless honest) the device lies in its registers: any read
// of the common config, the ISR, the device config (PCI) or any MMIO
// register may return a value a liar likes instead of the truth (status that
// does not clear on reset, features without VERSION_1, FEATURES_OK refused, a
// queue size of 0 or not a power of two, a generation that keeps moving,
// config fields out of range). The probe must end with the catalogue's named
// error or a working device, never a RangeError or a hang.
import { DmaApi } from '../../dma/api.js';
import { BlkDriver } from '../../drivers/blk/driver.js';
import { MmioDriverAccess, PciDriverAccess, type TransportAccess } from '../../drivers/transport-access.js';
import { MemoryBackend } from '../../devices/blk/backend.js';
import { BlkDevice } from '../../devices/blk/device.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { Feature } from '../../spec/features.js';
import { Mmio } from '../../spec/mmio.js';
import { BlkStatus } from '../../spec/blk.js';
import { VirtioMmioTransport } from '../../transport/mmio.js';
import { VirtioPciTransport } from '../../transport/pci.js';
import { Checker } from './check.js';
import { FuzzRandom, iterationSeed } from './random.js';
import type { FuzzTarget, IterationOptions, IterationResult } from './types.js';

/** Requests after a successful probe. */
export const TRANSPORT_STEPS = 12;
const SECTOR = 512;
const DISK = 1 << 20;

type Read = (offset: number, width: number) => number;

interface LieState {
  /** Probability that a register read lies. */
  rate: number;
  /** Register reads so far. */
  reads: number;
  /** The register read that lies, once (--inject-lie: the k-th read of the probe). */
  injectAt: number;
}

/** Wraps a register read so that, once armed, it lies with probability `rate`. */
function lying(read: Read, r: FuzzRandom, check: Checker, where: string, state: LieState): Read {
  return (offset, width) => {
    const truth = read(offset, width);
    if (state.reads++ === state.injectAt) {
      // Testing the fuzzer: one lie, every bit of the truth flipped.
      check.lied(`${where} 0x${offset.toString(16)} reads ${~truth >>> 0} (was ${truth})`);
      return width === 4 ? ~truth >>> 0 : ~truth & ((1 << (8 * width)) - 1);
    }
    if (state.rate === 0 || !r.chance(state.rate)) return truth;
    const bits = width === 1 ? 8 : width === 2 ? 16 : 32;
    const v = r.chance(0.3) ? (truth ^ (1 << r.int(0, bits - 1))) >>> 0 : r.lie(truth, bits);
    check.lied(`${where} 0x${offset.toString(16)} reads ${v} (was ${truth})`);
    return bits === 32 ? v >>> 0 : v & ((1 << bits) - 1);
  };
}

export function runTransportIteration(o: IterationOptions): IterationResult {
  const r = new FuzzRandom(iterationSeed(o.seed, o.iteration));
  const kind = r.pick(['pci', 'mmio'] as const);
  const packed = r.chance(0.5);
  const variant = `${kind}/${packed ? 'packed' : 'split'}`;
  const check = new Checker(o.honest, TRANSPORT_STEPS + 1);
  const mem = new GuestMemory({ size: 8 << 20 });
  const dma = new DmaApi(mem);
  const view = dma.deviceView();
  const device = new BlkDevice(view, MemoryBackend.create(view, DISK), { queues: r.int(1, 2) });
  // The lie rate: most iterations lie rarely, so the probe gets deep before it breaks.
  const state: LieState = { rate: 0, reads: 0, injectAt: o.injectLieAt ?? -1 };
  const rate = o.honest ? 0 : r.pick([0.005, 0.02, 0.1]);
  let access: TransportAccess;
  if (kind === 'pci') {
    const t = new VirtioPciTransport(device);
    t.readCommon = lying(t.readCommon.bind(t), r, check, 'common cfg', state);
    t.readDeviceConfig = lying(t.readDeviceConfig.bind(t), r, check, 'device cfg', state);
    const isr = t.readIsr.bind(t);
    t.readIsr = lying(() => isr(), r, check, 'isr', state) as () => number;
    access = new PciDriverAccess(t);
  } else {
    const t = new VirtioMmioTransport(device);
    const read = lying(t.read.bind(t), r, check, 'mmio', state);
    const truth = t.read.bind(t);
    // Not the device ID: a device that says it is another device is another
    // device (Linux binds another driver); BLK_NOT_BLOCK is then the answer.
    t.read = (offset, width = 4) => (offset === Mmio.DEVICE_ID ? truth(offset, width) : read(offset, width));
    access = new MmioDriverAccess(t);
  }
  state.rate = rate;
  const split = ~(1n << BigInt(Feature.RING_PACKED));
  const features = packed ? BlkDriver.ALL_FEATURES : BlkDriver.ALL_FEATURES & split;
  const blk = check.op('probe', () => BlkDriver.probe(access, mem, dma, { queueSize: r.pick([4, 8, 16]), features }));
  const disk = new Map<number, number>();
  while (blk && !check.done && check.lastViolation === undefined) {
    const sector = r.int(0, DISK / SECTOR - 8);
    if (r.chance(0.5)) {
      const fill = r.int(0, 255);
      const status = check.op('blk write', () => blk.write(sector, new Uint8Array(SECTOR * 2).fill(fill)));
      if (status === undefined) break;
      if (o.honest && status !== BlkStatus.OK) check.fail('lost', `blk write of sector ${sector}: status ${status}`);
      disk.set(sector, fill);
      disk.set(sector + 1, fill);
    } else {
      const got = check.op('blk read', () => blk.read(sector, SECTOR * 2));
      if (!got) break;
      if (!o.honest) continue;
      for (let s = 0; s < 2; s++) {
        const want = disk.get(sector + s) ?? 0;
        if (got.status !== BlkStatus.OK || got.data.subarray(s * SECTOR, (s + 1) * SECTOR).some((b) => b !== want)) {
          check.fail('lost', `blk read of sector ${sector + s}: status ${got.status}, data not what was written`);
        }
      }
    }
  }
  return check.result(variant);
}

export const transportTarget: FuzzTarget = {
  name: 'transport',
  title: 'virtio-blk probe and I/O over PCI and MMIO while the device lies in its registers',
  run: runTransportIteration,
};
