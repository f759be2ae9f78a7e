// --deployment, --dma and --encryption on the device benchmarks (issue 9):
// combinations measured in the same run, each row with its placement, events
// per operation from the machine's registry, and vsDirect.
import { describe, expect, it } from 'vitest';
import { parsePlacements, withBaseline } from '../../src/cli/bench/placement.js';
import { parseNetArgs, runNetBench } from '../../src/cli/bench/net.js';
import { parseBlkArgs, runBlkBench } from '../../src/cli/bench/blk.js';

describe('placements from --deployment, --dma, --encryption', () => {
  it('take each deployment with its defaults, and the baseline first for vsDirect', () => {
    expect(withBaseline(parsePlacements({ deployment: 'cvm,hardware' }))).toEqual([
      { deployment: undefined, dma: 'direct', encryption: 'none' },
      { deployment: 'cvm', dma: 'swiotlb', encryption: 'sev-snp' },
      { deployment: 'hardware', dma: 'iommu', encryption: 'none' },
    ]);
    expect(parsePlacements({ dma: 'direct,swiotlb' })).toEqual([
      { deployment: undefined, dma: 'direct', encryption: 'none' },
      { deployment: undefined, dma: 'swiotlb', encryption: 'none' },
    ]);
    expect(parsePlacements({ deployment: 'cvm', encryption: 'sev,tdx' }).map((p) => p.encryption)).toEqual([
      'sev',
      'tdx',
    ]);
  });

  it('name flags that each are valid but do not fit together, and what fits', () => {
    expect(() => parsePlacements({ deployment: 'cvm', dma: 'direct,iommu' })).toThrow(
      '--deployment cvm and --dma direct,iommu do not fit together: cvm uses dma swiotlb',
    );
    expect(() => parsePlacements({ deployment: 'traditional', encryption: 'tdx' })).toThrow(
      '--deployment traditional and --encryption tdx do not fit together: traditional runs encryption none',
    );
    expect(() => parsePlacements({ deployment: 'cloud' })).toThrow(
      '--deployment cloud: cloud is not one of traditional, vhost-user, vduse, hardware, cvm, cvm-tdisp',
    );
    expect(() => parseBlkArgs(['--io-bytes', '1048576', '--depth', '64', '--capacity-mib', '16'])).toThrow(
      '--io-bytes 1048576 with --depth 64 and --capacity-mib 16 do not fit: 64 requests of 1048576 bytes need a disk of at least 64 MiB',
    );
  });
});

describe('device benchmarks per deployment', () => {
  it('net: rows carry the placement, events per packet and vsDirect; swiotlb bounces every frame both ways', async () => {
    const o = parseNetArgs([
      '--deployment',
      'cvm',
      '--packet-bytes',
      '64',
      '--queues',
      '1',
      '--ring',
      'split',
      '--time',
      '20',
    ]);
    const rows = await runNetBench(o);
    expect(rows.map((r) => [r.deployment, r.dma, r.encryption])).toEqual([
      [undefined, 'direct', 'none'],
      ['cvm', 'swiotlb', 'sev-snp'],
    ]);
    const [direct, cvm] = rows;
    expect(direct!.vsDirect).toBe(1);
    expect(cvm!.vsDirect).toBeGreaterThan(0);
    expect(direct!.bounceBytesPerOp).toBe(0);
    // A loopback frame is bounced in as it is sent and out as it is received: header and frame, twice.
    expect(cvm!.bounceBytesPerOp).toBeCloseTo(2 * (12 + 64), 0);
    // The driver premaps its slots (as page_pool does): per packet only the syncs copy; no slot search.
    expect(cvm!.slotSearchesPerOp).toBe(0);
    for (const r of rows) expect(r.name.startsWith('net/')).toBe(true);
  });

  it('blk: --io-bytes sizes the requests; the IOMMU counts its IOTLB misses per I/O', async () => {
    const o = parseBlkArgs([
      '--deployment',
      'hardware',
      '--mode',
      'randread',
      '--io-bytes',
      '512,8192',
      '--queues',
      '1',
      '--ring',
      'split',
      '--capacity-mib',
      '4',
      '--time',
      '20',
    ]);
    const rows = await runBlkBench(o);
    expect(rows.map((r) => [r.deployment ?? '-', r.dma, r.ioBytes])).toEqual([
      ['-', 'direct', 512],
      ['-', 'direct', 8192],
      ['hardware', 'iommu', 512],
      ['hardware', 'iommu', 8192],
    ]);
    expect(rows[0]!.iotlbMissesPerOp).toBe(0);
    expect(rows[2]!.iotlbMissesPerOp).toBeGreaterThan(0);
    expect(rows[3]!.iotlbMissesPerOp).toBeGreaterThan(rows[2]!.iotlbMissesPerOp!);
  });
});
