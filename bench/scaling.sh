#!/usr/bin/env bash
# Multi-core figures for the README, on a machine with more cores than the
# 2-core development machines: co-located workers 1..16 (bare rings, and
# virtio-net with the sink and loopback backends), the two-thread pingpong,
# and one-thread virtio-net. Every multi-worker figure is the median of
# --rounds rounds, each scaled against its own one-worker run. Usage:
#   bench/scaling.sh OUTDIR [NODE] [CLI] [WORKERS]
# NODE defaults to `node`, CLI to bin/vqsim.js, WORKERS to 1,2,4,8,16; on a
# bare machine, unpack a Node binary first and carry dist/ with
# node_modules/comlink and tinybench.
set -euo pipefail
out=${1:?usage: bench/scaling.sh OUTDIR [NODE] [CLI] [WORKERS]}
node=${2:-node}
cli=${3:-bin/vqsim.js}
workers=${4:-1,2,4,8,16}
time=${VQSIM_SCALING_MS:-1000}
rounds=${VQSIM_SCALING_ROUNDS:-3}
mkdir -p "$out"
{
  echo "node $("$node" --version)"
  nproc
  lscpu | grep -E 'Model name|^CPU\(s\)|Thread|Core|Socket|NUMA node\(s\)|MHz' || true
} > "$out/machine.txt"
run() {
  local name=$1
  shift
  echo "$(date +%T) $name" >&2
  "$node" "$cli" bench "$@" --json > "$out/$name.json"
}
run colocated colocated --workers "$workers" --time "$time" --rounds "$rounds"
run net-workers net --workers "$workers" --packet-bytes 64 --ring split,packed --backend sink,loopback --time "$time" --rounds "$rounds"
run net-1thread net --queues 1 --packet-bytes 64 --ring split,packed --backend sink,source,loopback --time "$time" --rounds "$rounds"
run pingpong pingpong --time "$time"
