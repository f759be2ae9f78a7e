// Queues on worker threads over one shared memory: co-located workers (driver
// and device of a queue on one thread, N queues on N threads in parallel) and
// split pairs (driver thread and device thread ringing doorbells).
import { ConfigError, VqsimError } from '../errors.js';
import type { Virtqueue } from '../virtqueue/queue.js';
import type { QueueStats } from '../virtqueue/stats.js';
import { oneBufferBatch, queueHandle, type BatchHandle, type QueueHandle } from './attach.js';
import { Control, type ThreadCounters } from './control.js';
import type { DevicePublish, Fault, RunLimits } from './loops.js';
import { QueueWorker } from './queue-worker.js';

export type { ThreadCounters } from './control.js';
export type { DevicePublish, RunLimits, Fault } from './loops.js';

function checkLimits(l: RunLimits): void {
  if (l.chains === undefined && l.durationMs === undefined) {
    throw new ConfigError('run limits: give chains or durationMs (or both)');
  }
  if (l.chains !== undefined && (!Number.isInteger(l.chains) || l.chains < 0)) {
    throw new ConfigError(`chains ${l.chains}: must be a whole number of at least 0`);
  }
  if (l.durationMs !== undefined && !(l.durationMs >= 0)) {
    throw new ConfigError(`durationMs ${l.durationMs}: must be at least 0`);
  }
}

function sameMemory(queues: readonly Virtqueue[]): void {
  if (queues.length === 0) throw new ConfigError('queues: give at least one');
  const m = queues[0]!.mem.memory;
  for (const q of queues) {
    if (q.mem.memory !== m) throw new ConfigError(`queue ${q.name}: lives in another machine's memory`);
  }
}

const names = (queues: readonly Virtqueue[]) => queues.map((q) => q.name).join(',');

export interface ColocatedOptions {
  /** Device-writable bytes of each chain's one buffer. Default 64. */
  chainBytes?: number;
  /** Chains each driver adds per turn (at most the queue size). Default the queue size. */
  batch?: number;
  /** A worker whose heartbeat stops this long is reported hung and terminated. Default 5000 ms. */
  hangTimeoutMs?: number;
  /** Check every completion (tokens in order, exactly once, len). Default false. */
  verify?: boolean;
  /** For tests: a fault to inject into the loop. */
  fault?: Fault;
}

/** What a co-located run did. */
export interface ColocatedResult extends ThreadCounters {
  queues: string[];
  /** Completed chains per second of the loop's wall time. */
  chainsPerSec: number;
}

/**
 * A worker thread that runs the driver and the device side of its queues
 * (co-located): per queue and turn, add a batch → pop → push → reap, each
 * step one call into the core. Control goes through comlink (run) and the
 * control block (stop, live stats), since the loop blocks the thread.
 */
export class ColocatedWorker {
  private readonly batches: BatchHandle[];
  private readonly handles: QueueHandle[];
  private running: Promise<ColocatedResult> | undefined;

  private constructor(
    readonly queues: readonly Virtqueue[],
    private readonly worker: QueueWorker,
    private readonly ctl: Control,
    private readonly opts: ColocatedOptions,
  ) {
    const bytes = opts.chainBytes ?? 64;
    this.handles = queues.map(queueHandle);
    this.batches = queues.map((q) => {
      const n = opts.batch ?? q.size;
      if (!Number.isInteger(n) || n < 1 || n > q.size) {
        throw new ConfigError(`batch ${n}: must be from 1 to the queue size (${q.size}) of ${q.name}`);
      }
      const b = oneBufferBatch(q.mem, n, bytes);
      return { ptr: b.ptr, maxChains: n };
    });
  }

  /** Starts a thread for `queues` (all in one machine's memory, each driven by nothing else meanwhile). */
  static async start(queues: readonly Virtqueue[], opts: ColocatedOptions = {}): Promise<ColocatedWorker> {
    sameMemory(queues);
    const mem = queues[0]!.mem;
    const w = await QueueWorker.start(mem, `${names(queues)}: co-located worker`);
    try {
      return new ColocatedWorker(queues, w, Control.alloc(mem), opts);
    } catch (e) {
      await w.terminate();
      throw e;
    }
  }

  /** Runs until `limits` are met or stop() is called. Rejects, naming the queues, if the worker fails. */
  run(limits: RunLimits): Promise<ColocatedResult> {
    checkLimits(limits);
    if (this.running) return Promise.reject(new ConfigError(`${names(this.queues)}: a run is already going`));
    this.ctl.reset();
    const slots = this.handles.map((queue, k) => ({ queue, batch: this.batches[k]! }));
    const opts = { verify: this.opts.verify, chainBytes: this.opts.chainBytes ?? 64, fault: this.opts.fault };
    const call = this.worker.call(() => this.worker.api.colocated(slots, this.ctl.addr, limits, opts));
    const run = this.worker
      .watch(call, () => this.ctl.beat('driver'), this.opts.hangTimeoutMs ?? 5000)
      .then((c) => ({ ...c, queues: this.queues.map((q) => q.name), chainsPerSec: rate(c) }))
      .finally(() => {
        this.running = undefined;
      });
    this.running = run;
    return run;
  }

  /** Asks a running loop to end after its current turn. */
  stop(): void {
    this.ctl.stop();
  }

  /** Live counters of the loop (published every 64 turns and at the end), and each queue's stats block. */
  stats(): { thread: ThreadCounters; queues: QueueStats[] } {
    return { thread: this.ctl.read('driver'), queues: this.queues.map((q) => q.stats()) };
  }

  /** The worker's failure, if it failed. */
  get error(): VqsimError | undefined {
    const e = this.worker.error;
    return e?.code === 'WORKER_STOPPED' ? undefined : e;
  }

  /** Stops a running loop and ends the thread. */
  async close(): Promise<void> {
    this.ctl.stop();
    if (this.running) await this.running.catch(() => {});
    await this.worker.terminate();
  }
}

function rate(c: ThreadCounters): number {
  return c.elapsedMs > 0 ? (c.chains * 1000) / c.elapsedMs : 0;
}

/** What N co-located workers did together. */
export interface ColocatedReport {
  workers: ColocatedResult[];
  chains: number;
  /** Longest worker wall time, in seconds. */
  seconds: number;
  /** All chains over the longest worker wall time. */
  chainsPerSec: number;
}

/**
 * Runs each group of queues on its own co-located worker, all at once, and
 * ends the workers. With `chains`, each worker completes that many. If any
 * worker fails, the others are stopped and the error (naming the queues of
 * the worker that failed) is thrown.
 */
export async function runColocated(
  groups: readonly (readonly Virtqueue[])[],
  limits: RunLimits,
  opts: ColocatedOptions = {},
): Promise<ColocatedReport> {
  checkLimits(limits);
  const workers: ColocatedWorker[] = [];
  try {
    for (const g of groups) workers.push(await ColocatedWorker.start(g, opts));
    const runs = workers.map((w) => w.run(limits));
    // The first failure stops the rest, so nothing is left running.
    runs.forEach((r) => r.catch(() => workers.forEach((w) => w.stop())));
    const results = await Promise.all(runs);
    const chains = results.reduce((s, r) => s + r.chains, 0);
    const seconds = Math.max(...results.map((r) => r.elapsedMs)) / 1000;
    return { workers: results, chains, seconds, chainsPerSec: seconds > 0 ? chains / seconds : 0 };
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
}

export interface SplitPairOptions {
  /** Device-writable bytes of each chain's one buffer. Default 64. */
  chainBytes?: number;
  /** Most chains in flight (ringtest's max_outstanding). Default the queue size. */
  maxInflight?: number;
  /** Most chains the device thread pops and pushes back per call. Default the queue size. */
  deviceBatch?: number;
  /** One publish per call ('batch', default) or one per chain ('each', ringtest's use_buf()); see DevicePublish. */
  publish?: DevicePublish;
  /**
   * How long in µs a thread spins before it sleeps when the other thread is
   * asleep or away, and how long the other's heartbeat must stop before it
   * counts as stalled (see LoopOptions.spinUs). Default 20.
   */
  spinUs?: number;
  /** Most µs a thread spins for a stalled partner that waits for another CPU (LoopOptions.spinMaxUs). Default 10000. */
  spinMaxUs?: number;
  /** Most empty polls before sleeping, whatever the other thread does (tests: exercise the races). Unlimited by default. */
  maxPolls?: number;
  /** Longest single Atomics.wait in ms (how fast a sleeping thread notices stop). Default 20. */
  waitMs?: number;
  /** The driver sleeps until 3/4 of what is in flight completed (virtqueue_enable_cb_delayed). Default true. */
  delayedCallbacks?: boolean;
  /** A thread whose heartbeat stops this long is reported hung and terminated. Default 5000 ms. */
  hangTimeoutMs?: number;
  /**
   * A run in which no chain completes for this long ends with NO_PROGRESS
   * (the device side is alive but serves nothing: a heartbeat alone does not
   * show it). The pair is stopped. Default 10000 ms.
   */
  progressTimeoutMs?: number;
  /** Check every completion (tokens in order, exactly once, len). Default false. */
  verify?: boolean;
  /** For tests: faults to inject into either loop. */
  driverFault?: Fault;
  deviceFault?: Fault;
}

/** Counters of both threads of a split pair, and the queue's stats block. */
export interface SplitPairStats {
  driver: ThreadCounters;
  device: ThreadCounters;
  queue: QueueStats;
}

/**
 * A queue whose driver side and device side run on two threads, as Linux's
 * tools/virtio/ringtest does: each side polls the ring while the other runs,
 * and when the other is asleep, away, or waiting for this side's own CPU (or
 * stalled for longer than the spin budget), enables notifications,
 * re-checks, and sleeps on its doorbell word (Atomics.wait from JavaScript,
 * always with a timeout); the other side rings the word when kick_prepare /
 * should_notify say so. So two threads on two free cores never sleep, and a
 * pair that shares its cores with other work hands them over instead of
 * spinning them away (see the Waiter in loops.ts). The device thread runs
 * from start() to stop(); run() drives chains through it.
 */
export class SplitPair {
  private readonly ctl: Control;
  private readonly handle: QueueHandle;
  private readonly batch: BatchHandle;
  private readonly device: Promise<ThreadCounters>;
  private deviceResult: ThreadCounters | undefined;
  private driving: Promise<ThreadCounters> | undefined;
  private closed = false;

  private constructor(
    readonly queue: Virtqueue,
    private readonly driverWorker: QueueWorker,
    private readonly deviceWorker: QueueWorker,
    private readonly opts: SplitPairOptions,
  ) {
    const mem = queue.mem;
    const inflight = opts.maxInflight ?? queue.size;
    if (!Number.isInteger(inflight) || inflight < 1 || inflight > queue.size) {
      throw new ConfigError(`maxInflight ${inflight}: must be from 1 to the queue size (${queue.size})`);
    }
    this.ctl = Control.alloc(mem);
    this.handle = queueHandle(queue);
    const b = oneBufferBatch(mem, inflight, opts.chainBytes ?? 64);
    this.batch = { ptr: b.ptr, maxChains: inflight };
    const devOpts = {
      spinUs: opts.spinUs,
      spinMaxUs: opts.spinMaxUs,
      maxPolls: opts.maxPolls,
      waitMs: opts.waitMs,
      deviceBatch: opts.deviceBatch,
      publish: opts.publish,
      fault: opts.deviceFault,
    };
    const call = deviceWorker.call(() => deviceWorker.api.device(this.handle, this.ctl.addr, devOpts));
    this.device = deviceWorker.watch(call, () => this.ctl.beat('device'), this.hangMs);
    this.device.then(
      (c) => (this.deviceResult = c),
      () => this.ctl.stop(),
    );
    // Either thread failing ends the other's loop.
    driverWorker.dead.catch(() => this.ctl.stop());
  }

  private get hangMs(): number {
    return this.opts.hangTimeoutMs ?? 5000;
  }

  /** Starts the two threads over `queue`'s memory; the device thread starts serving at once. */
  static async start(queue: Virtqueue, opts: SplitPairOptions = {}): Promise<SplitPair> {
    const [drv, dev] = await Promise.all([
      QueueWorker.start(queue.mem, `${queue.name}: driver worker`),
      QueueWorker.start(queue.mem, `${queue.name}: device worker`),
    ]);
    try {
      return new SplitPair(queue, drv, dev, opts);
    } catch (e) {
      await Promise.all([drv.terminate(), dev.terminate()]);
      throw e;
    }
  }

  /**
   * Drives chains from the driver thread until `limits` are met, then waits
   * for what is in flight. Rejects, naming the queue, if either thread fails.
   */
  run(limits: RunLimits): Promise<ThreadCounters> {
    checkLimits(limits);
    if (this.closed) return Promise.reject(new VqsimError('WORKER_STOPPED', `${this.queue.name}: split pair stopped`));
    if (this.driving) return Promise.reject(new ConfigError(`${this.queue.name}: a run is already going`));
    const w = this.driverWorker;
    const opts = {
      spinUs: this.opts.spinUs,
      spinMaxUs: this.opts.spinMaxUs,
      maxPolls: this.opts.maxPolls,
      waitMs: this.opts.waitMs,
      delayedCallbacks: this.opts.delayedCallbacks,
      maxInflight: this.batch.maxChains,
      verify: this.opts.verify,
      chainBytes: this.opts.chainBytes ?? 64,
      fault: this.opts.driverFault,
    };
    const call = w.call(() => w.api.driver(this.handle, this.batch, this.ctl.addr, limits, opts));
    const deviceFailed = this.device.then(() => {
      throw this.deviceWorker.error ?? new VqsimError('WORKER_STOPPED', `${this.queue.name}: device worker stopped`);
    });
    deviceFailed.catch(() => {});
    const progress = this.watchProgress(limits);
    const run = Promise.race([
      w.watch(call, () => this.ctl.beat('driver'), this.hangMs),
      deviceFailed,
      progress.stalled,
    ]).finally(() => {
      progress.end();
      this.driving = undefined;
    });
    this.driving = run;
    return run;
  }

  /**
   * The progress watchdog of a run: the driver thread's completed-chain
   * count (published every 64 turns and after each wait) must move at least
   * once per progressTimeoutMs, or the run ends with NO_PROGRESS and both
   * loops are stopped. A run bounded only by a chain count then ends
   * instead of waiting for ever on a device that is alive and serves nothing.
   */
  private watchProgress(limits: RunLimits): { stalled: Promise<never>; end: () => void } {
    const ms = this.opts.progressTimeoutMs ?? 10_000;
    let fail: (e: VqsimError) => void = () => {};
    const stalled = new Promise<never>((_, reject) => (fail = reject));
    stalled.catch(() => {});
    let last = this.ctl.read('driver').chains;
    let since = Date.now();
    const timer = setInterval(
      () => {
        const now = this.ctl.read('driver').chains;
        if (now !== last) {
          last = now;
          since = Date.now();
          return;
        }
        if (Date.now() - since < ms) return;
        clearInterval(timer);
        this.ctl.stop();
        const want = limits.chains === undefined ? '' : ` of ${limits.chains}`;
        fail(
          new VqsimError(
            'NO_PROGRESS',
            `${this.queue.name}: no chain completed for ${ms} ms (${now}${want} done): the device stopped serving`,
            'device',
          ),
        );
      },
      Math.max(5, Math.min(250, ms / 4)),
    );
    timer.unref();
    return { stalled, end: () => clearInterval(timer) };
  }

  /** Live counters of both threads (published every 64 loop turns and after each wait) and the queue's stats. */
  stats(): SplitPairStats {
    return { driver: this.ctl.read('driver'), device: this.ctl.read('device'), queue: this.queue.stats() };
  }

  /** The first failure of either thread, if any. */
  get error(): VqsimError | undefined {
    for (const e of [this.driverWorker.error, this.deviceWorker.error]) {
      if (e && e.code !== 'WORKER_STOPPED') return e;
    }
    return undefined;
  }

  /** Stops both loops and ends both threads; returns the final counters. Safe to call twice. */
  async stop(): Promise<SplitPairStats> {
    this.ctl.stop();
    if (!this.closed) {
      this.closed = true;
      if (this.driving) await this.driving.catch(() => {});
      await this.device.catch(() => {});
      await Promise.all([this.driverWorker.terminate(), this.deviceWorker.terminate()]);
    }
    const s = this.stats();
    if (this.deviceResult) s.device = this.deviceResult;
    return s;
  }
}
