// The per-pair packet loop of a virtio-net machine (createMachine) and
// co-located net workers: each worker thread builds its own machine from a
// MachineConfig (a machine per worker, as separate VMs) and runs loopback,
// sink or source packets through its first net device for a duration; the
// main thread starts N of them at once and sums what they moved. Control goes
// through comlink (build, warm, run) and a small control block in a
// SharedArrayBuffer (stop, heartbeat, live counters), since a running loop
// blocks its thread.
import { ConfigError, VqsimError } from '../errors.js';
import { wasmModule } from '../memory/wasm-core.js';
import { CONTROL_BYTES, Control, W_DRV_BEAT, zeroCounters, type ThreadCounters } from './control.js';
import type { Fault, RunLimits } from './loops.js';
import type { NetWorkerApi } from '../../workers/net-worker.js';
import type { NetMachineDevice } from './machine.js';
import type { MachineConfig, NetBackendName } from './machine-config.js';
import { ThreadWorker } from './thread-worker.js';
import { RECORD_OVERHEAD, type ProtectedNet } from '../trust/protect/record.js';

/** The device backends a net machine is built with (see NetBackend in the device). */
export type NetBenchBackend = NetBackendName;

/** What runNetPackets moved. */
export interface NetRunCounts {
  /** Frames delivered (loopback, source: received by the driver; sink: completed by the device). */
  packets: number;
  /** Frame bytes of those packets. */
  bytes: number;
  /** Driver-side rounds (send, reap TX, receive; source: receive only). */
  rounds: number;
}

/**
 * Runs at least `packets` frames through queue pair `pair` of `m` and returns
 * what moved: the per-pair unit a co-located worker calls in a loop. Throws
 * NO_PROGRESS (side 'device') when a round moves nothing three times in a row. With the source backend
 * the guest only receives, as DPDK testpmd's rxonly forwarding mode: each
 * receive reposts the buffers it reaped and kicks the RX queue, and the
 * device fills them with new frames on that kick.
 */
export function runNetPackets(m: NetMachineDevice, pair: number, packets: number): NetRunCounts {
  const d = m.driver;
  const size = d.pairs[pair]!.tx.size;
  const sink = m.backend === 'sink';
  const source = m.backend === 'source';
  let done = 0;
  let rounds = 0;
  let idle = 0;
  while (done < packets) {
    let got: number;
    if (source) got = d.receiveCount(pair);
    else {
      d.sendBurst(pair, size, m.packetBytes);
      const completed = d.reapTx(pair);
      got = sink ? completed : d.receiveCount(pair);
    }
    done += got;
    rounds++;
    if (got === 0 && ++idle >= 3) {
      const why = m.device.failure === undefined ? '' : `: the device failed (${m.device.failure})`;
      // A poll budget, not a clock: three rounds in a row that move nothing end
      // the run with the device named (it stopped serving, or needs a reset).
      throw new VqsimError(
        'NO_PROGRESS',
        `net pair ${pair}: no frame moved in 3 rounds (${done} of ${packets})${why}`,
        'device',
      );
    } else if (got > 0) idle = 0;
  }
  return { packets: done, bytes: done * m.packetBytes, rounds };
}

/**
 * runNetPackets with the record layer (src/trust/protect/record.ts) between
 * the guest's sender and the driver: each frame carries `payload` sealed into
 * a record (frames of payload + RECORD_OVERHEAD bytes), and on loopback the
 * guest opens every frame it receives. The source backend's frames are not
 * records: a ConfigError.
 */
export function runProtectedNetPackets(
  m: NetMachineDevice,
  pn: ProtectedNet,
  pair: number,
  packets: number,
  payload: Uint8Array,
): NetRunCounts {
  if (m.backend === 'source') throw new ConfigError('protected net: the source backend delivers frames no peer sealed');
  const d = m.driver;
  const size = d.pairs[pair]!.tx.size;
  const sink = m.backend === 'sink';
  const frame = payload.length + RECORD_OVERHEAD;
  let done = 0;
  let rounds = 0;
  let idle = 0;
  while (done < packets) {
    pn.sendBurst(pair, size, payload);
    const completed = d.reapTx(pair);
    const got = sink ? completed : pn.receive(pair).length;
    done += got;
    rounds++;
    if (got === 0 && ++idle >= 3) {
      const why = m.device.failure === undefined ? '' : `: the device failed (${m.device.failure})`;
      throw new Error(`protected net pair ${pair}: no frame moved in 3 rounds (${done} of ${packets})${why}`);
    } else if (got > 0) idle = 0;
  }
  return { packets: done, bytes: done * frame, rounds };
}

/**
 * Checks that the device counted every frame the driver counted and that the
 * driver saw no length error; throws naming `what` otherwise. Loopback and
 * source: the device's RX frames (a source device may be a ring ahead: frames
 * it delivered that the driver has not reaped yet); sink: the frames it dropped.
 */
export function checkNetDevice(m: NetMachineDevice, what: string): void {
  const counted = deviceDelivered(m);
  if (counted < m.driver.counters.rxPackets || m.driver.counters.rxLengthErrors !== 0) {
    throw new VqsimError(
      'NET_COUNT_MISMATCH',
      `${what}: device counted ${counted} frames, driver ${m.driver.counters.rxPackets} (${m.driver.counters.rxLengthErrors} length errors)`,
    );
  }
}

// ---------------------------------------------------------------------------
// Co-located net workers.

/** One net worker's machine: a machine config (the worker runs its first net device). */
export type NetWorkerMachine = MachineConfig;

export interface NetLoopOptions {
  /** Packets per runNetPackets call between stop and deadline checks (default 4 × queue size). */
  chunk?: number;
  /** For tests: a fault to inject (throw, hang without heartbeat, or exit the thread). */
  fault?: Fault;
}

/** What one net worker moved in one run. */
export interface NetLoopResult {
  /** Frames delivered (see NetRunCounts.packets), summed over the worker's pairs. */
  packets: number;
  bytes: number;
  rounds: number;
  /** Device totals at the end of the run, for a cross-check. */
  deviceTxPackets: number;
  deviceDelivered: number;
  elapsedMs: number;
}

/**
 * The loop a net worker runs (on any thread): all pairs of `m` in turn, a
 * chunk of packets each, until `limits` are met or the control block says
 * stop. Bumps the heartbeat every chunk and publishes live counters (chains =
 * packets) as the driver role every 16 chunks and at the end.
 */
export function netLoop(
  ctl: Control | undefined,
  m: NetMachineDevice,
  limits: RunLimits,
  opts: NetLoopOptions = {},
): NetLoopResult {
  const pairs = m.driver.pairs.length;
  const chunk = opts.chunk ?? 4 * m.driver.pairs[0]!.tx.size;
  const target = limits.chains ?? Number.POSITIVE_INFINITY;
  const deadline = limits.durationMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + limits.durationMs;
  const fault = opts.fault;
  const i32 = ctl?.i32;
  const c = zeroCounters();
  const before = deviceDelivered(m);
  const beforeTx = m.device.totals().txPackets;
  let packets = 0;
  let rounds = 0;
  const t0 = performance.now();
  try {
    while (packets < target) {
      if (i32) {
        if (Atomics.load(i32, 0) !== 0) break;
        i32[W_DRV_BEAT] = (i32[W_DRV_BEAT]! + 1) | 0;
      }
      if (performance.now() >= deadline) break;
      if (fault && packets >= (fault.afterChains ?? 0)) injectFault(fault);
      for (let p = 0; p < pairs; p++) {
        const r = runNetPackets(m, p, Math.min(chunk, Math.max(1, target - packets)));
        packets += r.packets;
        rounds += r.rounds;
      }
      c.turns++;
      if (ctl && (c.turns & 15) === 0) {
        c.chains = c.added = packets;
        c.elapsedMs = performance.now() - t0;
        ctl.publish('driver', c);
      }
    }
  } finally {
    c.chains = c.added = packets;
    c.elapsedMs = performance.now() - t0;
    ctl?.publish('driver', c);
  }
  return {
    packets,
    bytes: packets * m.packetBytes,
    rounds,
    deviceTxPackets: m.device.totals().txPackets - beforeTx,
    deviceDelivered: deviceDelivered(m) - before,
    elapsedMs: c.elapsedMs,
  };
}

/** Frames the device delivered: put on RX (loopback, source) or read and dropped (sink). */
function deviceDelivered(m: NetMachineDevice): number {
  const t = m.device.totals();
  return m.backend === 'sink' ? t.sinkPackets : t.rxPackets;
}

function injectFault(f: Fault): void {
  if (f.kind === 'throw') throw new VqsimError('INJECTED_FAULT', 'net loop: injected fault');
  if (f.kind === 'exit') process.exit(7);
  for (;;) {
    /* 'hang': spin without a heartbeat until terminated */
  }
}

export interface NetWorkerOptions {
  /** A worker whose heartbeat stops this long is reported hung and terminated. Default 5000 ms. */
  hangTimeoutMs?: number;
  /** Label for errors (default "net worker 0"). */
  label?: string;
  loop?: NetLoopOptions;
}

/**
 * A worker thread with its own net machine. Fails as QueueWorker does: a
 * thread that dies or exits (WORKER_DIED), whose loop throws (WORKER_FAILED)
 * or whose heartbeat stops (WORKER_HUNG, and the thread is terminated) fails
 * every pending and later call with an error naming it, so nothing waits forever.
 */
export class NetWorker {
  private readonly thread: ThreadWorker<NetWorkerApi>;
  private readonly ctl = new Control(new SharedArrayBuffer(CONTROL_BYTES), 0);
  private running: Promise<NetLoopResult> | undefined;

  private constructor(
    readonly label: string,
    private readonly opts: NetWorkerOptions,
  ) {
    this.thread = new ThreadWorker<NetWorkerApi>('net-worker', label);
  }

  /** Starts a thread and builds its machine there. */
  static async start(machine: NetWorkerMachine, opts: NetWorkerOptions = {}): Promise<NetWorker> {
    const w = new NetWorker(opts.label ?? 'net worker 0', opts);
    try {
      await w.thread.call(() => w.thread.api.build(machine, wasmModule(), w.ctl.i32.buffer as SharedArrayBuffer));
    } catch (e) {
      await w.terminate();
      throw e;
    }
    return w;
  }

  /** The error the worker failed with, if it did (not counting a plain stop). */
  get error(): VqsimError | undefined {
    const e = this.thread.error;
    return e?.code === 'WORKER_STOPPED' ? undefined : e;
  }

  /** Runs the machine's packets for `ms` without counting (the Wasm functions tier up). */
  warm(ms: number): Promise<void> {
    return this.run({ durationMs: ms }).then(() => undefined);
  }

  /** Runs until `limits` are met or stop() is called; rejects, naming the worker, if it fails. */
  run(limits: RunLimits): Promise<NetLoopResult> {
    if (limits.chains === undefined && limits.durationMs === undefined) {
      return Promise.reject(new ConfigError('run limits: give chains or durationMs (or both)'));
    }
    if (this.running) return Promise.reject(new ConfigError(`${this.label}: a run is already going`));
    this.ctl.reset();
    const hangMs = this.opts.hangTimeoutMs ?? 5000;
    const beat = () => Atomics.load(this.ctl.i32, W_DRV_BEAT);
    const call = this.thread.call(() => this.thread.api.run(limits, this.opts.loop ?? {}));
    const run = this.thread.watch(call, beat, hangMs).finally(() => {
      this.running = undefined;
    });
    this.running = run;
    return run;
  }

  /** Live counters of the running loop (chains = packets). */
  stats(): ThreadCounters {
    return this.ctl.read('driver');
  }

  /** Asks a running loop to end after its current chunk. */
  stop(): void {
    this.ctl.stop();
  }

  /** Ends the thread as a crash would (for tests): pending calls fail with WORKER_DIED naming it. */
  kill(): Promise<number> {
    return this.thread.kill();
  }

  /** Ends the thread; later calls reject with WORKER_STOPPED. Safe to call twice. */
  async terminate(): Promise<void> {
    this.ctl.stop();
    if (this.running) await Promise.race([this.running.catch(() => {}), sleep(1000)]);
    await this.thread.terminate();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

export interface NetColocatedOptions extends NetWorkerOptions {
  /** Warm-up per worker before the timed run, in ms (default 200). */
  warmMs?: number;
}

/** What N co-located net workers did together. */
export interface NetColocatedReport {
  workers: NetLoopResult[];
  packets: number;
  bytes: number;
  /** Longest worker wall time, in seconds. */
  seconds: number;
  /** All packets over the longest worker wall time. */
  pps: number;
  /** Frame bits per second (frame bytes only, without the virtio header). */
  bitsPerSec: number;
}

/**
 * Starts `n` net workers, each with its own machine built from `machine`,
 * warms them, runs them all at once until `limits`, checks that each device
 * counted what its driver moved, and ends the workers. If any worker fails,
 * the others are stopped and the error, naming the worker, is thrown.
 */
export async function runNetColocated(
  n: number,
  machine: NetWorkerMachine,
  limits: RunLimits,
  opts: NetColocatedOptions = {},
): Promise<NetColocatedReport> {
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new ConfigError(`workers ${n}: must be from 1 to 256`);
  const workers: NetWorker[] = [];
  const stopAll = () => workers.forEach((w) => w.stop());
  try {
    const started = await Promise.allSettled(
      Array.from({ length: n }, (_, k) => NetWorker.start(machine, { ...opts, label: `net worker ${k}` })),
    );
    for (const s of started) if (s.status === 'fulfilled') workers.push(s.value);
    const bad = started.find((s) => s.status === 'rejected');
    if (bad) throw bad.reason;
    const warmMs = opts.warmMs ?? 200;
    if (warmMs > 0) {
      const warms = workers.map((w) => w.warm(warmMs));
      warms.forEach((r) => r.catch(stopAll));
      await Promise.all(warms);
    }
    const runs = workers.map((w) => w.run(limits));
    runs.forEach((r) => r.catch(stopAll));
    const results = await Promise.all(runs);
    results.forEach((r, k) => {
      if (r.deviceDelivered < r.packets) {
        throw new VqsimError(
          'NET_COUNT_MISMATCH',
          `net worker ${k}: device delivered ${r.deviceDelivered} frames, driver counted ${r.packets}`,
        );
      }
    });
    const packets = results.reduce((s, r) => s + r.packets, 0);
    const bytes = results.reduce((s, r) => s + r.bytes, 0);
    const seconds = Math.max(...results.map((r) => r.elapsedMs)) / 1000;
    const pps = seconds > 0 ? packets / seconds : 0;
    return { workers: results, packets, bytes, seconds, pps, bitsPerSec: seconds > 0 ? (bytes * 8) / seconds : 0 };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
