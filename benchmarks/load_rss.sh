#!/bin/bash
# usage: load_rss.sh BIN DATA PORT HTTPPORT [ENV=VALUE...]: serves the log in
# DATA (e.g. grow.sh's) with BIN (and the environment given, e.g.
# MIMALLOC_PURGE_DELAY=0; glibc's MALLOC_* settings no longer apply to the
# accord binary of a default build, which allocates with mimalloc), adds 100,000 entries by SubmitBatch (8 streams of
# 1,000), sampling the server's RSS every second; prints the rate, the
# peak RSS, the median RSS through the load and the RSS 12 s after it.
[ $# -ge 4 ] || { echo "usage: load_rss.sh BIN DATA PORT HTTPPORT [ENV=VALUE...]" >&2; exit 2; }
BIN=$1; DATA=$2; PORT=$3; HP=$4; shift 4
LOG=$(mktemp); RSS=$(mktemp)
env "$@" "$BIN" serve --data "$DATA" --listen 127.0.0.1:$PORT --http-listen 127.0.0.1:$HP > "$LOG" 2>&1 & SP=$!
for _ in $(seq 300); do
  grep -q "accepting submissions" "$LOG" && break
  kill -0 $SP 2>/dev/null || { echo "the server did not start:" >&2; cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
grep -q "accepting submissions" "$LOG" || { echo "the server did not start in 30 s" >&2; kill $SP; exit 1; }
(while kill -0 $SP 2>/dev/null; do grep VmRSS /proc/$SP/status 2>/dev/null | awk '{print $2}'; sleep 1; done > "$RSS") &
RATE=$("$BIN" bench --server http://127.0.0.1:$PORT --mode batch --requests 100000 --concurrency 8 --batch-size 1000 --json | grep -o '"throughput_per_sec":[0-9.]*')
N=$(wc -l < "$RSS")
sleep 12
echo "$RATE peak_kB $(sort -n "$RSS" | tail -1) load_median_kB $(head -"$N" "$RSS" | tail -n +5 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') after_12s_kB $(tail -1 "$RSS")"
kill $SP; wait $SP 2>/dev/null
rm -f "$LOG" "$RSS"
