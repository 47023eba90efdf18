#!/bin/bash
# usage: grow.sh BIN PORT HTTPPORT CHUNKS [DEADLINE]: a fresh local log grown by
# CHUNKS × 250k batched entries (8 streams of 1,000-entry SubmitBatch calls),
# printing after each chunk the rate, the disk (the records store and the log
# files) and the server's RSS; then inclusion proofs at 1/4/16 streams, a
# restart after SIGTERM (how long the open takes) and the proofs again, and
# registry queries (proof, first page of signatories, organization). At least one chunk runs; no
# more start once the disk has under 12 GB free or DEADLINE (a `date -d`
# time: `15:00` is today's, even if already past) has passed.
# The restarted server is left running, for more measurements; kill it
# before running this script again.
[ $# -ge 4 ] || { echo "usage: grow.sh BIN PORT HTTPPORT CHUNKS [DEADLINE]" >&2; exit 2; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$1; PORT=$2; HP=$3; CHUNKS=$4; D="${OUT:-/tmp/accord-bench}/grow"
DEADLINE=$(date -d "${5:-tomorrow}" +%s) || exit 2
rm -rf "$D"; mkdir -p "$D"
# Waits for PATTERN in LOG from server PID for up to SECS seconds.
started() {
  for _ in $(seq $(( $4 * 10 ))); do grep -q "$3" "$2" && return 0; kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  echo "the server did not start:" >&2; cat "$2" >&2; kill "$1" 2>/dev/null; exit 1
}
"$BIN" serve --data "$D/d" --listen 127.0.0.1:$PORT --http-listen 127.0.0.1:$HP > "$D/serve.log" 2>&1 &
SP=$!
started $SP "$D/serve.log" 'serving a log' 10
U=http://127.0.0.1:$PORT
"$BIN" commitment register --server $U --data "$D/d" --id global-commitment-dts --title "Global Commitment on Digital Trust and Security" --text "$REPO/commitments/global-commitment-dts.txt" > /dev/null
START=$(date +%s)
for k in $(seq "$CHUNKS"); do
  echo "== chunk $k at $(date +%T)"
  "$BIN" bench --server $U --mode batch --requests 250000 --concurrency 8 --batch-size 1000 --max-seconds 1800 --json; echo
  du -sb "$D/d/db"; ls -l "$D/d/db" | grep -E 'leaves|nodes|ends' | awk '{print $5, $9}'
  grep VmRSS /proc/$SP/status
  AV=$(df --output=avail -B1 "$D" | tail -1); echo "free disk $(( AV / 1000000000 )) GB"
  if [ "$AV" -lt 12000000000 ]; then echo "stopping: disk"; break; fi
  if [ "$(date +%s)" -gt "$DEADLINE" ]; then echo "stopping: deadline"; break; fi
done
echo "load took $(( $(date +%s) - START )) s"
"$BIN" checkpoint --server $U | head -2
for c in 1 4 16; do echo "== proof, $c streams"; "$BIN" bench --server $U --mode proof --requests 10000 --concurrency $c --json; echo; done
grep VmRSS /proc/$SP/status
kill $SP; wait $SP 2>/dev/null
du -sb "$D/d/db"
"$BIN" serve --data "$D/d" --listen 127.0.0.1:$PORT --http-listen 127.0.0.1:$HP > "$D/serve2.log" 2>&1 & SP=$!
# (sled replayed every page written since its last open: minutes after a
# large load; redb read one header; fjall replays at most 64 MiB of journal
# and sets the near-root deltas again.)
started $SP "$D/serve2.log" 'accepting submissions' 900
grep -E "database opened|serving a log|accepting|repairing|set again" "$D/serve2.log" | cut -c1-160
for c in 1 4 16; do echo "== proof after the restart, $c streams"; "$BIN" bench --server $U --mode proof --requests 10000 --concurrency $c --json; echo; done
for m in registry-proof list org; do echo "== $m after the restart, 1 stream"; "$BIN" bench --server $U --mode $m --requests 10000 --concurrency 1 --json; echo; done
grep VmRSS /proc/$SP/status
echo "server left running: pid $SP"
