#!/usr/bin/env bash
# B3.68 smoke test: validates a logits dump against the contract (SPEC.md, "Dump contract").
#
#   tools/benchmarks/test_b3_68_smoke.sh DUMP_DIR   validate an existing dump
#   tools/benchmarks/test_b3_68_smoke.sh            run greta_infer --dump-logits into a temporary
#                                                   directory (building it if needed), validate that
#
# Checks, with python3's standard library (json, gzip) so they do not share code with greta:
# metadata.json exists and is a JSON object with the contract's keys and JSON types;
# logits.jsonl.gz exists and is complete gzip; every line is a JSON object with token_idx (the
# span's sequence), token_id and logits (numbers or null, the same length on every line, equal to
# vocab_size when the metadata has it). Then, if built, `greta_compare --validate` as a second
# opinion. Exit 0 when the dump is valid, 1 with a message on the first failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${GRETA_BUILD_DIR:-$ROOT/tools/inference/build}"
ME="test_b3_68_smoke"

usage() {
  echo "usage: test_b3_68_smoke.sh [DUMP_DIR]"
  echo "  validates DUMP_DIR (or a dump greta_infer writes to a temporary directory) against the"
  echo "  dump contract; exit 0 valid, 1 invalid, 2 bad usage"
}
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  usage
  exit 0
fi
if [ $# -gt 1 ] || [[ "${1:-}" == -* ]]; then
  usage >&2
  exit 2
fi

cleanup_dir=""
trap '[ -n "$cleanup_dir" ] && rm -rf "$cleanup_dir"' EXIT

if [ $# -eq 1 ]; then
  DUMP="$1"
else
  INFER="$BUILD_DIR/greta_infer"
  if [ ! -x "$INFER" ]; then
    echo "$ME: building greta_infer in $BUILD_DIR" >&2
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD_DIR" --target greta_infer greta_compare_cli >/dev/null
  fi
  cleanup_dir="$(mktemp -d "${TMPDIR:-/tmp}/greta_smoke.XXXXXX")"
  DUMP="$cleanup_dir/dump"
  # The ticket's environment-variable form: only --model and --dump-logits on the command line.
  if ! GRETA_SEED=42 GRETA_KV_ALIGNED=1 "$INFER" --model "$ROOT/models/stories260K.gguf" \
      --prompt "Once upon a time" -n 4 --mode decode --dump-logits "$DUMP" \
      > "$cleanup_dir/stdout" 2> "$cleanup_dir/stderr"; then
    echo "$ME: FAIL: greta_infer failed:" >&2
    tail -n 5 "$cleanup_dir/stderr" >&2
    exit 1
  fi
fi

if ! command -v python3 >/dev/null 2>&1; then
  echo "$ME: python3 not found; validating with greta_compare only" >&2
else
  python3 - "$DUMP" <<'PYEOF'
import gzip, json, math, os, re, sys, zlib

dump = sys.argv[1]
def fail(msg):
    print(f"test_b3_68_smoke: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)

if not os.path.isdir(dump):
    fail(f"'{dump}' is not a directory")
meta_path = os.path.join(dump, "metadata.json")
logits_path = os.path.join(dump, "logits.jsonl.gz")
if not os.path.isfile(meta_path):
    fail(f"{meta_path} does not exist")
try:
    with open(meta_path, "rb") as f:
        meta = json.loads(f.read().decode("utf-8"))
except (ValueError, UnicodeDecodeError) as e:
    fail(f"{meta_path} is not valid JSON: {e}")
if not isinstance(meta, dict):
    fail(f"{meta_path}: expected a JSON object")

def is_int(v): return isinstance(v, int) and not isinstance(v, bool)
required = {"dtype": str, "prompt_len": int, "gen_len": int, "seed": int, "kv_aligned": int,
            "mode": str, "token_span": dict, "timestamp": str, "repo_branch": str}
for key, typ in required.items():
    if key not in meta:
        fail(f"{meta_path}: missing key '{key}'")
    v = meta[key]
    ok = is_int(v) and v >= 0 if typ is int else isinstance(v, typ)
    if not ok:
        fail(f"{meta_path}: key '{key}' must be {'a non-negative integer' if typ is int else typ.__name__}, got {json.dumps(v)}")
if meta["kv_aligned"] not in (0, 1):
    fail(f"{meta_path}: kv_aligned must be 0 or 1, got {meta['kv_aligned']}")
span = meta["token_span"]
for key in ("start", "count"):
    if not is_int(span.get(key)) or span[key] < 0:
        fail(f"{meta_path}: token_span.{key} must be a non-negative integer, got {json.dumps(span.get(key))}")
if span["count"] < 1:
    fail(f"{meta_path}: token_span.count must be >= 1")
if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", meta["timestamp"]):
    fail(f"{meta_path}: timestamp '{meta['timestamp']}' is not UTC ISO-8601 ending in Z")

if not os.path.isfile(logits_path):
    fail(f"{logits_path} does not exist")
try:
    with gzip.open(logits_path, "rb") as f:
        data = f.read()
except (OSError, EOFError, zlib.error) as e:
    fail(f"{logits_path} is not valid gzip: {e}")

lines = data.split(b"\n")
if lines and lines[-1] == b"":
    lines.pop()
if len(lines) != span["count"]:
    fail(f"{logits_path}: {len(lines)} lines, but token_span.count is {span['count']}")
vocab = meta.get("vocab_size") if is_int(meta.get("vocab_size")) else None
n_null = 0
for i, raw in enumerate(lines):
    where = f"{logits_path} line {i + 1}"
    try:
        rec = json.loads(raw.decode("utf-8"), parse_constant=lambda c: fail(f"{where}: {c} is not JSON"))
    except (ValueError, UnicodeDecodeError) as e:
        fail(f"{where}: not valid JSON: {e}")
    if not isinstance(rec, dict):
        fail(f"{where}: expected a JSON object")
    for key in ("token_idx", "token_id", "logits"):
        if key not in rec:
            fail(f"{where}: missing key '{key}'")
    if not is_int(rec["token_idx"]) or rec["token_idx"] != span["start"] + i:
        fail(f"{where}: token_idx is {json.dumps(rec['token_idx'])}, expected {span['start'] + i}")
    if not is_int(rec["token_id"]) or rec["token_id"] < 0:
        fail(f"{where}: token_id must be a non-negative integer, got {json.dumps(rec['token_id'])}")
    logits = rec["logits"]
    if not isinstance(logits, list) or not logits:
        fail(f"{where}: logits must be a non-empty array")
    for j, x in enumerate(logits):
        if x is None:
            n_null += 1
        elif isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            fail(f"{where}: logits[{j}] is {json.dumps(x)}, expected a number or null")
    if vocab is None:
        vocab = len(logits)
    if len(logits) != vocab:
        fail(f"{where}: {len(logits)} logits, expected {vocab} (vocab size)")
print(f"test_b3_68_smoke: python check: {len(lines)} line(s) x {vocab} logits, token_span "
      f"{span['start']}:{span['count']}, mode {meta['mode']}, kv_aligned {meta['kv_aligned']}"
      + (f", {n_null} null logits" if n_null else ""))
PYEOF
fi

COMPARE="$BUILD_DIR/greta_compare"
if [ -x "$COMPARE" ]; then
  if ! "$COMPARE" --validate "$DUMP"; then
    echo "$ME: FAIL: greta_compare --validate rejected the dump" >&2
    exit 1
  fi
elif ! command -v python3 >/dev/null 2>&1; then
  echo "$ME: FAIL: neither python3 nor $COMPARE is available to validate the dump" >&2
  exit 1
fi
echo "$ME: PASS: $DUMP is a valid B3.68 dump"
