#!/usr/bin/env python3
"""Sums an `ncu --csv --print-units base` kernel log per kernel name: time (gpu__time_duration.sum)
and, when the log has it, DRAM bytes read (dram__bytes_read.sum) as a rate. Matmul kernels are
split by grid size (one row per shape).

    scripts/ncu_summary.py out/ncu.csv
"""
import collections
import csv
import re
import sys

rows = [r for r in csv.reader(open(sys.argv[1], errors="replace")) if len(r) > 10]
if not rows:
    sys.exit("no ncu rows")
h = rows[0]
ki, vi, mi, gi = h.index("Kernel Name"), h.index("Metric Value"), h.index("Metric Name"), h.index("Grid Size")
t = collections.defaultdict(lambda: [0.0, 0.0, 0])  # time ns, bytes, launches
for r in rows[1:]:
    try:
        v = float(r[vi].replace(",", ""))
    except ValueError:
        continue
    m = re.search(r"(\w+_kernel)(<[^()]*>)?", r[ki])
    k = (m.group(1) + (m.group(2) or "")) if m else r[ki][:60]
    if "matmul" in k or "tc_kernel" in k:
        k += " grid" + r[gi]
    if r[mi].startswith("gpu__time"):
        t[k][0] += v
        t[k][2] += 1
    elif r[mi].startswith("dram__bytes"):
        t[k][1] += v
total = sum(x[0] for x in t.values())
for k, (ns, by, n) in sorted(t.items(), key=lambda x: -x[1][0]):
    rate = f"{by / ns:8.1f} GB/s" if by else ""
    print(f"{ns / 1e3:10.1f} us {100 * ns / total:5.1f}% n={n:4d} avg {ns / n / 1e3:7.2f} us {rate}  {k[:100]}")
print(f"total {total / 1e3:.1f} us over {sum(x[2] for x in t.values())} kernels")
