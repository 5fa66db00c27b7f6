#!/usr/bin/env bash
# Measures time from `clavis serve` exec to the first 200 from /ready, and idle RSS, for a
# first start (empty data directory: creates the SQLite file, master key, default tenant
# and its RSA keys) and for later starts. Prints a table.
# Usage: bench/startup.sh [RUNS]   (builds the release binary if missing)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS="${1:-5}"
BIN=target/release/clavis
[ -x "$BIN" ] || cargo build --release -p clavis >/dev/null
PORT=18080
WORK="$(mktemp -d)"
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

now_ms() { date +%s%3N; }
measure() { # $1 = label
  local t0 t1 rss
  t0=$(now_ms)
  CLAVIS_DATA_DIR="$WORK/data" CLAVIS_LISTEN="127.0.0.1:$PORT" CLAVIS_LOG_LEVEL=warn "$BIN" serve >/dev/null 2>&1 &
  PID=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$PORT/ready"; do sleep 0.002; done
  t1=$(now_ms)
  sleep 3
  rss=$(awk '/VmRSS/{printf "%.1f", $2/1024}' /proc/$PID/status)
  printf "%-12s %14s %12s\n" "$1" "$((t1 - t0))" "$rss"
  kill -TERM $PID; wait $PID 2>/dev/null || true
}

echo "# clavis $($BIN --version | cut -d' ' -f2), $(nproc) CPUs, SQLite, release build"
printf "%-12s %14s %12s\n" "start" "ready_ms" "idle_rss_MB"
measure "first"
for i in $(seq "$RUNS"); do measure "restart-$i"; done
