#!/bin/bash
# usage: batch.sh BIN PORT HTTPPORT: fresh local log with tiles; SubmitBatch 100k; mirror; audit --tiles of the mirror served by node; RSS; disk
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$1; PORT=$2; HP=$3; D=${OUT:-/tmp/accord-bench}/batch; rm -rf $D; mkdir -p $D
$BIN serve --data $D/d --listen 127.0.0.1:$PORT --http-listen 127.0.0.1:$HP > $D/serve.log 2>&1 &
SP=$!
for i in $(seq 50); do grep -q 'serving a log' $D/serve.log && break; sleep 0.2; done
U=http://127.0.0.1:$PORT
$BIN commitment register --server $U --data $D/d --id global-commitment-dts --title "Global Commitment on Digital Trust and Security" --text $REPO/commitments/global-commitment-dts.txt > /dev/null
echo "== batch"; $BIN bench --server $U --mode batch --requests 100000 --concurrency 8 --batch-size 1000 --json; echo
grep VmRSS /proc/$SP/status
$BIN checkpoint --server $U > /dev/null
VKEY=$(grep -o 'verifier key: [^ ]*' $D/serve.log | head -1 | cut -d' ' -f3)
echo "vkey: $VKEY"
echo "== mirror"; /usr/bin/time -f "%e s, %M KB" $BIN mirror --server http://127.0.0.1:$HP --vkey "$VKEY" --out $D/mirror 2>&1 | tail -2
kill $SP; wait $SP 2>/dev/null
node $REPO/benchmarks/static.js $D/mirror 18700 & NP=$!
sleep 1
echo "== audit --tiles of the mirror (node static server)"; /usr/bin/time -f "%e s, %M KB, %P CPU" $BIN audit --tiles http://127.0.0.1:18700 --vkey "$VKEY" --quiet 2>&1 | tail -3
kill $NP
du -sb $D/d/db
$REPO/target/release/examples/dbstats $D/d/db
