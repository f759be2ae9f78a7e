#!/bin/bash
N=${N:-10}
D=${RINGTEST:-/tmp/ringtest/tools/virtio/ringtest}
rate() { local c=$2; local t0=$(date +%s.%N); $D/$1 --run-cycles $c >/dev/null 2>&1; local t1=$(date +%s.%N); echo "scale=2; $c / ($t1 - $t0) / 1000000" | bc; }
for b in virtio_ring_0_9:10000000 ring:50000000; do
  name=${b%%:*}; c=${b##*:}; out=""
  for i in $(seq $N); do
    q=$(rate $name $c)
    node -e 'for(;;){}' & B=$!; sleep 0.3
    bb=$(timeout 60 bash -c "$(declare -f rate); D=$D; rate $name $c")
    kill $B; wait $B 2>/dev/null
    out="$out $q/$bb"
  done
  echo "$name:$out"
done
