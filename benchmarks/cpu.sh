#!/bin/bash
# usage: cpu.sh BIN DATA MODE REQUESTS [RATE]: where the CPU goes, per entry.
# Serves DATA (an existing data directory: a copy of a grown log, say; or a
# new path, for a fresh log with the commitment registered), waits until the
# server is idle, runs one `accord bench --mode MODE` (unary: 128 streams;
# batch: 8 streams of 1,000; RATE paces it) and prints its rate and latency,
# then the CPU each of the server's thread groups and the load generator
# (sending; its signing before the clock is shown apart) spent per 1,000
# entries, the cores the server used over the timed part, and the rate both
# cores would allow at that cost (2 s of CPU per second over the total per
# entry).
# With STORAGE set (a PostgreSQL URL, `serve --storage`), a fresh DATA is
# initialized for it first, and the CPU of the database's processes (user
# postgres, on this machine) is counted too.
# The server is stopped at the end; DATA is left as it is.
REPO=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 4 ] || { echo "usage: cpu.sh BIN DATA MODE REQUESTS [RATE]" >&2; exit 2; }
BIN=$1; DATA=$2; MODE=$3; N=$4; RATE=${5:-0}; PORT=${PORT:-18700}
LOG=$(mktemp); OUTJ=$(mktemp); TIMES=$(mktemp)
FRESH=0; [ -e "$DATA" ] || FRESH=1
[ -n "$STORAGE" ] && [ $FRESH = 1 ] && { "$BIN" init --data "$DATA" --storage "$STORAGE" > /dev/null || exit 1; }
"$BIN" serve --data "$DATA" --listen 127.0.0.1:$PORT ${STORAGE:+--storage "$STORAGE"} > "$LOG" 2>&1 &
SP=$!
for _ in $(seq 300); do grep -q "accepting submissions" "$LOG" && break; kill -0 $SP 2>/dev/null || { echo "the server did not start:" >&2; cat "$LOG" >&2; exit 1; }; sleep 0.1; done
U=http://127.0.0.1:$PORT
[ $FRESH = 1 ] && "$BIN" commitment register --server $U --data "$DATA" --id global-commitment-dts \
  --title "Global Commitment on Digital Trust and Security" --text "$REPO/commitments/global-commitment-dts.txt" > /dev/null
# Idle: under 3 ticks (30 ms) of the server's CPU in a second.
ticks() { awk '{print $14+$15}' /proc/$SP/stat; }
for _ in $(seq 60); do a=$(ticks); sleep 1; [ $(( $(ticks) - a )) -lt 3 ] && break; done
# The database's processes: ticks per pid (ones started during the run count from zero).
pgticks() { [ -n "$STORAGE" ] && for p in $(pgrep -u postgres); do echo "$p $(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null)"; done; }
PG0=$(pgticks)
declare -A before
while read -r name t; do before[$name]=$t; done < <(for t in /proc/$SP/task/*; do echo "$(tr ' ' _ < $t/comm) $(awk '{print $14+$15}' $t/stat)"; done)
P0=$(ticks)
if [ "$MODE" = batch ]; then ARGS="--concurrency 8 --batch-size 1000"; else ARGS="--concurrency 128"; fi
/usr/bin/time -f "%U %S" -o "$TIMES" "$BIN" bench --server $U --mode "$MODE" --requests "$N" $ARGS --rate "$RATE" --json > "$OUTJ"
P1=$(ticks)
PG1=$(pgticks)
for t in /proc/$SP/task/*; do echo "$(tr ' ' _ < $t/comm) $(awk '{print $14+$15}' $t/stat)"; done > "$LOG.after"
PGT=$(python3 -c "import sys
b=dict(l.split() for l in sys.argv[1].splitlines() if len(l.split())==2)
print(sum(int(t)-int(b.get(p,0)) for p,t in (l.split() for l in sys.argv[2].splitlines() if len(l.split())==2)))" "$PG0" "$PG1")
# The load generator signs every request before its clock starts; the same
# run against a closed port does only that (it signs, then fails to connect).
/usr/bin/time -f "%U %S" -o "$TIMES.prep" "$BIN" bench --server http://127.0.0.1:1 --mode "$MODE" --requests "$N" $ARGS > /dev/null 2>&1
python3 - "$OUTJ" "$TIMES" "$LOG.after" "$N" "$(declare -p before)" $((P1 - P0)) "$PGT" <<'PY'
import json, sys, re, collections
out, times, after, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
before = dict(re.findall(r'\[([^\]]+)\]="(\d+)"', sys.argv[5]))
server = int(sys.argv[6])
database = int(sys.argv[7])
b = json.load(open(out))
print(f"rate {b['throughput_per_sec']:.0f}/s  p50 {b['p50_ms']} ms  p90 {b['p90_ms']} ms  p99 {b['p99_ms']} ms  errors {b['errors']}")
groups = collections.Counter()
# Thread names sum up per name; a thread started during the run counts from zero.
seen = collections.Counter()
for line in open(after):
    name, t = line.split()
    seen[name] += int(t)
for name, t in seen.items():
    g = {'accord-sequence': 'writer', 'tokio-rt-worker': 'async workers (gRPC)',
         'fjall:worker': 'fjall worker'}.get(name)
    if g:
        groups[g] += t - int(before.get(name, 0))
# The process's own count includes threads that ended during the run
# (tokio's blocking pool, where batches are verified, among them).
groups['other threads (also ended ones)'] = server - sum(groups.values())
u, s = map(float, open(times).read().split()[-2:])
pu, ps = map(float, open(times + '.prep').read().split()[-2:])
groups['load generator (sending)'] = round((u + s - pu - ps) * 100)
prep = (pu + ps) * 1e6 / n
if database:
    groups['PostgreSQL'] = database
per_k = {g: t * 10 * 1000 / n for g, t in groups.items()}  # ticks are 10 ms
total = sum(per_k.values())
for g, v in sorted(per_k.items(), key=lambda kv: -kv[1]):
    print(f"  {g:38} {v:7.0f} ms per 1k entries")
server_k = total - per_k['load generator (sending)'] - per_k.get('PostgreSQL', 0)
print(f"  {'total':38} {total:7.0f} ms per 1k entries (the server {server_k:.0f} ms); "
      f"the load generator also spent {prep:.0f} ms per 1k signing before its clock started")
print(f"  the server used {server * 10 / 1000 / b['elapsed_s']:.2f} cores over the timed part; both cores "
      f"at this cost would allow {2e6 / total:.0f}/s (the server's part alone {2e6 / server_k:.0f}/s)")
PY
kill $SP; wait $SP 2>/dev/null
rm -f "$LOG" "$LOG.after" "$OUTJ" "$TIMES" "$TIMES.prep"
