#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: install dependencies, build (release
# preset, warnings as errors), run every test (unit, integration, end-to-end) and print ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release
# Unit tests in parallel; tests that start servers or measure timing run one at a time (RUN_SERIAL).
ctest --preset release -j "$(nproc)" --timeout 600
