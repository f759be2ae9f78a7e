#!/usr/bin/env bash
# Multi-core figures for the README, on a machine with more cores than the
# 2-core development machines: co-located workers 1..16, the two-thread
# pingpong, and virtio-net on co-located workers. Usage:
#   bench/scaling.sh OUTDIR [NODE] [CLI]
# NODE defaults to `node`, CLI to bin/vqsim.js; on a bare machine, unpack a
# Node binary first and carry dist/ with node_modules/comlink and tinybench.
set -euo pipefail
out=${1:?usage: bench/scaling.sh OUTDIR [NODE]}
node=${2:-node}
cli=${3:-bin/vqsim.js}
time=${VQSIM_SCALING_MS:-1000}
mkdir -p "$out"
{
  echo "node $("$node" --version)"
  nproc
  lscpu | grep -E 'Model name|^CPU\(s\)|Thread|Core|Socket|NUMA node\(s\)' || true
} > "$out/machine.txt"
"$node" "$cli" bench colocated --workers 1,2,4,8,16 --time "$time" --json > "$out/colocated.json"
"$node" "$cli" bench pingpong --time "$time" --json > "$out/pingpong.json"
"$node" "$cli" bench net --workers 1,2,4,8,16 --packet-bytes 64 --ring split,packed --time "$time" --json > "$out/net.json"
