#!/bin/bash
# usage: unary.sh BIN PORT: fresh local log; unary peak; then half-peak rate p99; proofs at 1/4/16 streams; RSS; disk
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$1; PORT=$2; D=${OUT:-/tmp/accord-bench}/unary; rm -rf $D; mkdir -p $D
$BIN serve --data $D/d --listen 127.0.0.1:$PORT > $D/serve.log 2>&1 &
SP=$!
for i in $(seq 50); do grep -q 'serving a log' $D/serve.log && break; sleep 0.2; done
U=http://127.0.0.1:$PORT
$BIN commitment register --server $U --data $D/d --id global-commitment-dts --title "Global Commitment on Digital Trust and Security" --text $REPO/commitments/global-commitment-dts.txt > /dev/null
echo "== unary peak"; $BIN bench --server $U --mode unary --requests 60000 --concurrency 128 --json | tee $D/peak.json; echo
PEAK=$(python3 -c "import json;print(int(json.load(open('$D/peak.json'))['throughput_per_sec']))")
HALF=$((PEAK/2))
echo "== unary at half the peak: $HALF/s"; $BIN bench --server $U --mode unary --requests $((HALF*20)) --concurrency 128 --rate $HALF --json; echo
for c in 1 4 16; do echo "== proof, $c streams"; $BIN bench --server $U --mode proof --requests 10000 --concurrency $c --json; echo; done
grep VmRSS /proc/$SP/status
kill $SP; wait $SP 2>/dev/null
du -sb $D/d/db
