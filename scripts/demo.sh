#!/usr/bin/env bash
# Installs dependencies, builds, and starts the demo in the background: an echo upstream on
# 127.0.0.1:9000 and silverback on :8000 (proxy) / 127.0.0.1:8001 (admin) with ./kong.yaml.
#   scripts/demo.sh          start (then: curl -i localhost:8000/demo/hello)
#   scripts/demo.sh stop     stop both
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR=build/demo
stop() {
  for name in silverback upstream; do
    if [ -f "$RUN_DIR/$name.pid" ]; then
      kill "$(cat "$RUN_DIR/$name.pid")" 2>/dev/null || true
      rm -f "$RUN_DIR/$name.pid"
    fi
  done
}
if [ "${1:-}" = "stop" ]; then stop; echo "demo stopped"; exit 0; fi

scripts/install-deps.sh
BUILD_TYPE=Release scripts/build.sh build -DSILVERBACK_TESTS=OFF
mkdir -p "$RUN_DIR"
stop
nohup python3 examples/demo/echo_upstream.py 9000 >"$RUN_DIR/upstream.log" 2>&1 &
echo $! >"$RUN_DIR/upstream.pid"
nohup build/silverback start -c kong.yaml >"$RUN_DIR/silverback.log" 2>&1 &
echo $! >"$RUN_DIR/silverback.pid"
for _ in $(seq 1 50); do
  if curl -fs -o /dev/null http://127.0.0.1:8001/status 2>/dev/null &&
     curl -fs -o /dev/null http://127.0.0.1:9000/ 2>/dev/null; then
    echo "silverback is up: try  curl -i localhost:8000/demo/hello"
    echo "admin status:          curl -s localhost:8001/status"
    echo "logs in $RUN_DIR/, stop with: scripts/demo.sh stop"
    exit 0
  fi
  sleep 0.1
done
echo "silverback did not come up; see $RUN_DIR/silverback.log" >&2
cat "$RUN_DIR/silverback.log" >&2
exit 1
