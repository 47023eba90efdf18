#!/bin/bash
# usage: compare_list.sh BIN_A BIN_B DATA PORT HTTPPORT: the first page of
# ListSignatories (one stream, 10,000 requests after 2,000 of warm-up) on
# the log in DATA (e.g. grow.sh's), served by BIN_A then BIN_B, three
# rounds, each server started and stopped for its run.
[ $# -eq 5 ] || { echo "usage: compare_list.sh BIN_A BIN_B DATA PORT HTTPPORT" >&2; exit 2; }
A=$1; B=$2; DATA=$3; PORT=$4; HP=$5
# Waits up to 30 s for server PID to log that it accepts submissions;
# exits if it stops first (a server left running on DATA or the ports).
started() {
  for _ in $(seq 300); do
    grep -q "accepting submissions" "$2" && return 0
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  echo "the server did not start:" >&2; cat "$2" >&2; kill "$1" 2>/dev/null; exit 1
}
for round in 1 2 3; do
  for BIN in "$A" "$B"; do
    LOG=$(mktemp)
    "$BIN" serve --data "$DATA" --listen 127.0.0.1:$PORT --http-listen 127.0.0.1:$HP > "$LOG" 2>&1 & SP=$!
    started $SP "$LOG"
    "$BIN" bench --server http://127.0.0.1:$PORT --mode list --requests 2000 --concurrency 1 --json > /dev/null
    echo "$BIN round $round: $("$BIN" bench --server http://127.0.0.1:$PORT --mode list --requests 10000 --concurrency 1 --json)"
    kill $SP; wait $SP 2>/dev/null
    rm -f "$LOG"
  done
done
