#!/usr/bin/env bash
# On the GPU machine, after scripts/gpu_check.sh: (1) the report of an older build carried in
# build-cuda-old/ (test_cuda + lib/) on the same synthetic tinyllama, for a side-by-side speed
# comparison; (2) greta_batched --backend cuda at --parallel 1 and 8 on the shipped models, every
# sequence's dump compared with greta_compare (strict bit-equality expected at --kv-aligned 1).
#   OUT=dir scripts/gpu_side_by_side.sh
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
export GRETA_SOURCE_DIR="$PWD"
SYN=/tmp/greta_synth/tinyllama_q8_0.gguf
if [ -x build-cuda-old/test_cuda ] && [ -f "$SYN" ]; then
  echo "== old build report (tinyllama q8_0)"
  LD_LIBRARY_PATH="$PWD/build-cuda-old/lib" GRETA_CUDA_REPORT=1 GRETA_CUDA_SYNTH="$SYN" GRETA_CUDA_REPORT_ONLY=tinyllama \
    timeout 200 build-cuda-old/test_cuda --gtest_filter='CudaReport.*' 2>&1 | tee "$OUT/old_report.txt" | grep -E '^\| tinyllama|device:'
fi
export LD_LIBRARY_PATH="$PWD/build-cuda/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
printf 'Once upon a time\nThe little dog\nLily went to the park\nOne day, a boy named Tim\nThe sun was\nTom and Sue\nThere was a big tree\nA cat sat\nThe king said\n' > "$OUT/prompts.txt"
fails=0
for m in models/stories260K.gguf models/TinyStories-656K-Q8_0.gguf; do
  for dt in f32 bf16; do
    for p in 1 8; do
      build-cuda/greta_batched --backend cuda -m "$m" -f "$OUT/prompts.txt" -n 24 --parallel $p --seed 7 --kv-aligned 1 \
        --dtype $dt --dump-logits "$OUT/b$p" --dump-span 2:20 >"$OUT/batched_$p.txt" 2>&1 || { echo "greta_batched failed"; fails=1; }
    done
    tail -2 "$OUT/batched_8.txt" | head -1
    eq=0
    for i in 0 1 2 3 4 5 6 7 8; do
      build-cuda/greta_compare "$OUT/b1/seq-$i" "$OUT/b8/seq-$i" | grep -q "EQUIVALENT by strict" && eq=$((eq + 1))
    done
    echo "== batched cuda $(basename "$m") kv $dt: parallel 1 vs 8 bit-equal dumps $eq/9"
    [ $eq = 9 ] || fails=1
    rm -rf "$OUT/b1" "$OUT/b8"
  done
done
exit $fails
