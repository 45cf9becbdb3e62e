#!/usr/bin/env bash
# The B3.67 equivalence matrix behind docs/PROGRESS.md: for each model x weight type x KV dtype x
# thread count, runs the guardrail at --kv-aligned 1 (verdict must be bit-equal) and at
# --kv-aligned 0 (the drift it measures), and prints a Markdown table.
#
#   tools/benchmarks/equivalence_matrix.sh [--quick] [--prompt-len N] [--span-count C] [--out DIR]
#
# Synthetic models of each weight type are written with `greta_gguf synth --preset tiny` into
# the output directory. Exit status 1 if any kv-aligned 1 cell is not bit-equal.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${GRETA_BUILD_DIR:-$ROOT/tools/inference/build}"
GUARD="$ROOT/tools/benchmarks/run_b3_67_equivalence_guardrail.sh"
OUT="$ROOT/out/equivalence_matrix" PROMPT_LEN=65 SPAN_COUNT=1 QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --prompt-len) PROMPT_LEN="$2"; shift 2 ;;
    --span-count) SPAN_COUNT="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "equivalence_matrix: error: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ -x "$BUILD_DIR/greta_infer" ] || { echo "equivalence_matrix: error: build first (scripts/setup.sh)" >&2; exit 3; }
mkdir -p "$OUT/models"

MODELS=("$ROOT/models/stories260K.gguf" "$ROOT/models/TinyStories-656K-Q8_0.gguf")
TYPES=(f16 bf16 q8_0 q4_0 q4_K q6_K)
[ "$QUICK" = 1 ] && TYPES=(q8_0 q4_K)
for t in "${TYPES[@]}"; do
  f="$OUT/models/synth-tiny-$t.gguf"
  [ -f "$f" ] || "$BUILD_DIR/greta_gguf" synth --preset tiny --type "$t" --seed 7 --out "$f" >/dev/null
  MODELS+=("$f")
done
DTYPES=(f32 f16 bf16); THREADS=(1 2 3)
[ "$QUICK" = 1 ] && DTYPES=(bf16) && THREADS=(1 3)

field() {  # field REPORT KEY -> overall[KEY]
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["overall"][sys.argv[2]])' "$1" "$2"
}
echo "| model | weights | dtype | threads | kv-aligned 1: bit-equal | kv-aligned 0: bit-equal logits | kv-aligned 0: max abs diff | kv-aligned 0: max KL |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
fail=0
# Span: by default the ticket's span (prompt_len:1, the logits that choose the first generated
# token). A longer span also covers generated tokens; at kv-aligned 0 the two runs may then sample
# different tokens and later positions stop being comparable.
SPAN="$PROMPT_LEN:$SPAN_COUNT"
for m in "${MODELS[@]}"; do
  name="$(basename "$m" .gguf)"
  for d in "${DTYPES[@]}"; do
    for t in "${THREADS[@]}"; do
      cell="$OUT/$name-$d-t$t"
      rc1=0; "$GUARD" --model "$m" --prompt-len "$PROMPT_LEN" --max-tokens "$SPAN_COUNT" --dump-span "$SPAN" \
        --seed 42 --kv-aligned 1 --dtype "$d" --threads "$t" --out "$cell/a1" >/dev/null 2>&1 || rc1=$?
      rc0=0; "$GUARD" --model "$m" --prompt-len "$PROMPT_LEN" --max-tokens "$SPAN_COUNT" --dump-span "$SPAN" \
        --seed 42 --kv-aligned 0 --dtype "$d" --threads "$t" --out "$cell/a0" >/dev/null 2>&1 || rc0=$?
      wtype="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["a"]["metadata"].get("weights_type","?"))' "$cell/a1/report.json" 2>/dev/null || echo '?')"
      if [ "$rc1" = 0 ]; then eq1="yes ($(field "$cell/a1/report.json" bit_equal)/$(field "$cell/a1/report.json" n_logits))"
      else eq1="**NO** (exit $rc1)"; fail=1; fi
      if [ -f "$cell/a0/report.json" ]; then
        be0="$(field "$cell/a0/report.json" bit_equal)/$(field "$cell/a0/report.json" n_logits)"
        mx0="$(field "$cell/a0/report.json" max_abs_diff)"
        kl0="$(field "$cell/a0/report.json" max_kl_pq)"
      else be0="-"; mx0="(exit $rc0)"; kl0="-"; fi
      echo "| $name | $wtype | $d | $t | $eq1 | $be0 | $mx0 | $kl0 |"
    done
  done
done
exit $fail
