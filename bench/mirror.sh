#!/usr/bin/env bash
# Mirroring's cost, measured side by side in one run with interleaved rounds (outside CI):
#   yarp          plain YARP direct forwarding (bench/ReferenceProxy), the yardstick
#   router-off    the router, no mirror policy
#   router-fast   the router mirroring 10 % to a fast shadow
#   router-hung   the router mirroring 10 % to a shadow that accepts connections and never answers
#   nginx         nginx proxy_pass, no mirror
#   nginx-fast    nginx `mirror` of 10 % (split_clients) to the fast shadow
#   nginx-hung    nginx `mirror` of 10 % to the hung shadow
#   router-nopgo  (with TIERED_PGO_OFF=1) router-off with the runtime's tiered PGO off (DOTNET_TieredPGO=0), its
#                 throughput also printed as a ratio to router-off's in the same round: what turning PGO off costs
# Every proxy forwards to the same nginx upstream; wrk drives each in turn. Each .NET proxy is first warmed up under
# load for WARMUP seconds (default 30): the router has far more code than the reference proxy for tiered JIT to
# recompile, and a perf profile on a 2-core machine showed the tiered-compilation thread taking 17 % of the router's
# CPU 17 s into a run and 2 % after 40 s, so shorter warm-ups measure the JIT, not the proxy. Prints, per variant,
# the medians over the rounds of requests per second, p50 and p99, and the median of its ratio to plain YARP
# measured in the same round (pairing within a round cancels the drift of a shared machine); then the routers'
# mirror counters and the micro-benchmarks of the router's decisions.
# Usage: bash bench/mirror.sh [rounds] [seconds per measurement]   (installs nginx and wrk with apt-get if missing)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib/load.sh
source "$root/bench/lib/load.sh"
rounds="${1:-5}"
seconds="${2:-8}"
warmup="${WARMUP:-30}"
connections=32

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  echo "== installing nginx and wrk"
  apt-get update -qq && apt-get install -y -qq nginx-light wrk >/dev/null
fi

work="$(mktemp -d)"
pids=()
cleanup() {
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  stop_pids
}
trap cleanup EXIT

up=$(free_port); shadow=$(free_port); hung=$(free_port)
yarp=$(free_port); r_off=$(free_port); r_fast=$(free_port); r_hung=$(free_port)
n_off=$(free_port); n_fast=$(free_port); n_hung=$(free_port); r_nopgo=$(free_port)

echo "== building (Release)"
dotnet build "$root/router/Shadowing.Router" -c Release -o "$work/router" -v quiet -nologo | tail -n 1
dotnet build "$root/bench/ReferenceProxy" -c Release -o "$work/yarp" -v quiet -nologo | tail -n 1

# The upstream and the fast shadow: nginx answering a small JSON body at once.
body='{"id":42,"name":"item","price":12.5,"tags":["a","b","c"],"stock":{"warehouse":"east","count":7}}'
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream up { server 127.0.0.1:$up; keepalive 64; }
  upstream fast { server 127.0.0.1:$shadow; keepalive 64; }
  upstream hung { server 127.0.0.1:$hung; }
  split_clients "\${request_id}" \$mirrored { 10% 1; * ""; }
  server { listen 127.0.0.1:$up; location / { default_type application/json; return 200 '$body'; } }
  server { listen 127.0.0.1:$shadow; location / { default_type application/json; return 200 '$body'; } }
  server { listen 127.0.0.1:$n_off;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
  server { listen 127.0.0.1:$n_fast;
    location / { mirror /mirror; proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /mirror { internal; if (\$mirrored = "") { return 204; }
      proxy_pass http://fast\$request_uri; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_read_timeout 10s; } }
  server { listen 127.0.0.1:$n_hung;
    location / { mirror /mirror; proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /mirror { internal; if (\$mirrored = "") { return 204; }
      proxy_pass http://hung\$request_uri; proxy_read_timeout 10s; } }
}
EOF
nginx -c "$work/nginx.conf"

# The hung shadow: accepts every connection and never reads or answers.
python3 - "$hung" <<'EOF' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4096)
held = []
while True:
    c, _ = s.accept(); held.append(c)
EOF
pids+=($!)

start_router "$work" "$r_off" "$up"
start_router "$work" "$r_fast" "$up" "$shadow"
start_router "$work" "$r_hung" "$up" "$hung"
[ "${TIERED_PGO_OFF:-0}" = 1 ] && DOTNET_TieredPGO=0 start_router "$work" "$r_nopgo" "$up"
(cd "$work" && exec dotnet yarp/ReferenceProxy.dll --urls "http://127.0.0.1:$yarp" --upstream "http://127.0.0.1:$up" >"$work/yarp.log" 2>&1) &
pids+=($!)

names=(yarp router-off router-fast router-hung nginx nginx-fast nginx-hung)
ports=($yarp $r_off $r_fast $r_hung $n_off $n_fast $n_hung)
if [ "${TIERED_PGO_OFF:-0}" = 1 ]; then names+=(router-nopgo); ports+=("$r_nopgo"); fi
for i in "${!names[@]}"; do
  for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${ports[$i]}/o/items/42" || true)
    [ "$code" = "200" ] && break
    sleep 0.2
  done
  [ "$code" = "200" ] || { echo "${names[$i]} did not come up (last status $code); logs in $work" >&2; exit 1; }
done

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB, .NET $(dotnet --version), $(nginx -v 2>&1 | cut -d/ -f2), wrk -t1 -c$connections -d${seconds}s, $rounds rounds"
echo "== warming up (${warmup} s per .NET proxy under load, 5 s per nginx)"
for i in "${!names[@]}"; do
  case "${names[$i]}" in nginx*) d=5 ;; *) d=$warmup ;; esac
  wrk -t1 -c$connections -d"${d}s" "http://127.0.0.1:${ports[$i]}/o/items/42" >/dev/null
done

for round in $(seq 1 "$rounds"); do
  # Interleaved, starting one further along each round, so a drift of the machine is spread over every variant.
  for k in "${!names[@]}"; do
    i=$(( (k + round - 1) % ${#names[@]} ))
    wrk -t1 -c$connections -d"${seconds}s" --latency "http://127.0.0.1:${ports[$i]}/o/items/42" >"$work/${names[$i]}.$round.txt"
    echo "   round $round ${names[$i]}: $(grep 'Requests/sec' "$work/${names[$i]}.$round.txt" | awk '{print $2}') req/s"
  done
done

echo
python3 - "$work" "$rounds" "${names[@]}" <<'EOF'
import re, statistics, sys
work, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
rows, ratios = {}, {}
def read(name, r):
    t = open(f"{work}/{name}.{r}.txt").read()
    errors = 0
    for m in re.finditer(r"Non-2xx or 3xx responses: (\d+)|Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t):
        errors += sum(int(g) for g in m.groups() if g)
    return (float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)), ms(re.search(r"^\s+50%\s+(\S+)", t, re.M).group(1)),
            ms(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1)), errors)
for name in names:
    runs = [read(name, r) for r in range(1, rounds + 1)]
    base = [read("yarp", r) for r in range(1, rounds + 1)]
    rows[name] = (statistics.median(x[0] for x in runs), statistics.median(x[1] for x in runs),
                  statistics.median(x[2] for x in runs), sum(x[3] for x in runs))
    ratios[name] = (statistics.median(x[0] / b[0] for x, b in zip(runs, base)), statistics.median(x[2] / b[2] for x, b in zip(runs, base)))
off = [read("router-off", r) for r in range(1, rounds + 1)]
hung = [read("router-hung", r) for r in range(1, rounds + 1)]
print(f"{'variant':<13} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'req/s ÷ YARP':>13} {'p99 ÷ YARP':>11} {'errors':>7}")
for name in names:
    rps, p50, p99, errors = rows[name]
    print(f"{name:<13} {rps:>9.0f} {p50:>8.2f} {p99:>8.2f} {ratios[name][0]:>13.3f} {ratios[name][1]:>11.3f} {errors:>7}")
print()
print(f"goals: router-fast ≥ 0.95× YARP's req/s: {ratios['router-fast'][0]:.3f}; p99 ≤ 1.05× YARP's: {ratios['router-fast'][1]:.3f}; "
      f"router-hung ≥ 0.95× router-off's req/s: {statistics.median(h[0] / o[0] for h, o in zip(hung, off)):.3f}")
if "router-nopgo" in names:
    nopgo = [read("router-nopgo", r) for r in range(1, rounds + 1)]
    print(f"tiered PGO off: {statistics.median(n[0] / o[0] for n, o in zip(nopgo, off)):.3f}× router-off's req/s, "
          f"p99 {statistics.median(n[2] / o[2] for n, o in zip(nopgo, off)):.3f}× router-off's")
print("(ratios: medians over the rounds of the ratio within each round)")
EOF

echo
echo "== the routers' mirror counters after the run"
for p in $r_fast $r_hung; do
  echo "   router on :$p"
  curl -s "http://127.0.0.1:$p/metrics" | grep -E '^shadowing_mirror_(decisions|dropped|copies)_total' | sed 's/{otel_scope_name="Shadowing.Router",/{/; s/^/     /'
done

echo
echo "== decision micro-benchmarks (BenchmarkDotNet, allocations per call)"
dotnet run -c Release --project "$root/bench/Shadowing.Benchmarks" -- router --filter '*' 2>&1 | grep -E '^RESULT' | sed 's/^RESULT /   /'
