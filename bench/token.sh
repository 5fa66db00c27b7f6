#!/usr/bin/env bash
# client_credentials throughput and latency of Clavis for RS256, ES256 and EdDSA tenants,
# on SQLite, every issuance audited (as in production). Same method as
# ../shared/bench/peer-oidc-provider/run.sh so the tables compare side by side: wrk on the
# same machine, loopback HTTP/1.1 keep-alive, a warm-up, then one run per connection count.
# Needs wrk (installed with apt-get when run as root). Env knobs:
#   ALGS="RS256 ES256 EdDSA"  CONNS="1 64"  DURATION=20 (s)  C1_DURATION=10
#   REPEAT=1 (runs per algorithm and connection count, one row each: single runs on a
#   shared 2-core machine spread by 10-20 %, so compare medians of several)
#   PORT=18111  WRK_THREADS=1  LOG_LEVEL=warn (access log per request at `info`)
#   CLAVIS_BIN=path/to/clavis (default target/release/clavis, built if missing)
#   PROFILE=/tmp/clavis.perf (record the server with `perf record` during each run; the
#   wrkCPUus/rq column then includes perf's own CPU;
#   PERF_FREQ=999 samples/s, PERF_CG="-g", e.g. "--call-graph dwarf,16384" for a build
#   with line tables: CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
#   CARGO_PROFILE_RELEASE_STRIP=false)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ALGS="${ALGS:-RS256 ES256 EdDSA}"
CONNS="${CONNS:-1 64}"; REPEAT="${REPEAT:-1}"
DURATION="${DURATION:-20}"; C1_DURATION="${C1_DURATION:-10}"
PORT="${PORT:-18111}"; WRK_THREADS="${WRK_THREADS:-1}"; LOG_LEVEL="${LOG_LEVEL:-warn}"

command -v wrk >/dev/null || { if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null; else echo "need wrk"; exit 1; fi; }
BIN="${CLAVIS_BIN:-$(pwd)/target/release/clavis}"
[ -x "$BIN" ] || cargo build --release -p clavis >/dev/null
WORK="$(mktemp -d /tmp/clavis-bench.XXXXXX)"
SRV=""
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
export CLAVIS_DATA_DIR="$WORK/data" CLAVIS_LISTEN="127.0.0.1:$PORT" CLAVIS_LOG_LEVEL="$LOG_LEVEL"

# One tenant per algorithm, each with an Api and a machine-to-machine client granted on it.
{
  echo "tenants:"
  for alg in $ALGS; do
    slug="bench-$(echo "$alg" | tr 'A-Z' 'a-z')"
    cat <<YAML
  - slug: $slug
    display_name: Bench $alg
    signing_alg: $alg
    apis:
      - identifier: https://bench.example.com
        name: Bench API
        signing_alg: $alg
        permissions:
          - { value: read:bench, description: Read }
    applications:
      - name: Bench Client
        type: m2m
        grants:
          - api: https://bench.example.com
            scope: [read:bench]
YAML
  done
} > "$WORK/bench.yaml"
"$BIN" apply -f "$WORK/bench.yaml" > "$WORK/apply.out"

"$BIN" serve > "$WORK/serve.out" 2> "$WORK/serve.err" &
SRV=$!
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/ready" && break; sleep 0.1; done

rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# Whole machine: all ticks, and the idle + iowait ones (a CPU nobody had work for).
sys_ticks() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6}' /proc/stat; }
# CPU seconds of this shell's finished children, from the `times` builtin's second line.
child_secs() { awk 'NR==2{ for(i=1;i<=2;i++){ split($i,a,"m"); sub("s","",a[2]); s+=a[1]*60+a[2] } print s }' "$1"; }
HZ=$(getconf CLK_TCK)
echo "# Clavis $("$BIN" --version | cut -d' ' -f2) client_credentials, SQLite, audited; $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); wrk -t$WRK_THREADS; log level $LOG_LEVEL"
printf "%-7s %-4s %9s %8s %8s %8s %8s %7s %11s %11s %5s %9s\n" alg conns req/s p50 p90 p99 max non2xx srvCPUus/rq wrkCPUus/rq idle% peakRSS
for alg in $ALGS; do
  slug="bench-$(echo "$alg" | tr 'A-Z' 'a-z')"
  line=$(grep "tenant $slug," "$WORK/apply.out")
  client_id=$(echo "$line" | sed -E 's/.*client_id ([^)]*)\).*/\1/')
  secret=$(echo "$line" | sed -E 's/.*: ([^ ]+)$/\1/')
  url="http://127.0.0.1:$PORT/t/$slug/oauth/token"
  auth=$(printf '%s:%s' "$client_id" "$secret" | base64 -w0)
  cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&audience=https%3A%2F%2Fbench.example.com"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $auth"
LUA
  # sanity: a real token signed with this algorithm comes back
  tok=$(curl -fs -H "Authorization: Basic $auth" -d 'grant_type=client_credentials&audience=https%3A%2F%2Fbench.example.com' "$url")
  hdr=$(echo "$tok" | sed -E 's/.*"access_token":"([^".]*)\..*/\1/' | tr '_-' '/+' | base64 -d 2>/dev/null || true)
  echo "$hdr" | grep -q "\"alg\":\"$alg\"" || { echo "token request failed for $alg: $tok"; tail -5 "$WORK/serve.err"; exit 1; }
  wrk -t"$WRK_THREADS" -c16 -d3s -s "$WORK/post.lua" "$url" >/dev/null 2>&1   # warm-up
  for c in $CONNS; do for _ in $(seq "$REPEAT"); do
    d=$DURATION; [ "$c" = 1 ] && d=$C1_DURATION
    c0=$(cpu_ticks $SRV)
    ( while sleep 0.5; do rss_kib $SRV; done ) > "$WORK/rss" & SAMP=$!
    t=$WRK_THREADS; [ "$c" -lt "$t" ] && t=$c
    if [ -n "${PROFILE:-}" ]; then perf record -F ${PERF_FREQ:-999} ${PERF_CG:--g} -p $SRV -o "$PROFILE" -- sleep $((d - 2)) >/dev/null 2>&1 & PERF=$!; fi
    read -r all0 idle0 < <(sys_ticks)
    times > "$WORK/times0"
    wrk -t"$t" -c"$c" -d"${d}s" --latency -s "$WORK/post.lua" "$url" > "$WORK/wrk.out" 2>&1
    times > "$WORK/times1"
    read -r all1 idle1 < <(sys_ticks)
    [ -n "${PROFILE:-}" ] && wait $PERF 2>/dev/null || true
    c1=$(cpu_ticks $SRV); kill $SAMP 2>/dev/null; wait $SAMP 2>/dev/null || true
    peak=$(sort -n "$WORK/rss" | tail -1)
    rps=$(awk '/Requests\/sec/{print $2}' "$WORK/wrk.out")
    tot=$(awk '/requests in/{print $1}' "$WORK/wrk.out")
    non2=$(awk '/Non-2xx/{print $NF}' "$WORK/wrk.out"); non2=${non2:-0}
    p50=$(awk '$1=="50%"{print $2}' "$WORK/wrk.out"); p90=$(awk '$1=="90%"{print $2}' "$WORK/wrk.out"); p99=$(awk '$1=="99%"{print $2}' "$WORK/wrk.out")
    max=$(awk '/Latency/{print $4; exit}' "$WORK/wrk.out")
    cpuus=$(awk -v a=$c0 -v b=$c1 -v hz=$HZ -v n=$tot 'BEGIN{ if(n>0) printf "%.0f", (b-a)/hz*1e6/n; else print "NA" }')
    wrkus=$(awk -v a="$(child_secs "$WORK/times0")" -v b="$(child_secs "$WORK/times1")" -v n=$tot 'BEGIN{ if(n>0) printf "%.0f", (b-a)*1e6/n; else print "NA" }')
    idle=$(awk -v a=$all0 -v b=$all1 -v i=$idle0 -v j=$idle1 'BEGIN{ if(b>a) printf "%.0f", (j-i)*100/(b-a); else print "NA" }')
    printf "%-7s %-4s %9s %8s %8s %8s %8s %7s %11s %11s %5s %8sM\n" "$alg" "$c" "$rps" "$p50" "$p90" "$p99" "$max" "$non2" "$cpuus" "$wrkus" "$idle" \
      "$(awk -v k=${peak:-0} 'BEGIN{printf "%.1f", k/1024}')"
  done; done
done
echo "# srvCPUus/rq = server CPU (user+sys) per completed request; wrkCPUus/rq = the load generator's,"
echo "# on the same 2 cores; idle% = share of the machine's CPU time nobody had work for (idle + iowait)."
