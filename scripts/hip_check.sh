#!/usr/bin/env bash
# The HIP build check (issue 10; docs/GPU.md): the GPU backend (src/greta/cuda) built for AMD GPUs
# from the CUDA sources, on a machine without a GPU, with Debian 12's packages. Any compile or link
# error fails the script (and CI, which runs it from .ci/run).
#   1. A full build with Debian's hipcc (HIP 5.2, clang 15) for gfx90a (MI200) and gfx940 (the
#      MI300 ISA family): greta_cuda and test_cuda, linked against libamdhip64; then test_cuda
#      runs: its device tests must skip (no device here), and nothing may fail or crash.
#   2. The device code of every .cu for gfx942 (MI300X), which that hipcc does not know, with
#      Debian's clang-19 and the same flags (CMake writes them to greta_hip_device_flags.txt):
#      compiled to gfx942 assembly. -nogpulib: Debian 12 ships no device libraries for gfx942, so
#      nothing is linked there (the math library calls stay undefined symbols).
#   scripts/hip_check.sh           build dir build-hip, HIP_CHECK_JOBS (default: nproc) jobs
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
BUILD_DIR="${HIP_CHECK_BUILD_DIR:-build-hip}"
JOBS="${HIP_CHECK_JOBS:-$(nproc)}"

# The project's packages (cmake, ninja, gtest, ...), then the HIP toolchains (about 620 MiB, so
# they are installed here rather than by every scripts/setup.sh).
scripts/setup.sh --deps
HIP_PACKAGES=(hipcc libamdhip64-dev clang-19 lld-19)
missing=()
for p in "${HIP_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "hip_check: installing ${missing[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "hip_check: full build for gfx90a;gfx940 (hipcc) in $BUILD_DIR" >&2
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRETA_HIP=ON "-DGRETA_HIP_ARCHS=gfx90a;gfx940" >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS" --target greta_cuda test_cuda
# Every object with device code (a CUDA-only file has none on HIP) carries it for both architectures.
for o in "$BUILD_DIR"/greta_hip/*.o; do
  sections=$(readelf -S "$o")
  grep -q '\.hip_fatbin' <<<"$sections" || continue
  objcopy -O binary --only-section=.hip_fatbin "$o" "$o.fatbin"
  targets=$(clang-offload-bundler-15 --list --type=o --input="$o.fatbin")
  for arch in gfx90a gfx940; do
    grep -q -- "--$arch\$" <<<"$targets" || { echo "hip_check: $o has no $arch code object" >&2; exit 1; }
  done
done
# No GPU here: the HIP-linked binary must load, find no device and skip its device tests.
"$BUILD_DIR"/test_cuda --gtest_brief=1 >"$BUILD_DIR"/test_cuda.log 2>&1 || {
  cat "$BUILD_DIR"/test_cuda.log >&2
  echo "hip_check: test_cuda failed without a device" >&2
  exit 1
}
tail -n 3 "$BUILD_DIR"/test_cuda.log >&2

echo "hip_check: device code for gfx942 (clang-19, no link)" >&2
mapfile -t FLAGS <"$BUILD_DIR"/greta_hip_device_flags.txt
mkdir -p "$BUILD_DIR"/gfx942
n=0
for src in src/greta/cuda/*.cu; do
  out="$BUILD_DIR/gfx942/$(basename "$src" .cu).s"
  clang++-19 "${FLAGS[@]}" --offload-arch=gfx942 -nogpulib --offload-device-only -S "$src" -o "$out"
  n=$((n + 1))
done
echo "hip_check: OK: $n .cu files built for gfx90a and gfx940 (linked: test_cuda) and compiled for gfx942, in $(($(date +%s) - t0)) s" >&2
