#!/usr/bin/env bash
# greta_server throughput with curl only (for machines without Node, such as the GPU machine):
# S concurrent streamed completions of N tokens (EOS ignored, greedy) on 127.0.0.1, after one
# warm-up request; prints the aggregate generated tokens/s and the time to first token p50 / p99
# (from sending the request to the first SSE event that carries a token).
#   scripts/server_bench_curl.sh SERVER_BIN MODEL BACKEND "1 16" [N] [THREADS]
set -u -o pipefail
BIN=$1 MODEL=$2 BACKEND=$3 STREAMS=$4 N=${5:-32} THREADS=${6:-2}
PORT=$((20000 + RANDOM % 20000))
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
words="Once upon a time there was a little girl who liked to play"
for s in $STREAMS; do
  "$BIN" -m "$MODEL" --port $PORT --parallel "$s" -c 512 -t "$THREADS" --backend "$BACKEND" --kv-aligned 1 \
    >"$TMP/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.5; done
  for i in $(seq 0 $((s - 1))); do
    prompt=$(for k in $(seq 0 47); do set -- $words; shift $(((k + i) % 13)); printf '%s ' "$1"; done)
    printf '{"prompt":"%s","max_tokens":%d,"ignore_eos":true,"temperature":0,"stream":true}' "$prompt" "$N" >"$TMP/body$i.json"
  done
  curl -sN -o /dev/null -d @"$TMP/body0.json" -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/v1/completions"
  t0=$(date +%s.%N)
  for i in $(seq 0 $((s - 1))); do
    {
      curl -sN -d @"$TMP/body$i.json" -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/v1/completions" |
        while IFS= read -r line; do
          if [ ! -f "$TMP/first$i" ] && [[ $line == *'"token_ids":['[0-9]* ]]; then date +%s.%N >"$TMP/first$i"; fi
          printf '%s\n' "$line"
        done >"$TMP/out$i.txt"
      awk -v t0="$t0" '{ printf "%.6f\n", $1 - t0 }' "$TMP/first$i" >"$TMP/ttfb$i.txt"
    } &
  done
  for j in $(jobs -p); do [ "$j" = "$pid" ] || wait "$j"; done
  t1=$(date +%s.%N)
  kill -TERM $pid; wait $pid
  tokens=$(cat "$TMP"/out*.txt | grep -o '"token_ids":\[[0-9,]*\]' | tr -cd ',[' | tr -d '[' | wc -c)
  chunks=$(cat "$TMP"/out*.txt | grep -c '"token_ids":\[[0-9]')
  sort -n "$TMP"/ttfb*.txt >"$TMP/ttfb.sorted"
  p50=$(awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' "$TMP/ttfb.sorted")
  p99=$(tail -1 "$TMP/ttfb.sorted")
  awk -v s="$s" -v n="$N" -v t0="$t0" -v t1="$t1" -v c="$chunks" -v p50="$p50" -v p99="$p99" 'BEGIN {
    printf "server_bench: %d stream(s) x %d tokens (%d token chunks received): %.1f generated tokens/s aggregate, time to first token p50 %.3f s, p99 %.3f s\n", s, n, c, s * n / (t1 - t0), p50, p99 }'
  rm -f "$TMP"/out*.txt "$TMP"/ttfb*.txt "$TMP"/first*
done
