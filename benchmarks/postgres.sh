#!/bin/bash
# usage: postgres.sh BIN N MODE : N instances of accord serve on one fresh PostgreSQL database "bench3",
# one bench process per instance at the same time (unary: 128/N streams each, 126 in all for N = 3; batch: ceil(8/N) streams each).
# Needs PostgreSQL on 127.0.0.1:55432 whose postgres role connects without a password (as .ci/run's throwaway cluster), and psql.
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$1; N=$2; MODE=$3; REQ=${REQ:-60000}
D=${OUT:-/tmp/accord-bench}/pg$N-$MODE; rm -rf $D; mkdir -p $D
URL=postgres://postgres@127.0.0.1:55432/bench3
psql postgres://postgres@127.0.0.1:55432/postgres -qc "DROP DATABASE IF EXISTS bench3 WITH (FORCE)" -c "CREATE DATABASE bench3" 2>/dev/null
$BIN init --data $D/d0 --storage $URL > /dev/null
PIDS=""
for i in $(seq 0 $((N-1))); do
  mkdir -p $D/d$i; [ $i -gt 0 ] && cp $D/d0/log.key $D/d0/operator.pem $D/d0/admin.token $D/d$i/
  $BIN serve --data $D/d$i --listen 127.0.0.1:$((50081+i)) --storage $URL > $D/serve$i.log 2>&1 &
  PIDS="$PIDS $!"
  for t in $(seq 50); do grep -q 'serving a log' $D/serve$i.log && break; sleep 0.2; done
done
$BIN commitment register --server http://127.0.0.1:50081 --data $D/d0 --id global-commitment-dts --title "Global Commitment on Digital Trust and Security" --text $REPO/commitments/global-commitment-dts.txt > /dev/null
start=$(date +%s.%N)
for i in $(seq 0 $((N-1))); do
  if [ $MODE = unary ]; then
    $BIN bench --server http://127.0.0.1:$((50081+i)) --mode unary --requests $((REQ/N)) --concurrency $((128/N)) --json > $D/bench$i.json &
  else
    $BIN bench --server http://127.0.0.1:$((50081+i)) --mode batch --requests $((REQ/N)) --concurrency $(( (8+N-1)/N )) --batch-size 1000 --json > $D/bench$i.json &
  fi
  BPIDS="$BPIDS $!"
done
wait $BPIDS
sleep 0.1
for i in $(seq 0 $((N-1))); do cat $D/bench$i.json; done
python3 - $D $N <<'PY'
import json,sys
d,n=sys.argv[1],int(sys.argv[2])
b=[json.load(open(f"{d}/bench{i}.json")) for i in range(n)]
ok=sum(x["ok"] for x in b); el=max(x["elapsed_s"] for x in b)
print(f"TOTAL ok={ok} errors={sum(x['errors'] for x in b)} elapsed={el:.2f}s rate={ok/el:.0f}/s p99max={max(x['p99_ms'] for x in b)}ms")
PY
for i in $(seq 0 $((N-1))); do
  $BIN bench --server http://127.0.0.1:$((50081+i)) --mode proof --requests 3000 --concurrency 1 --json
  $BIN bench --server http://127.0.0.1:$((50081+i)) --mode list --requests 1000 --concurrency 1 --json
  [ $i -eq 0 ] || true
done
for p in $PIDS; do grep VmRSS /proc/$p/status; done
kill $PIDS; wait $PIDS 2>/dev/null
