#!/bin/bash
# usage: compare_unary.sh ROUNDS BIN... : per round, for each build in turn,
# a fresh local log and `accord bench --mode unary --requests 60000
# --concurrency 128`; prints the rate, p99 and the server's CPU time per
# 1,000 entries (utime + stime from /proc, less noisy than the rate when
# the load generator shares the cores).
[ $# -ge 2 ] || { echo "usage: compare_unary.sh ROUNDS BIN..." >&2; exit 2; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=$1; shift
D=${OUT:-/tmp/accord-bench}/compare-unary; PORT=${PORT:-18600}
HZ=$(getconf CLK_TCK)
for r in $(seq "$ROUNDS"); do
  for BIN in "$@"; do
    rm -rf "$D"; mkdir -p "$D"
    "$BIN" serve --data "$D/d" --listen 127.0.0.1:$PORT > "$D/serve.log" 2>&1 &
    SP=$!
    for _ in $(seq 100); do grep -q 'accepting submissions' "$D/serve.log" && break; sleep 0.1; done
    grep -q 'accepting submissions' "$D/serve.log" || { echo "the server did not start:" >&2; cat "$D/serve.log" >&2; kill $SP; exit 1; }
    U=http://127.0.0.1:$PORT
    "$BIN" commitment register --server $U --data "$D/d" --id global-commitment-dts --title "Global Commitment on Digital Trust and Security" --text "$REPO/commitments/global-commitment-dts.txt" > /dev/null
    T0=$(awk '{print $14 + $15}' /proc/$SP/stat)
    "$BIN" bench --server $U --mode unary --requests 60000 --concurrency 128 --json > "$D/bench.json"
    T1=$(awk '{print $14 + $15}' /proc/$SP/stat)
    python3 -c "import json; d = json.load(open('$D/bench.json')); print('round $r $BIN', d['throughput_per_sec'], '/s, p99', d['p99_ms'], 'ms, server CPU', round(($T1 - $T0) * 1000 / $HZ / 60, 1), 'ms per 1k entries')"
    kill $SP; wait $SP 2>/dev/null
  done
done
