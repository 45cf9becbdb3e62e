#!/usr/bin/env bash
# Installs the Debian packages greta needs (idempotent; run as root or with sudo) and builds
# Release binaries into tools/inference/build.
#   scripts/setup.sh            install + build
#   scripts/setup.sh --deps     install only
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake ninja-build pkg-config git
          zlib1g-dev nlohmann-json3-dev libcli11-dev libhwy-dev libpcre2-dev
          libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev
          chromium)  # chromium: the headless test of greta_server's chat page

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--deps" ]; then exit 0; fi

BUILD_DIR="${BUILD_DIR:-tools/inference/build}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
