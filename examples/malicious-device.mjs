// A malicious device: it completes a buffer the driver never made available,
// writing a used element whose id is past the end of the descriptor table
// (VIRTIO 1.2 §2.7.8: a device must only return heads it took from the avail
// ring). The driver checks every used id it reads, as Linux's
// virtqueue_get_buf_ctx_split() does ("id %u out of range"), and names the
// violation instead of indexing its bookkeeping with it.
import { GuestMemory, SplitQueue, VirtqueueError } from 'vqsim';
import { MockSplitQueue } from 'vqsim/testing';

const mem = new GuestMemory({ size: 1 << 20 });
const q = new SplitQueue(mem, { size: 8 });
const buf = mem.alloc(4096, { shared: true });
q.driver.add([], [{ addr: buf, len: 512 }], 1); // one honest request in flight

// The device side, played by hand: a used element {id: 8 + 5, len: 512}.
const device = new MockSplitQueue(q);
device.addUsed(8 + 5, 512);

try {
  q.driver.getUsed();
  console.log('driver accepted the completion: not detected');
  process.exitCode = 1;
} catch (e) {
  if (!(e instanceof VirtqueueError)) throw e;
  console.log(`detected: ${e.code} (side: ${e.side})`);
  console.log(`message: ${e.message}`);
  console.log(`driver checks failed: ${q.stats().driverChecksFailed}`);
}
