#!/usr/bin/env bash
# CTest: test_b3_68_smoke.sh accepts a valid hand-written dump and rejects broken ones
# (exit non-zero with a message). Usage: smoke_rejects_broken_dumps.sh SMOKE_SCRIPT
set -euo pipefail
SMOKE="$1"
work="$(mktemp -d "${TMPDIR:-/tmp}/greta_smoke_broken.XXXXXX")"
trap 'rm -rf "$work"' EXIT

meta='{"dtype": "bf16", "prompt_len": 5, "gen_len": 1, "seed": 42, "kv_aligned": 1, "mode": "decode",
 "token_span": {"start": 5, "count": 2}, "timestamp": "2026-02-07T20:00:00Z", "repo_branch": "main"}'
lines='{"token_idx": 5, "token_id": 9, "logits": [0.5, -1, null]}
{"token_idx": 6, "token_id": 3, "logits": [1e-45, 2.5, 3]}'

make_dump() {  # make_dump NAME METADATA LINES [raw]
  mkdir -p "$work/$1"
  printf '%s\n' "$2" > "$work/$1/metadata.json"
  if [ "${4:-}" = raw ]; then printf '%s\n' "$3" > "$work/$1/logits.jsonl.gz"
  else printf '%s\n' "$3" | gzip -c > "$work/$1/logits.jsonl.gz"; fi
}

make_dump valid "$meta" "$lines"
"$SMOKE" "$work/valid" >/dev/null || { echo "FAIL: a valid dump was rejected" >&2; exit 1; }

make_dump missing_key "${meta/\"seed\": 42, /}" "$lines"
make_dump wrong_type "${meta/\"prompt_len\": 5/\"prompt_len\": \"5\"}" "$lines"
make_dump not_json "${meta%\}}" "$lines"
make_dump not_gzip "$meta" "$lines" raw
make_dump truncated "$meta" "$lines"
head -c 40 "$work/truncated/logits.jsonl.gz" > "$work/t" && mv "$work/t" "$work/truncated/logits.jsonl.gz"
make_dump bad_line "$meta" '{"token_idx": 5, "token_id": 9, "logits": [0.5, -1, null]}
{"token_idx": 6, "token_id": 3, "logits": [1, 2,]}'
make_dump ragged "$meta" '{"token_idx": 5, "token_id": 9, "logits": [0.5, -1, null]}
{"token_idx": 6, "token_id": 3, "logits": [1, 2]}'
make_dump bad_idx "$meta" '{"token_idx": 5, "token_id": 9, "logits": [0.5, -1, null]}
{"token_idx": 7, "token_id": 3, "logits": [1, 2, 3]}'
mkdir -p "$work/no_logits" && printf '%s\n' "$meta" > "$work/no_logits/metadata.json"

failed=0
for name in missing_key wrong_type not_json not_gzip truncated bad_line ragged bad_idx no_logits; do
  if out="$("$SMOKE" "$work/$name" 2>&1)"; then
    echo "FAIL: broken dump '$name' was accepted" >&2
    failed=1
  elif ! grep -q "FAIL" <<< "$out"; then
    echo "FAIL: broken dump '$name': no failure message: $out" >&2
    failed=1
  else
    echo "ok: $name rejected: $(head -n 1 <<< "$out")"
  fi
done
exit "$failed"
