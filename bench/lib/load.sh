# Helpers shared by the load scripts in bench/ (sourced, not run).
# Load comes from `hey` (Debian's package): -c workers, each throttled to -q requests per second, so -c 16 -q 62.5
# asks for 1,000 requests per second over 16 connections (Dapr's performance tests: 1,000 QPS, 16 connections).
# A worker waits for its answer before its next tick, so a slow target shows as a lower achieved rate, not a queue.

ensure_tools() { # installs the Debian packages named, when their command is missing
  local missing=""
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"; done
  if [ -n "$missing" ]; then
    echo "== installing$missing"
    # shellcheck disable=SC2086
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
}

# stop_pids: kills every process in the caller's `pids` array and waits for them (scripts run it on EXIT).
stop_pids() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start_router WORK PORT UPSTREAM_PORT [SHADOW_PORT]: the router (built to WORK/router) on PORT, on the embedded
# default with an in-memory store, forwarding service `o` to the upstream and, with a shadow port, mirroring 10 % of
# its requests to that shadow (WarmingUp). Appends its pid to the caller's `pids` array.
start_router() {
  local work="$1" port="$2" upstream="$3" shadow="${4:-}" mirror=""
  if [ -n "$shadow" ]; then
    mirror="    shadows:
      - { id: shadow, address: \"http://127.0.0.1:$shadow\", state: WarmingUp }
    mirror: { percent: 10 }"
  fi
  cat >"$work/routes-$port.yaml" <<YAML
services:
  o:
    production:
      - { id: up, address: "http://127.0.0.1:$upstream", maxConcurrency: 100000 }
$mirror
YAML
  (cd "$work" && exec dotnet router/Shadowing.Router.dll --urls "http://127.0.0.1:$port" --routes "routes-$port.yaml" \
     --Shadowing:Mode=Embedded --Shadowing:Embedded:StatePath=:memory: --Logging:LogLevel:Default=Warning >"$work/router-$port.log" 2>&1) &
  pids+=($!)
}

wait_for_200() { # $1 url, $2 what: waits up to 60 s for a 200
  for _ in $(seq 1 120); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = "200" ] && return 0
    sleep 0.5
  done
  echo "$2 did not answer 200 at $1 within 60 s" >&2
  return 1
}

# run_load NAME URL SECONDS RATE CONNECTIONS OUTDIR: drives the URL at RATE requests per second and writes hey's
# summary to OUTDIR/NAME.txt, then one line to OUTDIR/NAME.tsv: rate, ok, errors, p50, p90, p99 (ms).
run_load() {
  local name="$1" url="$2" seconds="$3" rate="$4" connections="$5" out="$6"
  local per_worker
  per_worker=$(python3 -c "print($rate / $connections)")
  hey -z "${seconds}s" -c "$connections" -q "$per_worker" -t 10 "$url" >"$out/$name.txt" 2>&1 || true
  python3 - "$out/$name.txt" >"$out/$name.tsv" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def pct(p):
    m = re.search(r"^\s*%d%% in ([0-9.]+) secs" % p, text, re.M)
    return float(m.group(1)) * 1000 if m else float("nan")
rate = re.search(r"Requests/sec:\s*([0-9.]+)", text)
ok = sum(int(n) for code, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", text) if code == "200")
other = sum(int(n) for code, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", text) if code != "200")
errors_part = text.split("Error distribution:")[1] if "Error distribution:" in text else ""
errors = other + sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]", errors_part, re.M))
print("%.1f\t%d\t%d\t%.2f\t%.2f\t%.2f" % (float(rate.group(1)) if rate else 0.0, ok, errors, pct(50), pct(90), pct(99)))
PY
}

# run_paced NAME URL SECONDS RATE CONNECTIONS OUTDIR: the same load from wrk (two threads) with bench/lib/paced.lua,
# whose requests are evenly spaced rather than sent in hey's bursts; writes wrk's output to OUTDIR/NAME.txt and the
# same line to OUTDIR/NAME.tsv (wrk's percentiles have microsecond resolution).
run_paced() {
  local name="$1" url="$2" seconds="$3" rate="$4" connections="$5" out="$6"
  wrk -t 2 -c "$connections" -d "${seconds}s" --timeout 10s -s "$(dirname "${BASH_SOURCE[0]}")/paced.lua" "$url" \
    -- "$(python3 -c "print($rate / 2)")" >"$out/$name.txt" 2>&1 || true
  grep '^PACED' "$out/$name.txt" | cut -f2- >"$out/$name.tsv" || printf '0.0\t0\t0\tnan\tnan\tnan\n' >"$out/$name.tsv"
}

# rss_kb PID, threads PID, fds PID: one process's resident memory (KiB), thread count and open descriptors.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
threads() { awk '/^Threads:/ {print $2}' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
