#!/usr/bin/env bash
# Runs the whole test suite: setup (the packages, test-only ones included, and a Release build of
# every tool and test), then CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# greta_server's load driver also runs with the official openai npm client (docs/SERVER.md); npm's
# registry is the only one it needs. Without npm, or offline, that one test is skipped.
if command -v npm >/dev/null && [ ! -d tools/inference/build/npm/node_modules/openai ]; then
  npm install --silent --no-audit --no-fund --prefix tools/inference/build/npm openai >/dev/null 2>&1 ||
    echo "test: npm install openai failed; the openai load-driver test will be skipped" >&2
fi
ctest --test-dir tools/inference/build --output-on-failure -j"$(nproc)" --timeout 600
