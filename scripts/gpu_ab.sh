#!/usr/bin/env bash
# GPU speed, side by side in one run: greta_bench --backend cuda on synthetic models with the
# tensor-core matmul (default) and with the FMA kernel (GRETA_CUDA_MMA=0), optionally after a
# test_cuda filter. Binaries come from build-cuda/ (built here or carried with build-cuda/lib).
#
#   GPU_AB_TESTS='CudaOps.Matmul*' GPU_AB_MODELS="tinyllama-1.1b:q8_0 llama-7b:q8_0" scripts/gpu_ab.sh
#   GPU_AB_MODES="GRETA_CUDA_MMA=1 GRETA_CUDA_MMA=0"   # environments to time (one VAR=value each)
#   GPU_AB_ARGS="-p 512 -n 128 -r 3 --parallel 16"   # greta_bench arguments (default)
# Output: $OUT/ab.txt (one line per model and mode) and the JSON of every run.
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_ab}
mkdir -p "$OUT"
B=build-cuda
export GRETA_SOURCE_DIR="$PWD"
[ -d "$B/lib" ] && export LD_LIBRARY_PATH="$PWD/$B/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader | tee "$OUT/ab.txt"
rc=0
if [ -n "${GPU_AB_TESTS:-}" ]; then
  timeout 300 "$B/test_cuda" --gtest_filter="$GPU_AB_TESTS" >"$OUT/test_cuda.txt" 2>&1
  rc=$?
  grep -E '^\[  (PASSED|FAILED) |FAILED|\[ops\]|\[gpu-|tests ran' "$OUT/test_cuda.txt" | tee -a "$OUT/ab.txt"
  echo "test_cuda rc=$rc" | tee -a "$OUT/ab.txt"
fi
SYN=/tmp/greta_synth
mkdir -p $SYN
for spec in ${GPU_AB_MODELS:-tinyllama-1.1b:q8_0}; do
  preset=${spec%%:*} type=${spec##*:}
  m=$SYN/${preset}_$type.gguf
  [ -f "$m" ] || timeout 300 "$B/greta_gguf" synth --preset "$preset" --type "$type" --seed 1 --threads 0 --out "$m" \
    >"$OUT/synth_${preset}_$type.txt" 2>&1 || { echo "synth $spec FAILED" | tee -a "$OUT/ab.txt"; continue; }
  for mode in ${GPU_AB_MODES:-GRETA_CUDA_MMA=1 GRETA_CUDA_MMA=0}; do
    j="$OUT/bench_${preset}_${type}_${mode//[^A-Za-z0-9]/_}.json"
    # shellcheck disable=SC2086
    env "$mode" timeout 240 "$B/greta_bench" --backend cuda -m "$m" ${GPU_AB_ARGS:--p 512 -n 128 -r 3 --parallel 16} \
      --dtype f16 --json >"$j" 2>"$j.err"
    python3 - "$j" "$spec" "$mode" <<'PY' | tee -a "$OUT/ab.txt"
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"{sys.argv[2]} {sys.argv[3]}: no JSON ({e})"); sys.exit()
def get(*keys):
    for k in keys:
        v = d
        try:
            for p in k.split("."): v = v[p]
            return v
        except (KeyError, TypeError): pass
    return None
def r(v, n=1):
    return "-" if v is None else f"{v:.{n}f}"
print(f"{sys.argv[2]} {sys.argv[3]}: pp {r(get('pp.tokens_per_s'))} tg {r(get('tg.tokens_per_s'))} "
      f"decode_frac {r(get('decode_fraction_of_limit'), 3)} parallel {r(get('parallel_decode.tokens_per_s'))} "
      f"({r(get('parallel_decode.speedup_vs_one_sequence'), 2)}x) bw {r(get('bandwidth_gb_s'))} GB/s")
PY
  done
done
exit $rc
