#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz and runs each for a bounded time.
# Fails on any crash, leak, timeout, out-of-memory or sanitizer report (docs/SECURITY.md).
#
#   scripts/fuzz.sh            every target 60 s
#   scripts/fuzz.sh 300        every target 300 s
#   scripts/fuzz.sh --long     every target 30 min (the issue-6 campaign; run it niced, at night)
#   scripts/fuzz.sh 60 fuzz_gguf fuzz_dump     only these targets
#
# Before fuzzing, each target replays its committed seeds (fuzz/corpus/<target>) and regression
# inputs (fuzz/regressions/<target>: every input that once crashed). New corpus entries go to
# build-fuzz/corpus/<target> (not committed); crash inputs to build-fuzz/artifacts/<target>/.
# A summary line per target (executions, edges covered) is printed and kept in
# build-fuzz/fuzz-summary.txt. Env: BUILD_DIR (default build-fuzz), BUILD_JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
targets=()
for a in "$@"; do
  case "$a" in
    --long) seconds=1800 ;;
    ''|*[!0-9]*) targets+=("$a") ;;
    *) seconds="$a" ;;
  esac
done
BUILD_DIR="${BUILD_DIR:-build-fuzz}"

scripts/setup.sh --deps
# shellcheck source=scripts/fuzz_env.sh
source scripts/fuzz_env.sh
fuzz_configure "$BUILD_DIR"
available=()
all_targets="$(ninja -C "$BUILD_DIR" -t targets all 2>/dev/null || true)"
for t in fuzz_gguf fuzz_tokenizer fuzz_dump fuzz_cli fuzz_server_request; do
  if grep -q "^$t:" <<<"$all_targets"; then available+=("$t"); fi
done
if ((${#targets[@]} == 0)); then targets=("${available[@]}"); fi
if ((${#targets[@]} == 0)); then echo "fuzz: no fuzz targets are defined yet" >&2; exit 1; fi
cmake --build "$BUILD_DIR" -j"${BUILD_JOBS:-$(nproc)}" --target "${targets[@]}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# Bounds: one input may take 25 s and 2 GiB RSS; one allocation may not exceed 1 GiB (a crafted
# count that slipped past validation shows up as a malloc-limit crash).
FLAGS=(-timeout=25 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1)

summary="$BUILD_DIR/fuzz-summary.txt"
: >"$summary"
status=0
run_one() {
  local t="$1" log="$BUILD_DIR/fuzz-$1.log"
  local seeds="fuzz/corpus/$t" regress="fuzz/regressions/$t" work="$BUILD_DIR/corpus/$t"
  mkdir -p "$work" "$BUILD_DIR/artifacts/$t"
  local dirs=("$work")
  [ -d "$seeds" ] && dirs+=("$seeds")
  # Regression inputs first, one by one, so a failure names the input.
  if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
    if ! "$BUILD_DIR/$t" -runs=0 "${FLAGS[@]}" "$regress"/* >"$log.regress" 2>&1; then
      echo "$t: FAIL regression input (see $log.regress)"; grep -E "SUMMARY|ERROR|Running" "$log.regress" | tail -4
      return 1
    fi
    dirs+=("$regress")
  fi
  local rc=0
  "$BUILD_DIR/$t" "${FLAGS[@]}" -max_total_time="$seconds" -artifact_prefix="$BUILD_DIR/artifacts/$t/" \
    "${dirs[@]}" >"$log" 2>&1 || rc=$?
  local execs cov total corp
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -oE ' cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 | sed 's/^ //')
  total=$(sed -n 's/.*Loaded [0-9]* modules *(\([0-9]*\) inline 8-bit counters).*/\1/p' "$log" | head -1)
  corp=$(grep -oE 'corp: [0-9]+/[0-9]+[bKM]b' "$log" | tail -1)
  local line="$t: ${seconds}s execs=${execs:-?} ${cov:-cov: ?} of ${total:-?} edges, ${corp:-corp: ?}"
  if [ "$rc" -ne 0 ]; then
    line="$line FAIL (exit $rc, see $log)"
    grep -E "^SUMMARY|ERROR: libFuzzer|Test unit written" "$log" | tail -3 >&2 || true
  else
    line="$line ok"
  fi
  echo "$line" | tee -a "$summary"
  return "$rc"
}

for t in "${targets[@]}"; do
  run_one "$t" || status=1
done
echo "fuzz: summary in $summary"
exit "$status"
