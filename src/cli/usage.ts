import { VqsimError } from '../errors.js';

/** A bad command line: main prints the message as one line and exits with code 2. Code USAGE, side 'user'. */
export class UsageError extends VqsimError {
  constructor(message: string) {
    super('USAGE', message, 'user');
    this.name = 'UsageError';
  }
}

export const MAIN_HELP = `Usage: vqsim <command> [options]

Commands:
  bench [ring]      single-thread ring round trip (Wasm, TypeScript reference, native C)
  bench pingpong    round trip between a driver thread and a device thread
  bench colocated   co-located worker threads, 1..N, and their scaling
  bench net         virtio-net: Mpps and Gbps through loopback or sink
  bench blk         virtio-blk: IOPS and MB/s, random and sequential
  bench console     virtio-console: bytes per second through loopback
  bench swiotlb     swiotlb bounce pool: map+unmap at pool utilisations, bounce copy bandwidth
  study swiotlb     what each deployment's DMA path costs per size: measured rate and modeled cycles
  study pool        how big a bounce pool the queues need: refusals, high-water, slots scanned
  merge             put the --shard slices of a study back together (and --html their report)
  calibrate         measure this machine's swiotlb costs and write a cost file for study --cost
  attack            every violation of the trust catalogue, hardened and naive, per deployment
  fuzz              seeded fuzzing of rings, devices and transports against the trust invariants
  policy check      validate Cedar trust policy files against the schema
  policy explain    what a trust policy (file or preset) decides for one device

Options:
  --csv, --markdown   with any command that prints --json: its rows as CSV or a Markdown table
  -h, --help          show this help; vqsim help <command> (or vqsim <command> --help) for its options
  -V, --version       print vqsim's version
  -q, --quiet         no progress line and no noise warnings on stderr (--json keeps the warnings)

Every --json prints one result document (meta, rows, warnings): see
schema/result.schema.json and the README's "Result documents".

Examples:
  vqsim bench                          the ring round trip, every default case
  vqsim help bench net                 the options of vqsim bench net
  vqsim bench blk --mode randread --time 1s --json > blk.json
  vqsim attack --deployment cvm
`;

export const BENCH_HELP = `Usage: vqsim bench [ring] [options]

Round trip on one virtqueue, single thread: the driver adds a batch of chains
(one addBatch call), kicks, the device pops the batch (one call), pushes it back
used (one call) and decides whether to interrupt, and the driver reaps it (one
call). A batch is as many chains as fit: queue size / chain length for direct
chains, queue size for indirect ones. Each chain is chain-length device-readable
buffers of buffer-bytes each (a virtio-net TX-like chain; used len = 0), every
buffer distinct, in shared guest pages. Each case checks that the queue's stats
count every chain it timed. Rates come from the median timed iteration, and
the median of --rounds rounds of the whole matrix; ratios compare each case's
best round, the one least disturbed by other load. Lists are comma-separated;
every combination runs.

Options:
  --queue-size <n,...>      queue sizes from 1 to 32768, powers of two for split (default 256)
  --chain-lengths <n,...>   descriptors per chain, 1 to the queue size (default 1,4,16)
  --indirect <off,on>       indirect descriptors (default off,on)
  --event-idx <off,on>      VIRTIO_F_EVENT_IDX (default off,on)
  --in-order <off,on>       VIRTIO_F_IN_ORDER, packed rings only (default off)
  --engine <wasm,reference> Wasm core and/or the plain TypeScript model (default both)
  --ring <split,packed>     ring layouts (default split); packed sizes need not be powers of two
  --buffer-bytes <n,...>    bytes per buffer, 1 to 65536; 4k, 64KiB (default 64)
  --hardened <on,off>       the rings' trust checks on and/or off (naive; Wasm only) (default on)
  --nospec <off,on>         mask device-supplied indices after their check (default off)
  --used-len-check <driver,ring>
                            where used.len is checked: by the drivers, or at ring
                            level against the posted writable bytes (default driver)
  --time <ms>               measuring time per case, 1 to 600000 ms; 500ms, 2s (default 200)
  --warmup <ms>             tinybench's untimed warm-up per case, 0 to 60000 ms
                            (default a quarter of --time, at most 100)
  --rounds <n>              times the whole matrix runs, 1 to 50; each case
                            reports its median round (default 3)
  --policy <file|preset>    a trust policy: the ring layouts and features it does not let
                            a virtio-net driver negotiate are left out (and said)
  --json                    print JSON instead of a table
  --no-native               skip the native C loop (built with cc -O2 when a compiler exists)
  -h, --help                show this help

Table columns: Mchains/s (median round; 'best' is the best round) and ns/chain
per engine, Wasm ÷ reference, for one-descriptor split chains the native C port
of the same work and Wasm ÷ native, packed ÷ split, and hardened ÷ naive. A
'!' first marks a row with a noise warning (rme over 5%, rounds spread over 10%).

Examples:
  vqsim bench --chain-lengths 1 --indirect off --event-idx on
  vqsim bench ring --ring split,packed --queue-size 256 --time 500ms --rounds 5
  vqsim bench --engine wasm --no-native --json > ring.json
`;
