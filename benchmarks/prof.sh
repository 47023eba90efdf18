#!/bin/bash
# usage: prof.sh BIN MODE SECONDS: fresh local log, load MODE (unary|batch), perf of the whole server for SECONDS after 3 s
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$1; MODE=$2; SECS=${3:-15}
D=${OUT:-/tmp/accord-bench}/prof-$MODE; rm -rf $D; mkdir -p $D
$BIN serve --data $D/d --listen 127.0.0.1:50600 > $D/serve.log 2>&1 &
SP=$!
for i in $(seq 50); do grep -q 'serving a log' $D/serve.log && break; sleep 0.2; done
$BIN commitment register --server http://127.0.0.1:50600 --data $D/d --id global-commitment-dts --title "Global Commitment on Digital Trust and Security" --text $REPO/commitments/global-commitment-dts.txt > /dev/null
if [ $MODE = unary ]; then
  $BIN bench --server http://127.0.0.1:50600 --mode unary --requests 60000 --concurrency 128 --json > $D/bench.json &
else
  $BIN bench --server http://127.0.0.1:50600 --mode batch --requests 100000 --concurrency 8 --batch-size 1000 --json > $D/bench.json &
fi
BP=$!
sleep 3
perf record -F 499 -g --call-graph dwarf,32768 -p $SP -o $D/perf.data -- sleep $SECS > /dev/null 2>&1
wait $BP
cat $D/bench.json | head -c 600; echo
kill $SP; wait $SP 2>/dev/null
