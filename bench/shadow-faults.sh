#!/usr/bin/env bash
# A faulty shadow's cost to production (issue 16), side by side in one run: the router mirroring 10 % of a fixed
# 1,000 requests per second (16 connections, hey) to a shadow that is
#   healthy     nginx answering at once: the same run without the fault
#   hung        accepts connections and never reads or answers
#   blackhole   accepts, reads everything, never answers
#   reset       accepts and resets at once (TCP RST)
# plus the router without mirroring. Every router forwards to the same nginx upstream and is warmed up under load for
# WARMUP seconds first (tiered JIT; see bench/mirror.sh). Rounds are interleaved, starting one further along each
# round. Prints per variant the medians over the rounds of achieved rate, p50, p90 and p99, the errors, and the
# median over the rounds of its p99 minus the healthy shadow's p99 in the same round; then each router's mirror
# counters (the fault was there: failed or dropped copies). The goal: p99 within 2 ms of the healthy shadow's.
# Usage: bash bench/shadow-faults.sh [rounds] [seconds]   (default 3 rounds of 20 s; installs nginx and hey with apt-get)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib/load.sh
source "$root/bench/lib/load.sh"
rounds="${1:-3}"
seconds="${2:-20}"
warmup="${WARMUP:-30}"
rate=1000
connections=16
ensure_tools hey nginx curl python3

work="$(mktemp -d)"
pids=()
cleanup() {
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  stop_pids
}
trap cleanup EXIT

up=$(free_port); healthy=$(free_port); hung=$(free_port); blackhole=$(free_port); reset=$(free_port)
echo "== building the router (Release)"
dotnet build "$root/router/Shadowing.Router" -c Release -o "$work/router" -v quiet -nologo | tail -n 1

body='{"id":42,"name":"item","price":12.5,"tags":["a","b","c"],"stock":{"warehouse":"east","count":7}}'
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server { listen 127.0.0.1:$up; location / { default_type application/json; return 200 '$body'; } }
  server { listen 127.0.0.1:$healthy; location / { default_type application/json; return 200 '$body'; } }
}
CONF
nginx -c "$work/nginx.conf"

# The faulty shadows, one small server each.
python3 - "$hung" "$blackhole" "$reset" <<'PY' &
import selectors, socket, struct, sys
sel = selectors.DefaultSelector()
def listen(port, mode):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port))); s.listen(4096); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, ("listen", mode))
held = []
listen(sys.argv[1], "hung"); listen(sys.argv[2], "blackhole"); listen(sys.argv[3], "reset")
while True:
    for key, _ in sel.select():
        kind, mode = key.data
        if kind == "listen":
            c, _ = key.fileobj.accept()
            if mode == "hung":
                held.append(c)                      # never read: the peer's writes fill the window
            elif mode == "blackhole":
                c.setblocking(False); sel.register(c, selectors.EVENT_READ, ("read", mode))
            else:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()  # RST
        else:
            try:
                if not key.fileobj.recv(65536):
                    sel.unregister(key.fileobj); key.fileobj.close()
            except OSError:
                sel.unregister(key.fileobj); key.fileobj.close()
PY
pids+=($!)

names=(off healthy hung blackhole reset)
ports=()
for name in "${names[@]}"; do
  port=$(free_port); ports+=("$port")
  case "$name" in
    off) start_router "$work" "$port" "$up" ;;
    healthy) start_router "$work" "$port" "$up" "$healthy" ;;
    hung) start_router "$work" "$port" "$up" "$hung" ;;
    blackhole) start_router "$work" "$port" "$up" "$blackhole" ;;
    reset) start_router "$work" "$port" "$up" "$reset" ;;
  esac
done
for i in "${!names[@]}"; do wait_for_200 "http://127.0.0.1:${ports[$i]}/o/items/42" "router ${names[$i]}"; done

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), .NET $(dotnet --version), $(dpkg-query -W -f='hey ${Version}' hey 2>/dev/null), $rate req/s over $connections connections, $rounds rounds of ${seconds} s"
echo "== warming up each router (${warmup} s under the same load)"
for i in "${!names[@]}"; do
  run_load "warmup-${names[$i]}" "http://127.0.0.1:${ports[$i]}/o/items/42" "$warmup" "$rate" "$connections" "$work"
done
for round in $(seq 1 "$rounds"); do
  for k in "${!names[@]}"; do
    i=$(( (k + round - 1) % ${#names[@]} ))
    run_load "${names[$i]}.$round" "http://127.0.0.1:${ports[$i]}/o/items/42" "$seconds" "$rate" "$connections" "$work"
    echo "   round $round ${names[$i]}: $(cut -f1,3,6 "$work/${names[$i]}.$round.tsv" | awk -F'\t' '{printf "%s req/s, %s errors, p99 %s ms", $1, $2, $3}')"
  done
done

echo
python3 - "$work" "$rounds" "${names[@]}" <<'PY'
import statistics, sys
work, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def read(name, r):
    rate, ok, errors, p50, p90, p99 = open(f"{work}/{name}.{r}.tsv").read().split("\t")
    return float(rate), int(errors), float(p50), float(p90), float(p99)
runs = {n: [read(n, r) for r in range(1, rounds + 1)] for n in names}
print(f"{'shadow':<10} {'req/s':>8} {'errors':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'p99 - healthy':>14}")
worst = 0.0
for n in names:
    x = runs[n]
    diff = statistics.median(a[4] - h[4] for a, h in zip(x, runs["healthy"]))
    if n in ("hung", "blackhole", "reset"):
        worst = max(worst, diff)
    label = "(no mirror)" if n == "off" else n
    print(f"{label:<10} {statistics.median(a[0] for a in x):>8.1f} {sum(a[1] for a in x):>7} {statistics.median(a[2] for a in x):>7.2f} "
          f"{statistics.median(a[3] for a in x):>7.2f} {statistics.median(a[4] for a in x):>7.2f} {diff:>+14.2f}")
print()
print(f"goal: a faulty shadow's p99 within 2 ms of the healthy shadow's (worst median difference {worst:+.2f} ms): {'met' if worst <= 2.0 else 'missed'}")
print("(hey's percentiles have 0.1 ms resolution; differences are medians over the rounds of the difference within each round)")
PY

echo
echo "== each router's mirror counters after the run"
for i in "${!names[@]}"; do
  [ "${names[$i]}" = off ] && continue
  echo "   ${names[$i]}: $(curl -s "http://127.0.0.1:${ports[$i]}/metrics" | grep -E '^shadowing_mirror_(copies|dropped)_total' | sed -E 's/.*(result|reason)="([^"]*)".* ([0-9.e+]+)$/\2 \3/' | paste -sd, -)"
done
