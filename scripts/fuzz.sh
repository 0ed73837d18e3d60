#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz and runs each one for SECONDS
# (default 60) on a working copy of its seed corpus in tests/fuzz/corpus/<target>, FUZZ_JOBS
# targets at a time (default: one per CPU; wall time is SECONDS x ceil(7 / FUZZ_JOBS)). Exits
# non-zero when any target crashes, leaks, hangs or fails to run, printing the input that did it
# (reproduce with: build-fuzz/fuzz/fuzz_<target> <input>).
#
#   scripts/fuzz.sh            # 60 s per target
#   scripts/fuzz.sh 3600       # a longer run
#   FUZZ_TARGETS="request router" scripts/fuzz.sh 30
#   FUZZ_ARGS="-jobs=4 -workers=4" scripts/fuzz.sh 600   # extra libFuzzer flags
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
BUILD_DIR=build-fuzz
TARGETS=${FUZZ_TARGETS:-request response config schema router settings tls_clienthello}
JOBS=${FUZZ_JOBS:-$(nproc)}

CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSILVERBACK_FUZZ=ON -DSILVERBACK_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" --target fuzz -j"$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

running=0
for t in $TARGETS; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  work="$BUILD_DIR/fuzz-work/$t"
  rm -rf "$work/artifacts" "$work/rc"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp -r tests/fuzz/corpus/"$t"/. "$work/corpus/"
  # Real-world configs from the shared corpus beside the repo seed the config target when
  # present (they are third-party files, so they are not copied into the repo).
  if [ "$t" = config ] && [ -d ../shared/corpus/kong-configs ]; then
    cp ../shared/corpus/kong-configs/*.y*ml ../shared/corpus/kong-configs/*.json "$work/corpus/" \
      2>/dev/null || true
  fi
  max_len=4096
  dict=()
  case $t in
    request | response) dict=(-dict=tests/fuzz/http.dict) ;;
    config | schema) max_len=16384 dict=(-dict=tests/fuzz/config.dict) ;;
  esac
  (
    rc=0
    "$BUILD_DIR/fuzz/fuzz_$t" "$work/corpus" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
      -rss_limit_mb=2048 -max_len="$max_len" -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/" "${dict[@]}" ${FUZZ_ARGS:-} >"$work/log" 2>&1 || rc=$?
    echo "$rc" >"$work/rc"
  ) &
  running=$((running + 1))
done
wait

status=0
for t in $TARGETS; do
  work="$BUILD_DIR/fuzz-work/$t"
  if [ "$(cat "$work/rc" 2>/dev/null)" = 0 ]; then
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$work/log" | grep -o '[0-9]*$' || true)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$' || true)
    cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 || true)
    echo "fuzz_$t: ok (${SECONDS_PER_TARGET}s, ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-cov: ?})"
  else
    status=1
    echo "fuzz_$t: FAILED (log: $work/log)"
    grep -E '^==[0-9]+==ERROR|runtime error|^SUMMARY' "$work/log" | head -5 || true
    for f in "$work"/artifacts/*; do
      [ -e "$f" ] && echo "  input: $f  (reproduce: $BUILD_DIR/fuzz/fuzz_$t $f)"
    done
  fi
done
exit $status
