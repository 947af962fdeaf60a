namespace Shadowing.Core.Health;

/// <summary>What active probing currently says about an endpoint.</summary>
public enum ProbeStatus
{
    /// <summary>Not probed yet; treated as available so a fresh router can serve at once.</summary>
    Unknown,

    /// <summary>Passed its probes.</summary>
    Healthy,

    /// <summary>Failed <see cref="ActiveHealthCheckOptions.UnhealthyThreshold"/> probes in a row.</summary>
    Unhealthy,
}

/// <summary>How one forwarded request ended, as far as endpoint health is concerned.</summary>
public enum ForwardOutcome
{
    /// <summary>The endpoint answered with a non-5xx status.</summary>
    Success,

    /// <summary>The endpoint answered 5xx (other than 502, 503 and 504).</summary>
    ServerError,

    /// <summary>
    /// Answered 502, 503 or 504: a gateway in front of the endpoint (an ingress, a sidecar) or the endpoint itself saying
    /// it cannot serve. A failure like a 5xx, but not an answer of the service's own code.
    /// </summary>
    Unavailable,

    /// <summary>Connecting or sending failed (refused, reset, DNS).</summary>
    ConnectFailure,

    /// <summary>No answer in time.</summary>
    Timeout,
}

/// <summary>
/// Health of one endpoint: active probe status with healthy/unhealthy thresholds, plus passive outlier detection
/// that ejects an endpoint after consecutive failures for a time that doubles with each ejection up to a cap.
/// A probe that brings an endpoint back to healthy also ends its ejection (like Envoy's
/// <c>successful_active_health_check_uneject_host</c>), so a restarted endpoint returns after its healthy threshold; so
/// do that many good probes in a row after an ejection for refused connections, since a process restarted within the
/// probes' unhealthy threshold was never found unhealthy to be brought back.
/// </summary>
/// <remarks>Thread-safe: updates take a lock; <see cref="IsAvailable"/> reads without one.</remarks>
public sealed class EndpointHealth(ActiveHealthCheckOptions active, OutlierDetectionOptions outlier)
{
    private readonly Lock _lock = new();
    private volatile ProbeStatus _status = ProbeStatus.Unknown;
    private long _ejectedUntilTicks; // UtcTicks; 0 when not ejected
    private volatile bool _ejectedForAnswers; // the latest ejection was for 5xx answers only, not for failing to answer
    private bool _runAllAnswers = true; // every failure of the current run was a 5xx answer
    private bool _runRefused; // a connection could not be made in the current run
    private bool _ejectedForRefused; // the latest ejection's run, or a request since, could not connect
    private int _probeSuccesses;
    private int _probeFailures;
    private int _consecutiveFailures;
    private int _ejections;
    private DateTimeOffset _lastEjectionEnd;

    /// <summary>Current probe status.</summary>
    public ProbeStatus Status => _status;

    /// <summary>How many times the endpoint has been ejected since it last stayed healthy for the maximum ejection time.</summary>
    public int Ejections
    {
        get
        {
            lock (_lock)
            {
                return _ejections;
            }
        }
    }

    /// <summary>End of the current ejection, or null when not ejected at <paramref name="now"/>.</summary>
    public DateTimeOffset? EjectedUntil(DateTimeOffset now)
    {
        var ticks = Interlocked.Read(ref _ejectedUntilTicks);
        return ticks > now.UtcTicks ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;
    }

    /// <summary>Whether the router may send this endpoint traffic at <paramref name="now"/>.</summary>
    public bool IsAvailable(DateTimeOffset now) =>
        _status != ProbeStatus.Unhealthy && Interlocked.Read(ref _ejectedUntilTicks) <= now.UtcTicks;

    /// <summary>
    /// Whether the endpoint is out at <paramref name="now"/> only because outlier detection ejected it for 5xx answers
    /// while probes do not find it unhealthy: it answers, and one broken path ejects it as surely as a dead process would.
    /// </summary>
    public bool IsEjectedForAnswersOnly(DateTimeOffset now) =>
        _ejectedForAnswers && _status != ProbeStatus.Unhealthy && Interlocked.Read(ref _ejectedUntilTicks) > now.UtcTicks;

    /// <summary>
    /// Records a probe result; returns the new status when it changed, and <see cref="ProbeStatus.Healthy"/> too when good
    /// probes ended an ejection for a process that was gone (it is back: likely a new process, as after Unhealthy);
    /// otherwise null.
    /// </summary>
    public ProbeStatus? RecordProbe(bool success, DateTimeOffset now)
    {
        lock (_lock)
        {
            var before = _status;
            if (success)
            {
                _probeFailures = 0;
                _probeSuccesses++;
                if (before == ProbeStatus.Unknown || (before == ProbeStatus.Unhealthy && _probeSuccesses >= active.HealthyThreshold))
                {
                    _status = ProbeStatus.Healthy;
                    if (before == ProbeStatus.Unhealthy)
                    {
                        EndEjection(now);
                    }
                }
                else if (_ejectedForRefused && _probeSuccesses >= active.HealthyThreshold && Interlocked.Read(ref _ejectedUntilTicks) > now.UtcTicks)
                {
                    // Its process was gone and answers probes again (a restart quicker than the unhealthy threshold): not an
                    // ejection for a path that fails while probes pass (5xx, timeouts), which probes cannot vouch for.
                    EndEjection(now);
                    return ProbeStatus.Healthy;
                }
            }
            else
            {
                _probeSuccesses = 0;
                _probeFailures++;
                if (before != ProbeStatus.Unhealthy && _probeFailures >= active.UnhealthyThreshold)
                {
                    _status = ProbeStatus.Unhealthy;
                }
            }

            return _status == before ? null : _status;
        }
    }

    /// <summary>Records how a forwarded request ended; returns the ejection end when this outcome ejected the endpoint.</summary>
    /// <param name="outcome">How it ended.</param>
    /// <param name="now">When it ended.</param>
    /// <param name="startedAt">When it was sent, if known: a failure of a request sent before the last ejection ended
    /// reports what that ejection was for, not a new fault, and does not count towards the next one.</param>
    public DateTimeOffset? RecordOutcome(ForwardOutcome outcome, DateTimeOffset now, DateTimeOffset? startedAt = null)
    {
        lock (_lock)
        {
            if (outcome == ForwardOutcome.Success)
            {
                _consecutiveFailures = 0;
                _runAllAnswers = true;
                _runRefused = false;

                // Forgive earlier ejections once the endpoint has behaved for a whole maximum ejection time.
                if (_ejections > 0 && Interlocked.Read(ref _ejectedUntilTicks) <= now.UtcTicks && now - _lastEjectionEnd >= outlier.MaxEjectionTime)
                {
                    _ejections = 0;
                }

                return null;
            }

            if (Interlocked.Read(ref _ejectedUntilTicks) > now.UtcTicks || (_ejections > 0 && startedAt < _lastEjectionEnd))
            {
                // Already ejected, or a request sent before the last ejection ended failing late (a hung path's requests time
                // out after ResponseTimeout, longer than a base ejection): neither extends it nor starts the next one.
                return null;
            }

            _runAllAnswers &= outcome == ForwardOutcome.ServerError;
            if (++_consecutiveFailures < outlier.ConsecutiveFailures)
            {
                return null;
            }

            _consecutiveFailures = 0;
            if (_ejections > 0 && now - _lastEjectionEnd >= outlier.MaxEjectionTime)
            {
                // Quiet for a whole maximum ejection time, without a success to forgive it (a shadow or default that gets
                // traffic only in failovers): last week's ejections do not make this one the longest.
                _ejections = 0;
            }

            _ejections++;
            var factor = Math.Pow(2, Math.Min(_ejections - 1, 30));
            var duration = TimeSpan.FromTicks((long)Math.Min(outlier.BaseEjectionTime.Ticks * factor, outlier.MaxEjectionTime.Ticks));
            var until = now + duration;
            _lastEjectionEnd = until;
            _ejectedForAnswers = _runAllAnswers;
            _ejectedForRefused = _runRefused;
            _runAllAnswers = true;
            _runRefused = false;
            _probeSuccesses = 0; // good probes from now on say it is back
            Interlocked.Exchange(ref _ejectedUntilTicks, until.UtcTicks);
            return until;
        }
    }

    /// <summary>
    /// A connection to it could not be made (refused, or its name not resolved: its process is gone). One ejected for its
    /// 5xx answers is then no panic target any more (a panic request found its process gone): until probes noticed, or all
    /// its ejection without probes, requests that had a default endpoint to go to got 502s. Anything short of that (a
    /// timeout, a 503, a reset or a body cut short) may come from the broken path itself, which is what panic routing is
    /// for. An ejection this ends, or one in progress, is then ended by good probes after it (see <see cref="RecordProbe"/>).
    /// </summary>
    public void RecordNoConnection(DateTimeOffset now, DateTimeOffset? startedAt = null)
    {
        lock (_lock)
        {
            if (Interlocked.Read(ref _ejectedUntilTicks) > now.UtcTicks)
            {
                _ejectedForAnswers = false;
                if (!_ejectedForRefused)
                {
                    _ejectedForRefused = true;
                    _probeSuccesses = 0; // probes that passed before the process went say nothing of its return
                }
            }
            else if (!(_ejections > 0 && startedAt < _lastEjectionEnd))
            {
                _runRefused = true; // not for a request sent before the last ejection ended: RecordOutcome does not count it either
            }
        }
    }

    private void EndEjection(DateTimeOffset now)
    {
        _consecutiveFailures = 0;
        _runAllAnswers = true;
        _runRefused = false;
        _ejectedForRefused = false;
        if (Interlocked.Read(ref _ejectedUntilTicks) > now.UtcTicks)
        {
            _lastEjectionEnd = now;
        }

        Interlocked.Exchange(ref _ejectedUntilTicks, 0);
    }
}
