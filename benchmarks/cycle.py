#!/usr/bin/env python3
"""usage: cycle.py SERVE_LOG: the writer's cycle from the server's "batch committed" lines
(the text log format, not --log-format json; skips the first 100 and last 20 batches:
ramp-up and drain). The cycle is the mean time between batches; commit_ms includes
the wait for the readers' gate; "deciding" is the rest of the cycle."""
import sys, re, datetime
rows = []
for line in open(sys.argv[1]):
    if "batch committed" not in line:
        continue
    t = datetime.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()
    e = int(re.search(r"entries=(\d+)", line).group(1))
    c = float(re.search(r"commit_ms=([\d.]+)", line).group(1))
    rows.append((t, e, c))
rows = rows[100:-20]
n = len(rows)
if n < 2:
    sys.exit(f"{sys.argv[1]}: too few batches (more than 121 needed)")
cycle = 1000 * (rows[-1][0] - rows[0][0]) / (n - 1)
commit = sorted(r[2] for r in rows)
print(f"{n} batches, {sum(r[1] for r in rows) / n:.1f} entries each; cycle {cycle:.2f} ms, "
      f"commit mean {sum(commit) / n:.2f} ms (p50 {commit[n // 2]:.2f}, p99 {commit[int(n * .99)]:.2f}), "
      f"deciding {cycle - sum(commit) / n:.2f} ms")
