#!/usr/bin/env bash
# Sustained audit appends/s with chaining on, on SQLite and PostgreSQL, in release mode:
# crates/clavis-store/benches/audit_append.rs (see its header for what each row measures).
# Modes: audit_now (group commit through the audit writer) and tx/event (begin, audit_in,
# commit); events: token.issued for an m2m client (clear) and for a user (email, ip and
# user agent sealed under the user's key). Each row: a fresh database, a warm-up, a
# measured window, then `audit_verify` must pass over exactly the events appended.
# Env knobs (passed through to the bench):
#   AUDIT_BENCH_SECS=5  AUDIT_BENCH_WARMUP_SECS=1  AUDIT_BENCH_CONC="1 16 64"
#   AUDIT_BENCH_BACKENDS="sqlite postgres"  AUDIT_BENCH_MODES="now tx"
#   AUDIT_BENCH_SHAPES="m2m user"  AUDIT_BENCH_USERS=1000
#   CLAVIS_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres
#   PGSSLMODE=prefer (sqlx's default: TLS when the server offers it; `disable` for plain TCP)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Build once (the `bench` profile: release), then run that executable, so nothing is
# recompiled between the load reading and the measurement.
exe="$(cargo bench -p clavis-store --bench audit_append --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*audit_append[^"]*"' | tail -1 | cut -d'"' -f4)" || true
[ -x "$exe" ] || { cargo bench -p clavis-store --bench audit_append --no-run; exit 1; }
pg="$(psql "${CLAVIS_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}" -Atc 'SHOW server_version' 2>/dev/null || echo '?')"
echo "# $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); PostgreSQL $pg (same machine, TCP, sslmode=${PGSSLMODE:-prefer}); SQLite WAL, synchronous=NORMAL"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$exe" --bench   # what `cargo bench -p clavis-store --bench audit_append` runs
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# appends/s and latencies: appends completed inside the measured window; appended: all"
echo "# (warm-up and window) of the row, all found by audit_verify on a chain that verified ok."
