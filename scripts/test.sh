#!/usr/bin/env bash
# Runs the whole test suite: setup (deps + Release build), then CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir tools/inference/build --output-on-failure -j"$(nproc)" --timeout 600
