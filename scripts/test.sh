#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite (unit + integration) with ctest.
#   scripts/test.sh                 normal build (build-test/)
#   SANITIZE=1 scripts/test.sh      ASan+UBSan build (build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ "${SANITIZE:-0}" = "1" ]; then
  BUILD_DIR=build-asan
  BUILD_TYPE=Debug scripts/build.sh "$BUILD_DIR" -DSILVERBACK_SANITIZE=ON
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  BUILD_DIR=build-test
  BUILD_TYPE=RelWithDebInfo scripts/build.sh "$BUILD_DIR"
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cd "$BUILD_DIR"
ctest --output-on-failure -j2 --timeout 600
