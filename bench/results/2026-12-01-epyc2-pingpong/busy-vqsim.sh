#!/bin/bash
# pairs of (quiet, busy) runs; prints ratio per pair
N=${N:-10}
rate() { node bin/vqsim.js bench pingpong "$@" --time 1s --json 2>/dev/null | node -e 'const d=JSON.parse(require("fs").readFileSync(0));console.log((d.rows[0].roundTripsPerSec/1e6).toFixed(2))'; }
for cfg in "split" "packed" "split --like-ringtest" "packed --like-ringtest"; do
  out=""
  for i in $(seq $N); do
    q=$(rate --ring $cfg)
    node -e 'for(;;){}' & B=$!
    sleep 0.3
    b=$(rate --ring $cfg)
    kill $B; wait $B 2>/dev/null
    out="$out $q/$b"
  done
  echo "$cfg:$out"
done
