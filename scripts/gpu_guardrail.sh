#!/usr/bin/env bash
# The B3.67 guardrail on the GPU through greta_infer --backend cuda, plus CPU-vs-GPU dumps
# compared by greta_compare. Needs a CUDA build: GRETA_BUILD_DIR (default build-cuda) configured
# with -DGRETA_CUDA=ON; extra shared libraries (for a machine without greta's build deps) may be
# placed in $GRETA_BUILD_DIR/lib. Logs under $OUT (default out/gpu_guardrail).
set -u -o pipefail
cd "$(dirname "$0")/.."
export GRETA_BUILD_DIR="${GRETA_BUILD_DIR:-$PWD/build-cuda}"
export LD_LIBRARY_PATH="$GRETA_BUILD_DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
OUT="${OUT:-out/gpu_guardrail}"; mkdir -p "$OUT"
G=tools/benchmarks/run_b3_67_equivalence_guardrail.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/device.txt"
fail=0
echo "| model | dtype | prompt tokens | GPU prefill vs decode (kv-aligned 1) |"
echo "| --- | --- | --- | --- |"
for m in models/stories260K.gguf models/TinyStories-656K-Q8_0.gguf; do
  for d in f32 f16 bf16; do
    for n in 1 33 200; do
      cell="$OUT/$(basename "$m" .gguf)-$d-$n"
      "$G" --backend cuda --model "$m" --dtype "$d" --prompt-len "$n" --max-tokens 8 --dump-span "$n:8" --out "$cell" \
        > "$cell.log" 2>&1; rc=$?
      v="$(head -n 1 "$cell/summary.txt" 2>/dev/null || tail -n 2 "$cell.log")"
      [ "$rc" = 0 ] || fail=1
      echo "| $(basename "$m") | $d | $n | exit $rc: $v |"
    done
  done
done
# CPU vs GPU, greedy, f32 cache and f32 activations: the analyzer's tolerance verdict and drift.
for m in models/stories260K.gguf models/TinyStories-656K-Q8_0.gguf; do
  name="$(basename "$m" .gguf)"
  for b in cpu cuda; do
    "$GRETA_BUILD_DIR/greta_infer" -m "$m" -p "Once upon a time" -n 16 --temp 0 --seed 1 --dtype f32 \
      --kv-aligned 1 --activations f32 --ignore-eos --backend "$b" --dump-logits "$OUT/xb-$name-$b" --dump-span 6:16 \
      > "$OUT/xb-$name-$b.txt" 2>&1
  done
  echo "== $name: CPU vs GPU (greedy, f32 cache, f32 activations)"
  "$GRETA_BUILD_DIR/greta_compare" "$OUT/xb-$name-cpu" "$OUT/xb-$name-cuda" --atol 1e-3 \
    --json "$OUT/xb-$name.json" --html "$OUT/xb-$name.html" | head -n 12
done
exit $fail
