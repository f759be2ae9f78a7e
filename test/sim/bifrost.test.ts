// The cost model held against Bifrost's published breakdown (memcached, 256
// KiB values over TLS, virtio-net in a CVM): counted events, so exact.
import { describe, expect, it } from 'vitest';
import { BIFROST_PUBLISHED, bifrostShares } from '../../src/sim/bifrost.js';

describe('the Bifrost check', () => {
  it.each([
    ['sev-snp', 1500],
    ['tdx', 65506],
  ] as const)(
    '%s, %i-byte frames: every frame bounced once each way; swiotlb near the published share of the I/O path',
    (enc, frame) => {
      const s = bifrostShares(enc, frame, 1024);
      // TX: the frame and its 12-byte virtio_net_hdr synced to the device; RX: synced back.
      expect(s.events.bounceBytes).toBe(2 * (frame + 12));
      // The driver keeps its buffers mapped (page_pool's premapping): no slot search or release per frame.
      expect(s.events.slotSearches).toBe(0);
      expect(s.slotShareOfSwiotlb).toBe(0);
      const published = enc === 'tdx' ? BIFROST_PUBLISHED.intel : BIFROST_PUBLISHED.amd;
      expect(Math.abs(s.swiotlbShare - published.swiotlbOfIoPath)).toBeLessThan(10);
      expect(bifrostShares(enc, frame, 1024)).toEqual(s);
    },
  );
});
