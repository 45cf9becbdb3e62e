#!/usr/bin/env bash
# GPU backend check: probe the machine, build with -DGRETA_CUDA=ON (or use binaries built
# elsewhere and carried in build-cuda/ when this machine lacks greta's build dependencies), run
# test_cuda (every op against the CPU backend, batch invariance, prefill == decode through
# Session and Context, acceptance), then print the report table (prefill == decode
# bit-equality, max |d| vs the CPU, tokens/s) for the shipped models and synthetic ones made
# with greta_gguf synth.
#
#   scripts/gpu_check.sh                 # logs under $OUT (default ./out/gpu_check)
#   GPU_CHECK_SKIP_BIG=1 scripts/gpu_check.sh   # without the synthetic tinyllama-1.1b
#   GPU_CHECK_TESTS='CudaOps.*' scripts/gpu_check.sh   # a gtest filter for test_cuda
#   GPU_CHECK_MEMCHECK=1 scripts/gpu_check.sh   # then the op tests under compute-sanitizer
#   GPU_CHECK_REPORT=0 scripts/gpu_check.sh     # without the report table
#   GPU_CHECK_BENCH="q8_0 q4_K" scripts/gpu_check.sh   # greta_bench --backend cuda on synthetic
#       tinyllama-1.1b models of these types (pp512/tg128, JSON in $OUT/bench_<type>.json)
#   GPU_CHECK_PROFILE=1 scripts/gpu_check.sh    # with GPU_CHECK_BENCH: ncu kernel durations of
#       the first type's decode steps, summed per kernel ($OUT/ncu_<type>.csv), when ncu works
#
# Carried binaries: build them here with the device's architecture, e.g.
#   cmake -S . -B build-cuda -G Ninja -DGRETA_CUDA=ON -DGRETA_CUDA_ARCHS=90
#   ninja -C build-cuda test_cuda greta_gguf greta_bench && mkdir -p build-cuda/lib &&
#   cp -L $(ldd build-cuda/test_cuda | awk '/hwy|pcre2|gtest/ {print $3}') build-cuda/lib/
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
B=build-cuda
export GRETA_SOURCE_DIR="$PWD"
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }

log "probe $(date -u +%FT%TZ)"
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
  nvcc --version | tail -2; which cmake ninja g++ gcc
  for d in /usr/include/hwy /usr/include/gtest /usr/include/nlohmann /usr/include/CLI; do ls -d "$d" 2>&1; done
  nproc; } 2>&1 | tee "$OUT/probe.txt"

# Build here when the dependencies are present, else run what was carried.
if [ -d /usr/include/hwy ] && [ -d /usr/include/gtest ] && command -v cmake >/dev/null; then
  log "building in $B"
  cmake -S . -B "$B" -G Ninja -DGRETA_CUDA=ON >"$OUT/build.txt" 2>&1 &&
    ninja -C "$B" test_cuda greta_gguf greta_bench >>"$OUT/build.txt" 2>&1 || { log "build FAILED"; tail -30 "$OUT/build.txt"; exit 1; }
else
  log "no greta build deps here: using carried $B/test_cuda, $B/greta_gguf, $B/lib"
  export LD_LIBRARY_PATH="$PWD/$B/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
[ -x "$B/test_cuda" ] || { log "no $B/test_cuda"; exit 1; }

log "test_cuda"
timeout 240 "$B/test_cuda" --gtest_filter="${GPU_CHECK_TESTS:--CudaReport.*}" 2>&1 | tee "$OUT/test_cuda.txt" |
  grep -E '^\[  (PASSED|FAILED) |FAILED|\[(gpu-|ops\]|batch)|device:|tests ran'
rc_tests=${PIPESTATUS[0]}
log "test_cuda rc=$rc_tests"

SYN=/tmp/greta_synth; mkdir -p $SYN; list=""
if [ "${GPU_CHECK_REPORT:-1}" = 1 ]; then
for t in f16 bf16 q4_0 q4_K q6_K; do
  "$B/greta_gguf" synth --preset tiny --type $t --out $SYN/tiny_$t.gguf >/dev/null 2>&1 && list="$list:$SYN/tiny_$t.gguf"
done
if [ "${GPU_CHECK_SKIP_BIG:-0}" != 1 ]; then
  t0=$(date +%s)
  timeout 120 "$B/greta_gguf" synth --preset tinyllama-1.1b --type q8_0 --out $SYN/tinyllama_q8_0.gguf >"$OUT/synth.txt" 2>&1 \
    && list="$list:$SYN/tinyllama_q8_0.gguf"
  log "synth tinyllama-1.1b q8_0: $(( $(date +%s) - t0 )) s"
fi
log "report"
GRETA_CUDA_REPORT=1 GRETA_CUDA_SYNTH="$list" timeout 200 "$B/test_cuda" --gtest_filter='CudaReport.*' 2>&1 | tee "$OUT/report.txt" | grep -E '^\||device:|FAILED|PASSED'
if [ -f $SYN/tinyllama_q8_0.gguf ]; then
  log "report, tinyllama f32 cache, decode without the CUDA graph (GRETA_CUDA_GRAPH=0)"
  GRETA_CUDA_GRAPH=0 GRETA_CUDA_REPORT=1 GRETA_CUDA_SYNTH=$SYN/tinyllama_q8_0.gguf GRETA_CUDA_REPORT_ONLY=tinyllama \
    timeout 60 "$B/test_cuda" --gtest_filter='CudaReport.Table' 2>&1 | tee "$OUT/report_nograph.txt" | grep -E '^\| tinyllama|FAILED'
fi
fi
first=1
for t in ${GPU_CHECK_BENCH:-}; do
  m=$SYN/tinyllama_$t.gguf
  [ -f "$m" ] || timeout 150 "$B/greta_gguf" synth --preset tinyllama-1.1b --type "$t" --seed 1 --threads 0 --out "$m" \
    >"$OUT/synth_$t.txt" 2>&1 || { log "synth $t FAILED"; continue; }
  log "greta_bench --backend cuda tinyllama-1.1b $t (f16 KV cache)"
  timeout 120 "$B/greta_bench" --backend cuda -m "$m" -p 512 -n 128 -r 3 --dtype f16 --parallel 16 --json \
    >"$OUT/bench_$t.json" 2>&1
  tee -a "$OUT/summary.txt" <"$OUT/bench_$t.json"
  NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  if [ "$first" = 1 ] && [ "${GPU_CHECK_PROFILE:-0}" = 1 ] && [ -n "$NCU" ]; then
    # Kernel durations of decode steps (launched one by one: GRETA_CUDA_GRAPH=0), past the
    # warm-up; summed per kernel name.
    GRETA_CUDA_GRAPH=0 timeout 150 "$NCU" --clock-control none --launch-skip 1500 --launch-count 500 \
      --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv --print-units base \
      "$B/greta_bench" --backend cuda -m "$m" -p 0 -n 16 -r 1 --dtype f16 >"$OUT/ncu_$t.csv" 2>&1
    log "ncu: kernel time per name over 500 decode kernels ($OUT/ncu_$t.csv)"
    python3 scripts/ncu_summary.py "$OUT/ncu_$t.csv" | tee -a "$OUT/summary.txt"
  fi
  first=0
done
CS=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
if [ "${GPU_CHECK_MEMCHECK:-0}" = 1 ] && [ -n "$CS" ]; then
  log "compute-sanitizer memcheck: op tests and one model (the deliberate allocation failure left out)"
  timeout 150 "$CS" --tool memcheck --report-api-errors no --error-exitcode 3 "$B/test_cuda" \
    --gtest_filter='CudaOps.*:Models/CudaEquivalence.*stories260K_gguf_bf16-CudaOps.Upload*' >"$OUT/memcheck.txt" 2>&1
  log "memcheck rc=$? $(grep -E 'ERROR SUMMARY|PASSED|FAILED' "$OUT/memcheck.txt" | tr '\n' ' ')"
fi
log "done $(date -u +%FT%TZ)"
exit "$rc_tests"
