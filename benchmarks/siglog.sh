#!/bin/bash
# siglog 0.1.0 (cargo install siglog --version 0.1.0): SQLite + filesystem tiles, batches of at most 10 ms;
# wrk (Debian's wrk), 64 connections, 15 s, unique ~400-byte entries. Run right after unary.sh (it reuses its log key).
D=${OUT:-/tmp/accord-bench}/siglog; rm -rf $D; mkdir -p $D/tiles
KEY=$(cat ${OUT:-/tmp/accord-bench}/unary/d/log.key)
siglog --database-url sqlite:$D/log.db?mode=rwc --storage-backend fs --fs-root $D/tiles --origin accord.example/log --private-key "$KEY" --listen 127.0.0.1:2025 --batch-max-age-ms 10 > $D/siglog.log 2>&1 &
SP=$!
sleep 3
curl -s -o /dev/null -w "probe %{http_code}\n" -X POST --data-binary "probe entry" http://127.0.0.1:2025/add
wrk -t 2 -c 64 -d 15s -s $(dirname "$0")/siglog-add.lua --latency http://127.0.0.1:2025 | tee $D/wrk.txt
sleep 2; curl -s http://127.0.0.1:2025/checkpoint | head -3
grep VmRSS /proc/$SP/status
kill $SP; wait $SP 2>/dev/null
