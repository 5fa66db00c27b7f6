#!/usr/bin/env bash
# Authorization decisions/s and p50/p99 latency of the check API, in-process
# (Core::authz_check from C concurrent tasks) and over HTTP (wrk POSTing JSON bodies to
# /api/v2/authorize/check and /check-batch with a read:authz Management API token), on a
# tenant with 1,000 roles and 100,000 role assignments, on SQLite and PostgreSQL, in
# release mode: crates/clavis-testkit/benches/authz_check.rs (its header says what each
# row measures). The server runs in the bench process; wrk shares the same CPUs.
# Needs wrk (installed with apt-get when run as root). Env knobs (passed to the bench):
#   AUTHZ_BENCH_SECS=5  AUTHZ_BENCH_WARMUP_SECS=1  AUTHZ_BENCH_CONC="1 16 64"
#   AUTHZ_BENCH_HTTP_CONNS="1 16 64"  AUTHZ_BENCH_BACKENDS="sqlite postgres"
#   AUTHZ_BENCH_USERS=10000  AUTHZ_BENCH_ROLES=1000  AUTHZ_BENCH_PERMS=500
#   AUTHZ_BENCH_HTTP=1 (0: in-process rows only)
#   CLAVIS_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "${AUTHZ_BENCH_HTTP:-1}" != 0 ] && ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null; else echo "need wrk"; exit 1; fi
fi
cargo bench -p clavis-testkit --bench authz_check --no-run >/dev/null 2>&1 \
  || cargo bench -p clavis-testkit --bench authz_check --no-run
pg="$(psql "${CLAVIS_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}" -Atc 'SHOW server_version' 2>/dev/null || echo '?')"
echo "# $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); PostgreSQL $pg (same machine); SQLite WAL, synchronous=NORMAL; wrk -t1"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench -p clavis-testkit --bench authz_check 2>/dev/null
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# decisions/s: decisions completed inside the measured window (http: requests/s, x100 for"
echo "# batch100); p50/p99: per call (in-process) or per HTTP request (wrk); errors: failed"
echo "# calls (in-process) or non-2xx answers (http); allowed%: share of the checks allowed."
