import { Bench } from 'tinybench';
import { VqsimError } from '../../errors.js';
import { statsPerOp, type SampleStats } from '../result.js';
import {
  createQueue,
  GuestMemory,
  RequestBatch,
  type EngineName,
  type RingKind,
  type UsedLenCheck,
  type Virtqueue,
} from '../../internal.js';

/** One configuration of the ring round-trip benchmark. */
export interface RingCase {
  engine: EngineName;
  ring: RingKind;
  queueSize: number;
  chainLength: number;
  indirect: boolean;
  /** VIRTIO_F_IN_ORDER (packed only): one used descriptor per pushed batch. */
  inOrder: boolean;
  eventIdx: boolean;
  bufferBytes: number;
  /** Both faces run their trust checks (false: the naive mode the attack scenarios compare with). */
  hardened: boolean;
  /** Device-supplied indices masked after their check (array_index_nospec). */
  nospec: boolean;
  /** Where the driver checks used.len: 'driver' (left to the drivers) or 'ring' (desc_state buflen). */
  usedLenCheck: UsedLenCheck;
}

export interface RingResult extends SampleStats {
  chainsPerSec: number;
  nsPerChain: number;
  /** Chains per timed tinybench iteration, and iterations timed. */
  chainsPerIteration: number;
  iterations: number;
  /** Relative margin of error of the mean iteration time, in percent. */
  rme: number;
}

/** Chains one round trip carries: as many as fit in the ring at once. */
export function batchChains(c: Pick<RingCase, 'queueSize' | 'chainLength' | 'indirect'>): number {
  // An indirect chain takes one ring descriptor; Linux (and the core) use a
  // table only for chains of more than one buffer.
  const perChain = c.indirect && c.chainLength > 1 ? 1 : c.chainLength;
  return Math.min(c.queueSize, Math.floor(c.queueSize / perChain));
}

/** Round trips per timed iteration: about 2^18 descriptors, so the per-iteration overhead is negligible. */
export function roundsPerIteration(c: Pick<RingCase, 'queueSize' | 'chainLength' | 'indirect'>): number {
  return Math.max(16, Math.ceil(2 ** 18 / (batchChains(c) * c.chainLength)));
}

export function caseName(c: RingCase): string {
  return [
    c.ring,
    `q${c.queueSize}`,
    `chain${c.chainLength}`,
    c.indirect ? 'indirect' : 'direct',
    c.eventIdx ? 'evidx' : 'noevidx',
    ...(c.inOrder ? ['inorder'] : []),
    `${c.bufferBytes}B`,
    ...(c.hardened ? [] : ['naive']),
    ...(c.nospec ? ['nospec'] : []),
    ...(c.usedLenCheck === 'ring' ? ['lencheck-ring'] : []),
    c.engine,
  ].join('/');
}

/**
 * A benchmark that did not run as it should: counters that disagree with what
 * the loop counted, a run that stalled or did not complete. Code BENCH_SANITY,
 * side 'host'.
 */
export class BenchSanityError extends VqsimError {
  constructor(message: string) {
    super('BENCH_SANITY', message, 'host');
    this.name = 'BenchSanityError';
  }
}

/**
 * A queue, its buffers and a prepared batch, with the round-trip loop. The
 * loop makes one call per step per batch and counts the chains that come back;
 * check() compares the count with the queue's stats block.
 */
export class RingRoundTrip {
  readonly queue: Virtqueue;
  readonly batch: RequestBatch;
  readonly batchChains: number;
  readonly rounds: number;
  /** Chains reaped so far, counted by the loop. */
  counted = 0;

  constructor(readonly c: RingCase) {
    const batchChainCount = batchChains(c);
    const buffers = batchChainCount * c.chainLength;
    const indirectMax = c.indirect ? Math.min(c.queueSize, Math.max(32, c.chainLength)) : undefined;
    // Guest RAM for the ring, driver state, indirect tables, batch, buffers and reap output, with room to spare.
    const need =
      c.queueSize * (16 + 2 + 8 + 16 + 8 + 8 + (indirectMax ?? 0) * 16) +
      buffers * (c.bufferBytes + 16) +
      batchChainCount * 16 +
      64 * 4096;
    const mem = new GuestMemory({ size: Math.max(1, Math.ceil(need / 2 ** 20) + 1) * 2 ** 20 });
    // popElements lets one popBatch take the whole batch (createQueue hands it to the split queue).
    const options = {
      ring: c.ring,
      size: c.queueSize,
      eventIdx: c.eventIdx,
      indirect: c.indirect,
      inOrder: c.inOrder,
      indirectMax,
      engine: c.engine,
      hardened: c.hardened,
      nospec: c.nospec,
      usedLenCheck: c.usedLenCheck,
      // The case name is too long for a stats block name ("<name>.driver",
      // at most STATS_NAME_BYTES); one queue per machine needs no more than this.
      name: 'bench',
      popElements: Math.max(4 * c.queueSize, 1024, buffers),
    };
    this.queue = createQueue(mem, options);
    const base = mem.alloc(buffers * c.bufferBytes, { shared: true });
    this.batch = new RequestBatch(mem, batchChainCount, buffers);
    for (let k = 0; k < batchChainCount; k++) {
      const out = [];
      for (let j = 0; j < c.chainLength; j++) {
        out.push({ addr: base + (k * c.chainLength + j) * c.bufferBytes, len: c.bufferBytes });
      }
      this.batch.add(out, [], k, c.indirect);
    }
    this.batchChains = batchChainCount;
    this.rounds = roundsPerIteration(c);
  }

  /** `rounds` round trips; throws unless every chain of every batch came back. */
  run(rounds = this.rounds): void {
    const { driver, device } = this.queue;
    const batch = this.batch;
    let added = 0;
    let popped = 0;
    let reaped = 0;
    for (let r = 0; r < rounds; r++) {
      added += driver.addBatch(batch);
      driver.kick();
      const n = device.popBatch();
      popped += n;
      device.pushPopped(n);
      device.shouldNotify();
      reaped += driver.reap();
    }
    this.counted += reaped;
    const want = rounds * this.batchChains;
    if (added !== want || popped !== want || reaped !== want) {
      throw new BenchSanityError(
        `${caseName(this.c)}: ${rounds} round trips of ${this.batchChains} chains added ${added}, popped ${popped}, reaped ${reaped}; expected ${want} each`,
      );
    }
  }

  /** The stats block must have counted exactly the chains the loop counted. */
  check(): void {
    const s = this.queue.stats();
    if (s.chainsCompleted !== this.counted || s.chainsAdded !== this.counted || s.chainsUsed !== this.counted) {
      throw new BenchSanityError(
        `${caseName(this.c)}: stats say ${s.chainsAdded} added, ${s.chainsUsed} used, ${s.chainsCompleted} completed, but the loop counted ${this.counted}`,
      );
    }
  }
}

/**
 * Measures one case with tinybench: warms up with batched calls (Wasm tiers
 * up per call; there is no on-stack replacement), then times iterations of
 * `rounds` round trips each for about `timeMs`; the rate comes from the
 * median iteration.
 */
export async function measureRing(
  c: RingCase,
  timeMs: number,
  warmupMs = Math.min(100, timeMs / 4),
): Promise<RingResult> {
  const rt = new RingRoundTrip(c);
  // Our own warm-up: many short calls so every function reaches the top tier.
  const warmRounds = Math.min(rt.rounds, 64);
  for (let k = 0; k < 20; k++) rt.run(warmRounds);
  const bench = new Bench({
    name: caseName(c),
    time: timeMs,
    iterations: 3,
    warmupTime: warmupMs,
    warmupIterations: warmupMs > 0 ? 2 : 0,
    throws: true,
  });
  bench.add(caseName(c), () => rt.run());
  await bench.run();
  rt.check();
  const task = bench.tasks[0];
  const result = task?.result;
  if (!result || (result.state !== 'completed' && result.state !== 'aborted-with-statistics')) {
    throw new BenchSanityError(`${caseName(c)}: tinybench did not complete (${result?.state ?? 'no task'})`);
  }
  const chainsPerIteration = rt.rounds * rt.batchChains;
  // The median iteration, not the mean: on a shared machine a few iterations
  // that lost the core would otherwise decide the figure (and every ratio).
  const stats = statsPerOp(result.latency, chainsPerIteration, 'ns/chain');
  const nsPerChain = stats.median;
  return {
    ...stats,
    chainsPerSec: 1e9 / nsPerChain,
    nsPerChain,
    chainsPerIteration,
    iterations: result.latency.samplesCount,
    rme: result.latency.rme,
  };
}
