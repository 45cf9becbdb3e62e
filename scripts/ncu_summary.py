import csv, sys, collections, re
rows = [r for r in csv.reader(open(sys.argv[1], errors="replace")) if len(r) > 10]
if not rows: print("no ncu rows"); sys.exit()
h = rows[0]; ki = h.index("Kernel Name"); vi = h.index("Metric Value")
t = collections.defaultdict(float); n = collections.Counter()
for r in rows[1:]:
    try: v = float(r[vi].replace(",", ""))
    except ValueError: continue
    mt = re.search(r"(\w+_kernel)(<[^()]*>)?", r[ki])
    k = (mt.group(1) + (mt.group(2) or "")) if mt else r[ki][:60]
    if "matmul" in k or "tc_kernel" in k: k += " grid" + r[h.index("Grid Size")]
    t[k] += v; n[k] += 1
tot = sum(t.values())
for k, v in sorted(t.items(), key=lambda x: -x[1])[:25]: print(f"{v/1e3:10.1f} us {100*v/tot:5.1f}% n={n[k]:4d} avg {v/n[k]/1e3:7.2f} us  {k[:110]}")
print(f"total {tot/1e3:.1f} us over {sum(n.values())} kernels")
