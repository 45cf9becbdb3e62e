#!/usr/bin/env bash
# Installs the Debian packages greta needs (idempotent; run as root or with sudo) and builds
# Release binaries into tools/inference/build.
#   scripts/setup.sh            the first run: the packages to build the tools, then greta_infer only
#   scripts/setup.sh --deps     install those packages only
#   scripts/setup.sh --test     also the test-only packages (GoogleTest, Chromium), then build
#                               everything: every tool and the test suite (scripts/test.sh runs this)
#   scripts/setup.sh --help     this help
# The other tools are one command away: cmake --build tools/inference/build
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=first
case "${1:-}" in
  "") ;;
  --deps) MODE=deps ;;
  --test) MODE=test ;;
  -h|--help) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "setup: error: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac

# What the tools need to build (libcpp-httplib-dev: greta_server).
PACKAGES=(build-essential cmake ninja-build pkg-config git
          zlib1g-dev nlohmann-json3-dev libcli11-dev libhwy-dev libpcre2-dev libcpp-httplib-dev)
# What only the test suite needs (chromium: the headless test of greta_server's chat page).
TEST_PACKAGES=(libgtest-dev libgmock-dev chromium)
if [ "$MODE" = test ]; then PACKAGES+=("${TEST_PACKAGES[@]}"); fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$MODE" = deps ]; then exit 0; fi

BUILD_DIR="${BUILD_DIR:-tools/inference/build}"
# The test suite is configured where GoogleTest is installed (always with --test), so a later
# scripts/test.sh or plain `cmake --build` in the same directory builds it; the first run builds
# only greta_infer either way.
TESTS=OFF
if [ "$MODE" = test ] || { installed libgtest-dev && installed libgmock-dev; }; then TESTS=ON; fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRETA_BUILD_TESTS="$TESTS" >/dev/null
if [ "$MODE" = test ]; then
  cmake --build "$BUILD_DIR" -j"$(nproc)"
else
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target greta_infer
fi
