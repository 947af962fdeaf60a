-- Evenly spaced load for wrk (bench/lib/load.sh run_paced): each wrk thread sends its share of the rate on a schedule
-- of send times, one every 1000 / RATE_PER_THREAD ms, handed to whichever of its connections is free. Requests so
-- arrive one at a time, where hey's workers all tick together and send theirs in bursts.
-- Usage: wrk -t THREADS -c CONNECTIONS -d DURATION -s paced.lua URL -- RATE_PER_THREAD
-- Prints one line: PACED, requests per second, answers other than errors, errors, p50, p90, p99 (ms).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } paced_timespec;
int clock_gettime(int clock_id, paced_timespec *tp);
]]
local now_spec = ffi.new("paced_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, now_spec) -- CLOCK_MONOTONIC
  return tonumber(now_spec.tv_sec) * 1000 + tonumber(now_spec.tv_nsec) / 1e6
end

local interval, next_due

function init(args)
  interval = 1000 / tonumber(args[1])
end

-- Called before each request: how many ms to wait (wrk's timers have whole-millisecond steps). A schedule that fell
-- more than a second behind (the target stalled) starts again from now rather than sending the backlog at once.
function delay()
  local now = now_ms()
  if next_due == nil or next_due < now - 1000 then
    next_due = now
  end
  local wait = next_due - now
  next_due = next_due + interval
  if wait <= 0 then
    return 0
  end
  return math.floor(wait + 0.5)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("PACED\t%.1f\t%d\t%d\t%.2f\t%.2f\t%.2f\n",
    summary.requests / (summary.duration / 1e6), summary.requests - e.status, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000))
end
