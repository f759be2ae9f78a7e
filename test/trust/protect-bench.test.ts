// `--protect` on `vqsim bench net` and `vqsim bench blk`, and the workload
// runners it drives: flags, rows, the bytes zero copy saves (exact, from the
// counters), and a device that lies mid-run stopping the run with the named error.
import { describe, expect, it } from 'vitest';
import { blkBenchMachine, createBlkJob, protectBlkJob, runBlkQueue, type BlkRow } from '../../src/cli/bench/blk.js';
import type { NetRow } from '../../src/cli/bench/net.js';
import { createMachine } from '../../src/sim/machine.js';
import { runProtectedNetPackets } from '../../src/sim/net.js';
import { Damage } from '../../src/trust/attack/damage.js';
import { violationOf } from '../../src/trust/catalogue/index.js';
import { protectedDeviceBytes, ProtectedNet, RECORD_OVERHEAD, SectorCrypt } from '../../src/trust/protect/index.js';
import { run } from '../helpers/cli.js';

const SEED = 7;

describe('vqsim bench net --protect', () => {
  it('rejects a bad --protect with one line naming it and exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--protect', 'yes'], /^vqsim: --protect yes: must be off, on, on-bounce/],
      [['--protect', 'on', '--workers', '1'], /^vqsim: --protect on: not with --workers/],
      [['--protect', 'on', '--backend', 'source'], /^vqsim: --protect on: not with --backend source/],
      [
        ['--protect', 'off,on', '--packet-bytes', '32'],
        /^vqsim: --packet-bytes 32 with --protect on: a frame must hold/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const r = await run('bench', 'net', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trimEnd().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(pattern);
    }
  });

  it('runs every protect × deployment combination; zero copy leaves out the TX bounce copy, exactly', async () => {
    const r = await run(
      'bench',
      'net',
      '--json',
      '--time',
      '5',
      '--packet-bytes',
      '1500',
      '--queues',
      '1',
      '--ring',
      'split',
      '--queue-size',
      '32',
      '--deployment',
      'traditional,cvm',
      '--protect',
      'off,on,on-bounce',
    );
    expect(r.code, r.err).toBe(0);
    const rows = (JSON.parse(r.out) as { rows: NetRow[] }).rows;
    expect(rows.map((x) => `${x.deployment}/${x.protect}`)).toEqual([
      'traditional/off',
      'traditional/on',
      'traditional/on-bounce',
      'cvm/off',
      'cvm/on',
      'cvm/on-bounce',
    ]);
    const frame = 12 + 1500;
    // Bytes bounced per frame: TX and RX without zero copy, RX only with it; none on direct DMA.
    expect(rows.map((x) => x.bounceBytesPerOp)).toEqual([0, 0, 0, 2 * frame, frame, 2 * frame]);
    for (const x of rows) {
      expect(x.pps).toBeGreaterThan(0);
      expect(x.vsPlain).toBeDefined();
    }
    expect(rows[0]!.vsPlain).toBe(1);
  });

  it('runProtectedNetPackets: the device reads only ciphertext; without protection, the plaintext', () => {
    for (const protect of [true, false]) {
      const m = createMachine({
        deployment: 'cvm',
        seed: SEED,
        devices: [{ kind: 'net', backend: 'sink', packetBytes: 1024, queueSize: 32 }],
      });
      const net = m.net();
      const damage = new Damage(m.mem, SEED);
      const len = protect ? 1024 - RECORD_OVERHEAD : 1024;
      const gpa = damage.secret(m.mem.alloc(1024), len);
      const payload = m.mem.read(gpa, len);
      if (protect) {
        const pn = new ProtectedNet(net.driver, net.dma, { seed: SEED });
        const r = runProtectedNetPackets(net, pn, 0, 100, payload);
        expect(r.packets).toBe(128); // 4 rounds of a full ring
        expect(r.bytes).toBe(128 * 1024);
        expect(pn.counters).toMatchObject({ sealed: 128, sealedInPlace: 128, opened: 0 });
      } else {
        // The same sender without the record layer: the frame is the payload.
        expect(net.driver.send(0, [payload])).toBe(1);
        expect(net.driver.reapTx(0)).toBe(1);
      }
      const seen = net.device.lastSinkFrame(0, 12 + 1024);
      expect(damage.leakedIn(seen)).toBe(protect ? 0 : len);
      m.close();
    }
  });

  it('runProtectedNetPackets refuses the source backend, whose frames no peer sealed', () => {
    const m = createMachine({ devices: [{ kind: 'net', backend: 'source', packetBytes: 256, queueSize: 32 }] });
    const net = m.net();
    const pn = new ProtectedNet(net.driver, net.dma);
    expect(() => runProtectedNetPackets(net, pn, 0, 1, new Uint8Array(16))).toThrow(/source backend/);
    m.close();
  });

  it('a device that alters a frame mid-run stops the run with PROTECT_RECORD_AUTH', () => {
    const m = createMachine({ seed: SEED, devices: [{ kind: 'net', packetBytes: 256, queueSize: 32 }] });
    const net = m.net();
    const pn = new ProtectedNet(net.driver, net.dma, { seed: SEED });
    const payload = new Uint8Array(256 - RECORD_OVERHEAD).fill(3);
    expect(runProtectedNetPackets(net, pn, 0, 64, payload).packets).toBe(64);
    // One more record; once the device has looped it back, it flips a byte of the ciphertext in every RX buffer.
    const dv = net.dma.deviceView();
    const rx = net.driver.pairs[0]!.rxSlots;
    pn.sendBurst(0, 1, payload);
    net.driver.reapTx(0);
    for (const d of rx.dma) dv.write(d + 12 + 20, new Uint8Array([dv.read(d + 12 + 20, 1)[0]! ^ 1]));
    let err: unknown;
    try {
      runProtectedNetPackets(net, pn, 0, 64, payload);
    } catch (e) {
      err = e;
    }
    expect(violationOf(err)?.id).toBe('PROTECT_RECORD_AUTH');
    expect(pn.counters.opened).toBe(64);
    m.close();
  });
});

describe('vqsim bench blk --protect', () => {
  it('rejects --protect on with requests that are not whole 4 KiB sectors', async () => {
    const r = await run('bench', 'blk', '--protect', 'on', '--io-bytes', '512');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^vqsim: --io-bytes 512 with --protect on: must be whole 4096-byte sectors\n$/);
    const bad = await run('bench', 'blk', '--protect', 'maybe');
    expect(bad.err).toMatch(/^vqsim: --protect maybe: must be off, on/);
  });

  it('runs every protect × deployment combination; a request carries its tag sector', async () => {
    const r = await run(
      'bench',
      'blk',
      '--json',
      '--time',
      '5',
      '--mode',
      'randread,randwrite',
      '--queues',
      '1',
      '--ring',
      'split',
      '--queue-size',
      '32',
      '--depth',
      '8',
      '--capacity-mib',
      '2',
      '--deployment',
      'traditional,cvm',
      '--protect',
      'off,on',
    );
    expect(r.code, r.err).toBe(0);
    const rows = (JSON.parse(r.out) as { rows: BlkRow[] }).rows;
    expect(rows.map((x) => `${x.deployment}/${x.protect}/${x.mode}`)).toEqual([
      'traditional/off/randread',
      'traditional/off/randwrite',
      'traditional/on/randread',
      'traditional/on/randwrite',
      'cvm/off/randread',
      'cvm/off/randwrite',
      'cvm/on/randread',
      'cvm/on/randwrite',
    ]);
    // A protected write bounces its tag sector besides its 4 KiB of data.
    const w = rows.filter((x) => x.deployment === 'cvm' && x.mode === 'randwrite');
    expect(w[1]!.bounceBytesPerOp! - w[0]!.bounceBytesPerOp!).toBe(protectedDeviceBytes(4096) - 4096);
    for (const x of rows) expect(x.iops).toBeGreaterThan(0);
  });

  it('runBlkQueue with protection: writes and reads back; a device that flips a stored byte stops the reads with PROTECT_SECTOR_INTEGRITY', () => {
    const m = blkBenchMachine({
      queues: 1,
      queueSize: 32,
      depth: 8,
      capacityBytes: 1 << 20,
      maxIoBytes: protectedDeviceBytes(4096),
    }).blk();
    const sc = new SectorCrypt(m.mem, m.store.bytes / 512, { seed: SEED });
    const w = createBlkJob(m, 0, 'seqwrite', SEED, protectedDeviceBytes(4096));
    protectBlkJob(m, w, sc, 4096);
    expect(runBlkQueue(m, w, sc.groups).ios).toBe(sc.groups);
    expect(sc.counters.sealed).toBe(sc.groups);
    const r = createBlkJob(m, 0, 'seqread', SEED, protectedDeviceBytes(4096));
    protectBlkJob(m, r, sc, 4096);
    expect(runBlkQueue(m, r, sc.groups).bytes).toBe(sc.groups * 4096);
    expect(sc.counters.opened).toBe(sc.groups);
    expect(sc.counters.unwritten).toBe(0);
    // The page cache of the reader now holds what the writer's held.
    expect(m.mem.read(r.protect!.pages, 8 * 4096)).toEqual(m.mem.read(w.protect!.pages, 8 * 4096));
    m.mem.bytes[m.store.linearBase! + 5 * 4608 + 100]! ^= 1;
    let err: unknown;
    try {
      runBlkQueue(m, r, sc.groups);
    } catch (e) {
      err = e;
    }
    expect(violationOf(err)?.id).toBe('PROTECT_SECTOR_INTEGRITY');
  });
});
