#!/usr/bin/env bash
# B3.67 equivalence guardrail: runs greta_infer in --mode prefill and --mode decode with the same
# model, prompt and seed, dumps the logits of the same span, and compares them with greta_compare.
#
#   tools/benchmarks/run_b3_67_equivalence_guardrail.sh [options]
#
# Environment: GRETA_BUILD_DIR (default tools/inference/build) holds greta_infer, greta_compare
# and greta_tokenize; GRETA_OUT_DIR is the default --out.
#
# Exit status: the analyzer's (0 equivalent, 1 not equivalent, 2 invalid input), 2 for a bad
# option, 3 when building or a greta_infer run failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${GRETA_BUILD_DIR:-$ROOT/tools/inference/build}"
FABLE="$ROOT/tools/benchmarks/data/aesop_north_wind_and_sun.txt"
ME="run_b3_67_equivalence_guardrail"

usage() {
  cat <<EOF
Usage: $0 [options]
  --model FILE        GGUF model (default: models/stories260K.gguf, the shipped model)
  --prompt TEXT       prompt text
  --prompt-file FILE  prompt read from FILE
  --prompt-len N      a prompt of exactly N tokens (BOS included), cut from repetitions of
                      tools/benchmarks/data/aesop_north_wind_and_sun.txt
                      (default when no prompt is given: the whole fable)
  --max-tokens N      tokens to generate (default 16)
  --seed N            sampling seed (default 42)
  --kv-aligned 0|1    default 1 (strict bit-equality verdict); 0 measures the drift
  --dtype TYPE        f32 | f16 | bf16 (default bf16)
  --threads N         CPU threads (default: greta_infer's)
  --dump-span S:C     token indices to dump (default: greta_infer's, prompt_len:1)
  --backend NAME      cpu (default) or cuda (CUDA builds of greta_infer)
  --activations A     q8 (default) or f32: greta_infer's matmul activation precision
  --out DIR           output directory (default: \$GRETA_OUT_DIR, else out/b3_67_guardrail); gets prefill/, decode/,
                      report.json, report.html, summary.txt
  -h, --help          this help
Exit status: 0 equivalent, 1 not equivalent, 2 invalid input, 3 a build or run failed.
EOF
}

die() { echo "$ME: error: $*" >&2; exit 2; }
need_value() { [ $# -ge 2 ] || die "option $1 needs a value"; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

MODEL="" PROMPT="" PROMPT_FILE="" PROMPT_LEN="" MAX_TOKENS=16 SEED=42 KV_ALIGNED=1 DTYPE=bf16
THREADS="" DUMP_SPAN="" OUT="" HAVE_PROMPT=0 BACKEND="" ACTIVATIONS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --model) need_value "$@"; MODEL="$2"; shift 2 ;;
    --prompt) need_value "$@"; PROMPT="$2"; HAVE_PROMPT=1; shift 2 ;;
    --prompt-file) need_value "$@"; PROMPT_FILE="$2"; shift 2 ;;
    --prompt-len) need_value "$@"; PROMPT_LEN="$2"; shift 2 ;;
    --max-tokens) need_value "$@"; MAX_TOKENS="$2"; shift 2 ;;
    --seed) need_value "$@"; SEED="$2"; shift 2 ;;
    --kv-aligned) need_value "$@"; KV_ALIGNED="$2"; shift 2 ;;
    --dtype) need_value "$@"; DTYPE="$2"; shift 2 ;;
    --threads) need_value "$@"; THREADS="$2"; shift 2 ;;
    --dump-span) need_value "$@"; DUMP_SPAN="$2"; shift 2 ;;
    --backend) need_value "$@"; BACKEND="$2"; shift 2 ;;
    --activations) need_value "$@"; ACTIVATIONS="$2"; shift 2 ;;
    --out) need_value "$@"; OUT="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

# Validate what we can before building or loading anything.
n_prompt_sources=$(( HAVE_PROMPT + (${#PROMPT_FILE} > 0 ? 1 : 0) + (${#PROMPT_LEN} > 0 ? 1 : 0) ))
[ "$n_prompt_sources" -le 1 ] || die "--prompt, --prompt-file and --prompt-len exclude each other"
if [ -n "$PROMPT_LEN" ]; then
  is_uint "$PROMPT_LEN" && [ "$PROMPT_LEN" -ge 1 ] || die "--prompt-len: expected an integer >= 1, got '$PROMPT_LEN'"
fi
is_uint "$MAX_TOKENS" || die "--max-tokens: expected a non-negative integer, got '$MAX_TOKENS'"
is_uint "$SEED" || die "--seed: expected an unsigned integer, got '$SEED'"
[[ "$KV_ALIGNED" == 0 || "$KV_ALIGNED" == 1 ]] || die "--kv-aligned: expected 0 or 1, got '$KV_ALIGNED'"
[[ "$DTYPE" == f32 || "$DTYPE" == f16 || "$DTYPE" == bf16 ]] || die "--dtype: expected f32, f16 or bf16, got '$DTYPE'"
if [ -n "$THREADS" ]; then
  is_uint "$THREADS" && [ "$THREADS" -ge 1 ] || die "--threads: expected an integer >= 1, got '$THREADS'"
fi
if [ -n "$PROMPT_FILE" ] && [ ! -f "$PROMPT_FILE" ]; then die "--prompt-file: '$PROMPT_FILE' is not a file"; fi
[ -n "$MODEL" ] || MODEL="$ROOT/models/stories260K.gguf"
[ -f "$MODEL" ] || die "--model: '$MODEL' is not a file"
MODEL="$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")"  # absolute, as the dumps record it
[ -n "$OUT" ] || OUT="${GRETA_OUT_DIR:-$ROOT/out/b3_67_guardrail}"
if [ "$n_prompt_sources" -eq 0 ]; then PROMPT_FILE="$FABLE"; fi

# Build the tools if any is missing (the README's build command).
INFER="$BUILD_DIR/greta_infer" COMPARE="$BUILD_DIR/greta_compare" TOKENIZE="$BUILD_DIR/greta_tokenize"
if [ ! -x "$INFER" ] || [ ! -x "$COMPARE" ] || { [ -n "$PROMPT_LEN" ] && [ ! -x "$TOKENIZE" ]; }; then
  echo "$ME: building the tools in $BUILD_DIR" >&2
  if ! { cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
         cmake --build "$BUILD_DIR" --target greta_infer greta_compare_cli greta_tokenize >/dev/null; }; then
    echo "$ME: error: building the tools failed" >&2
    exit 3
  fi
fi

mkdir -p "$OUT" || die "--out: cannot create '$OUT'"
OUT="$(cd "$OUT" && pwd)"

# --prompt-len N: the shortest prefix of the repeated fable that tokenizes to exactly N tokens.
count_tokens() { "$TOKENIZE" -m "$MODEL" -p "$1" | head -n 1 | wc -w; }
if [ -n "$PROMPT_LEN" ]; then
  text="$(tr '\n' ' ' < "$FABLE")"
  while [ "$(count_tokens "$text")" -lt "$PROMPT_LEN" ]; do text="$text $(tr '\n' ' ' < "$FABLE")"; done
  read -r -a words <<< "$text"
  # Binary search for the largest word count whose prefix has < N tokens ...
  lo=0 hi=${#words[@]}
  while [ $((hi - lo)) -gt 1 ]; do
    mid=$(( (lo + hi) / 2 ))
    if [ "$(count_tokens "${words[*]:0:mid}")" -lt "$PROMPT_LEN" ]; then lo=$mid; else hi=$mid; fi
  done
  # ... then extend it character by character up to two words further until exactly N.
  base="${words[*]:0:lo}"
  tail_text="${words[*]:lo:2}"
  found=""
  if [ "$(count_tokens "$base")" -eq "$PROMPT_LEN" ]; then found="$base"; fi
  # Whole words read better than a cut word: try the next word first.
  if [ -z "$found" ] && [ "$(count_tokens "${words[*]:0:lo+1}")" -eq "$PROMPT_LEN" ]; then found="${words[*]:0:lo+1}"; fi
  sep=""; [ -n "$base" ] && sep=" "
  for ((i = 1; i <= ${#tail_text} && ${#found} == 0; i++)); do
    candidate="$base$sep${tail_text:0:i}"
    [[ "$candidate" == *" " ]] && continue
    if [ "$(count_tokens "$candidate")" -eq "$PROMPT_LEN" ]; then found="$candidate"; fi
  done
  if [ -z "$found" ] && [ "$PROMPT_LEN" -ne "$(count_tokens "")" ]; then
    echo "$ME: error: no prefix of the fable tokenizes to exactly $PROMPT_LEN tokens with this model" >&2
    exit 2
  fi
  PROMPT_FILE="$OUT/prompt.txt"
  printf '%s' "$found" > "$PROMPT_FILE"
fi

common=(-m "$MODEL" -n "$MAX_TOKENS" --seed "$SEED" --kv-aligned "$KV_ALIGNED" --dtype "$DTYPE" --ignore-eos)
[ -n "$THREADS" ] && common+=(-t "$THREADS")
[ -n "$DUMP_SPAN" ] && common+=(--dump-span "$DUMP_SPAN")
[ -n "$BACKEND" ] && common+=(--backend "$BACKEND")
[ -n "$ACTIVATIONS" ] && common+=(--activations "$ACTIVATIONS")
if [ -n "$PROMPT_FILE" ]; then common+=(-f "$PROMPT_FILE"); else common+=(-p "$PROMPT"); fi

for mode in prefill decode; do
  echo "$ME: greta_infer --mode $mode --kv-aligned $KV_ALIGNED --dtype $DTYPE --seed $SEED -> $OUT/$mode" >&2
  set +e
  "$INFER" "${common[@]}" --mode "$mode" --dump-logits "$OUT/$mode" > "$OUT/$mode.stdout" 2> "$OUT/$mode.stderr"
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "$ME: error: greta_infer --mode $mode failed (exit $rc):" >&2
    tail -n 5 "$OUT/$mode.stderr" >&2
    [ "$rc" -eq 2 ] && exit 2
    exit 3
  fi
done

set +e
"$COMPARE" "$OUT/prefill" "$OUT/decode" --json "$OUT/report.json" --html "$OUT/report.html" > "$OUT/summary.txt"
rc=$?
set -e
cat "$OUT/summary.txt"
if [ "$rc" -le 1 ]; then
  echo "$ME: report: $OUT/report.html (JSON: $OUT/report.json)" >&2
fi
exit "$rc"
