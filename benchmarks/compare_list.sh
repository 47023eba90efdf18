#!/bin/bash
# usage: compare_list.sh BIN_A BIN_B DATA PORT HTTPPORT: the first page of
# ListSignatories (one stream, 10,000 requests after 2,000 of warm-up) on
# the log in DATA (e.g. grow.sh's), served by BIN_A then BIN_B, three
# rounds, each server started and stopped for its run.
[ $# -eq 5 ] || { echo "usage: compare_list.sh BIN_A BIN_B DATA PORT HTTPPORT" >&2; exit 2; }
A=$1; B=$2; DATA=$3; PORT=$4; HP=$5; LOG=$(mktemp)
for round in 1 2 3; do
  for BIN in "$A" "$B"; do
    "$BIN" serve --data "$DATA" --listen 127.0.0.1:$PORT --http-listen 127.0.0.1:$HP > "$LOG" 2>&1 & SP=$!
    for _ in $(seq 100); do grep -q "accepting submissions" "$LOG" && break; sleep 0.1; done
    "$BIN" bench --server http://127.0.0.1:$PORT --mode list --requests 2000 --concurrency 1 --json > /dev/null
    echo "$BIN round $round: $("$BIN" bench --server http://127.0.0.1:$PORT --mode list --requests 10000 --concurrency 1 --json)"
    kill $SP; wait $SP 2>/dev/null
  done
done
rm -f "$LOG"
