#!/bin/bash
# usage: cpu.sh BIN DATA MODE REQUESTS [RATE]: where the CPU goes, per entry.
#
# Serves DATA with `BIN serve` and runs one `accord bench --mode MODE`
# against it (MODE unary: 128 streams; batch: 8 streams of 1,000 entries;
# RATE paces it). DATA is a new path (a fresh log, the commitment registered)
# or an existing data directory that no server is running on: a copy
# (`cp -a`) of a grown log, say. The run's entries are added to it, so use a
# new copy for each run. Prints the bench's rate and latency, then the CPU
# spent per 1,000 accepted entries by:
#   - the writer thread (`accord-sequence`);
#   - tokio's threads (`tokio-rt-worker`: the async workers, which receive,
#     verify unary submissions and answer, and the blocking pool);
#   - fjall's worker (flushes and merges; whatever lands in the window);
#   - the server's other threads, ended ones included (the commit's and
#     `verifier::parallel`'s scoped threads: SubmitBatch is verified there);
#   - PostgreSQL's processes, with STORAGE set (below; those that end
#     during the run count through the postmaster's reaped children);
#   - the load generator while sending: its whole CPU less its signing
#     before its clock starts, measured apart by the same bench against a
#     closed port (it signs, then fails to connect), twice, the lower
#     kept and shown apart.
# Then the cores the server used over the timed part, and the rate both
# cores would allow at that cost (2 s of CPU per second over the total).
#
# With STORAGE set (a PostgreSQL URL: `serve --storage`), a new DATA is
# initialized for it first (the database must hold no log yet), and the CPU
# of every process of user `postgres` on this machine is counted: run it
# against a cluster nothing else uses.
#
# Before the bench it waits until the server has been up for 12 s and then
# quiet for a second: an open refills fjall's memtables from its journal,
# and the idle flush writes those of 4 MiB or more out 5-10 s later
# (storage/idle_flush.rs), which would otherwise fall in the window.
# Needs GNU time (/usr/bin/time) and python3.
REPO=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 4 ] || { echo "usage: cpu.sh BIN DATA MODE REQUESTS [RATE]" >&2; exit 2; }
BIN=$1; DATA=$2; MODE=$3; N=$4; RATE=${5:-0}; PORT=${PORT:-18710}
case "$MODE" in
  unary) ARGS="--concurrency 128" ;;
  batch) ARGS="--concurrency 8 --batch-size 1000" ;;
  *) echo "MODE is unary or batch" >&2; exit 2 ;;
esac
W=$(mktemp -d)
SP=
trap '[ -n "$SP" ] && kill $SP 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
FRESH=0; [ -e "$DATA" ] || FRESH=1
if [ -n "$STORAGE" ] && [ $FRESH = 1 ]; then
  "$BIN" init --data "$DATA" --storage "$STORAGE" > /dev/null || exit 1
fi
"$BIN" serve --data "$DATA" --listen 127.0.0.1:$PORT ${STORAGE:+--storage "$STORAGE"} > "$W/serve.log" 2>&1 &
SP=$!
START=$(date +%s)
for i in $(seq 301); do
  grep -q "accepting submissions" "$W/serve.log" && break
  if ! kill -0 $SP 2>/dev/null || [ $i = 301 ]; then
    echo "the server did not start:" >&2; cat "$W/serve.log" >&2; exit 1
  fi
  sleep 0.1
done
U=http://127.0.0.1:$PORT
if [ $FRESH = 1 ]; then
  "$BIN" commitment register --server $U --data "$DATA" --id global-commitment-dts \
    --title "Global Commitment on Digital Trust and Security" \
    --text "$REPO/commitments/global-commitment-dts.txt" > /dev/null || exit 1
fi
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' /proc/$SP/stat; }
while [ $(( $(date +%s) - START )) -lt 12 ]; do sleep 1; done
# Quiet: under 30 ms of the server's CPU in a second (at most a minute).
QUIET=0
for _ in $(seq 60); do a=$(ticks); sleep 1; [ $(( ($(ticks) - a) * 1000 / HZ )) -lt 30 ] && { QUIET=1; break; }; done
[ $QUIET = 1 ] || echo "warning: the server was not quiet for a second within a minute; measuring anyway" >&2
# Per-thread CPU in ticks, by thread id: "tid name ticks" lines. The name
# is between the parentheses of /proc/.../stat (it may hold spaces).
snap() {
  python3 - "$1" <<'PY'
import glob, sys
for path in glob.glob(f"/proc/{sys.argv[1]}/task/*/stat"):
    try:
        s = open(path).read()
    except OSError:  # the thread ended meanwhile
        continue
    name = s[s.index('(') + 1:s.rindex(')')].replace(' ', '_')
    f = s[s.rindex(')') + 2:].split()
    print(path.split('/')[4], name, int(f[11]) + int(f[12]))
PY
}
# The database's processes: ticks per pid; the postmaster (the oldest)
# also with its reaped children's, so processes that end count too.
pgsnap() {
  [ -n "$STORAGE" ] || return 0
  local pm; pm=$(pgrep -o -u postgres)
  for p in $(pgrep -u postgres); do
    awk -v p="$p" -v pm="$pm" '{t = $14 + $15; if (p == pm) t += $16 + $17; print p, t}' /proc/$p/stat 2>/dev/null
  done
}
# The process total before the per-thread snapshot and after it, so the
# threads' deltas fall inside the total's window.
P0=$(ticks); pgsnap > "$W/pg0"; snap $SP > "$W/t0"
/usr/bin/time -f "%U %S" -o "$W/time" "$BIN" bench --server $U --mode "$MODE" --requests "$N" $ARGS --rate "$RATE" --json > "$W/bench.json" || exit 1
snap $SP > "$W/t1"; pgsnap > "$W/pg1"; P1=$(ticks)
kill $SP; wait $SP 2>/dev/null; SP=
for k in 1 2; do
  /usr/bin/time -f "%U %S" -o "$W/prep$k" "$BIN" bench --server http://127.0.0.1:1 --mode "$MODE" \
    --requests "$N" $ARGS > /dev/null 2> "$W/prep$k.err"
  grep -q "cannot connect" "$W/prep$k.err" || { echo "the signing-only run did not fail as expected:" >&2; cat "$W/prep$k.err" >&2; exit 1; }
done
python3 - "$W" $((P1 - P0)) "$HZ" "$N" <<'PY'
import collections, json, sys
w, server, hz, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
b = json.load(open(f"{w}/bench.json"))
ok = b['ok']
print(f"rate {b['throughput_per_sec']:.0f}/s  p50 {b['p50_ms']} ms  p90 {b['p90_ms']} ms  "
      f"p99 {b['p99_ms']} ms  ok {ok}  errors {b['errors']}")
def threads(f):
    return {tid: (name, int(t)) for tid, name, t in (l.split() for l in open(f))}
t0, t1 = threads(f"{w}/t0"), threads(f"{w}/t1")
names = {'accord-sequence': 'writer', 'tokio-rt-worker': 'tokio threads',
         'fjall:worker': 'fjall worker'}
groups = collections.Counter()
for tid, (name, t) in t1.items():
    groups[names.get(name, 'other threads')] += t - t0.get(tid, (name, 0))[1]
# The process's count also holds the threads that ended during the run.
groups['other threads'] += server - sum(groups.values())
def pg(f):
    return dict((p, int(t)) for p, t in (l.split() for l in open(f) if len(l.split()) == 2))
p0, p1 = pg(f"{w}/pg0"), pg(f"{w}/pg1")
if p1:
    # A process that ended between the snapshots is in p0 and, through
    # the postmaster's reaped children, in p1's total: subtract its p0.
    groups['PostgreSQL'] = sum(p1.values()) - sum(p0.values())
def cpu(f):  # GNU time's user and system seconds, as ticks
    u, s = map(float, open(f).read().split()[-2:])
    return (u + s) * hz
prep = min(cpu(f"{w}/prep1"), cpu(f"{w}/prep2"))
whole = cpu(f"{w}/time")
# The bench signs all N requests before its clock, however many succeed.
groups['load generator, sending'] = round(whole - prep)
per_k = {g: t * 1000 / hz * 1000 / ok for g, t in groups.items()}  # ms per 1,000 entries
for g, v in sorted(per_k.items(), key=lambda kv: -kv[1]):
    print(f"  {g:28} {v:6.0f} ms per 1k entries")
total = sum(per_k.values())
server_k = total - per_k['load generator, sending'] - per_k.get('PostgreSQL', 0)
print(f"  {'total':28} {total:6.0f} ms per 1k entries (the server {server_k:.0f}); the load generator "
      f"also signed for {prep * 1000 / hz * 1000 / n:.0f} ms per 1k requests before its clock started")
print(f"  the server used {server / hz / b['elapsed_s']:.2f} cores over the timed part; both cores at this "
      f"cost would allow {2e6 / total:.0f}/s (the server's part alone {2e6 / server_k:.0f}/s)")
PY
