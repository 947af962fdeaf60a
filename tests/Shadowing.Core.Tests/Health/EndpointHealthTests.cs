using Shadowing.Core.Health;

namespace Shadowing.Core.Tests.Health;

public sealed class EndpointHealthTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private readonly EndpointHealth _health = new(
        new ActiveHealthCheckOptions { HealthyThreshold = 2, UnhealthyThreshold = 3 },
        new OutlierDetectionOptions { ConsecutiveFailures = 3, BaseEjectionTime = TimeSpan.FromSeconds(10), MaxEjectionTime = TimeSpan.FromSeconds(35) });

    [Fact]
    public void New_IsUnknownAndAvailable()
    {
        Assert.Equal(ProbeStatus.Unknown, _health.Status);
        Assert.True(_health.IsAvailable(T0));
    }

    [Fact]
    public void RecordProbe_FailuresReachUnhealthyThreshold_BecomesUnavailable()
    {
        Assert.Null(_health.RecordProbe(false, T0));
        Assert.Null(_health.RecordProbe(false, T0));
        Assert.True(_health.IsAvailable(T0));

        Assert.Equal(ProbeStatus.Unhealthy, _health.RecordProbe(false, T0));
        Assert.False(_health.IsAvailable(T0));
    }

    [Fact]
    public void RecordProbe_Unhealthy_NeedsHealthyThresholdSuccessesInARow()
    {
        for (var i = 0; i < 3; i++)
        {
            _health.RecordProbe(false, T0);
        }

        Assert.Null(_health.RecordProbe(true, T0));
        _health.RecordProbe(false, T0);
        Assert.Null(_health.RecordProbe(true, T0));
        Assert.False(_health.IsAvailable(T0));

        Assert.Equal(ProbeStatus.Healthy, _health.RecordProbe(true, T0));
        Assert.True(_health.IsAvailable(T0));
    }

    [Fact]
    public void RecordOutcome_ConsecutiveFailures_EjectsForBaseTime()
    {
        _health.RecordOutcome(ForwardOutcome.ConnectFailure, T0);
        _health.RecordOutcome(ForwardOutcome.ServerError, T0);

        var until = _health.RecordOutcome(ForwardOutcome.Timeout, T0);

        Assert.Equal(T0.AddSeconds(10), until);
        Assert.False(_health.IsAvailable(T0.AddSeconds(9.9)));
        Assert.True(_health.IsAvailable(T0.AddSeconds(10)));
    }

    [Fact]
    public void RecordOutcome_SuccessBetweenFailures_ResetsTheCount()
    {
        _health.RecordOutcome(ForwardOutcome.ServerError, T0);
        _health.RecordOutcome(ForwardOutcome.ServerError, T0);
        _health.RecordOutcome(ForwardOutcome.Success, T0);
        _health.RecordOutcome(ForwardOutcome.ServerError, T0);

        Assert.Null(_health.RecordOutcome(ForwardOutcome.ServerError, T0));
        Assert.True(_health.IsAvailable(T0));
    }

    [Fact]
    public void RecordOutcome_RepeatedEjections_DoubleUpToTheCap()
    {
        var now = T0;
        var durations = new List<TimeSpan>();
        for (var i = 0; i < 4; i++)
        {
            DateTimeOffset? until = null;
            for (var f = 0; f < 3; f++)
            {
                until = _health.RecordOutcome(ForwardOutcome.ConnectFailure, now) ?? until;
            }

            durations.Add(until!.Value - now);
            now = until.Value;
        }

        Assert.Equal([TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(35), TimeSpan.FromSeconds(35)], durations);
        Assert.Equal(4, _health.Ejections);
    }

    [Fact]
    public void RecordOutcome_FailuresWhileEjected_DoNotExtendEjection()
    {
        for (var f = 0; f < 3; f++)
        {
            _health.RecordOutcome(ForwardOutcome.ConnectFailure, T0);
        }

        Assert.Null(_health.RecordOutcome(ForwardOutcome.ConnectFailure, T0.AddSeconds(1)));
        Assert.Equal(T0.AddSeconds(10), _health.EjectedUntil(T0.AddSeconds(1)));
    }

    [Fact]
    public void RecordProbe_BackToHealthy_EndsEjection()
    {
        for (var f = 0; f < 3; f++)
        {
            _health.RecordOutcome(ForwardOutcome.ConnectFailure, T0);
            _health.RecordProbe(false, T0);
        }

        _health.RecordProbe(true, T0.AddSeconds(1));
        _health.RecordProbe(true, T0.AddSeconds(2));

        Assert.True(_health.IsAvailable(T0.AddSeconds(2)));
        Assert.Null(_health.EjectedUntil(T0.AddSeconds(2)));
    }

    [Fact]
    public void RecordOutcome_HealthyForMaxEjectionTime_ForgivesEarlierEjections()
    {
        for (var f = 0; f < 3; f++)
        {
            _health.RecordOutcome(ForwardOutcome.ConnectFailure, T0);
        }

        _health.RecordOutcome(ForwardOutcome.Success, T0.AddSeconds(10 + 35));
        Assert.Equal(0, _health.Ejections);

        DateTimeOffset? until = null;
        for (var f = 0; f < 3; f++)
        {
            until = _health.RecordOutcome(ForwardOutcome.ConnectFailure, T0.AddSeconds(50));
        }

        Assert.Equal(T0.AddSeconds(60), until);
    }

    [Fact]
    public void RecordOutcome_FailuresOfRequestsSentBeforeTheLastEjectionEnded_DoNotStartTheNext()
    {
        // One path hangs while probes pass: requests sent before the ejection time out after ResponseTimeout (30 s), past
        // the 10 s ejection; they said nothing new, and re-ejected the endpoint for 20 s, 40 s, … even once it recovered.
        for (var f = 0; f < 3; f++)
        {
            _health.RecordOutcome(ForwardOutcome.Timeout, T0, T0.AddSeconds(-1));
        }

        for (var f = 0; f < 3; f++)
        {
            Assert.Null(_health.RecordOutcome(ForwardOutcome.Timeout, T0.AddSeconds(30), T0));
        }

        Assert.True(_health.IsAvailable(T0.AddSeconds(30)));
        DateTimeOffset? until = null;
        for (var f = 0; f < 3; f++)
        {
            until = _health.RecordOutcome(ForwardOutcome.Timeout, T0.AddSeconds(32), T0.AddSeconds(31)); // sent since: new
        }

        Assert.Equal(T0.AddSeconds(52), until);
    }

    [Fact]
    public void ARefusedConnectionOfARequestSentBeforeTheLastEjectionEnded_DoesNotMarkTheNextOneRefused()
    {
        for (var f = 0; f < 3; f++)
        {
            _health.RecordOutcome(ForwardOutcome.Timeout, T0, T0.AddSeconds(-1));
        }

        _health.RecordOutcome(ForwardOutcome.ConnectFailure, T0.AddSeconds(30), T0.AddSeconds(-1));
        _health.RecordNoConnection(T0.AddSeconds(30), T0.AddSeconds(-1)); // the old process, before the first ejection
        for (var f = 0; f < 3; f++)
        {
            _health.RecordOutcome(ForwardOutcome.Timeout, T0.AddSeconds(32), T0.AddSeconds(31));
        }

        _health.RecordProbe(true, T0.AddSeconds(33));
        _health.RecordProbe(true, T0.AddSeconds(34));

        Assert.False(_health.IsAvailable(T0.AddSeconds(34))); // a timeout ejection: probes passing say nothing of the hung path
    }

    [Fact]
    public void RecordOutcome_QuietForMaxEjectionTimeWithoutASuccess_TheNextEjectionIsTheBaseOneAgain()
    {
        // Ejected twice (10 s, then 20 s), then no traffic at all for a day: an endpoint used only in failovers.
        for (var f = 0; f < 3; f++)
        {
            _health.RecordOutcome(ForwardOutcome.ConnectFailure, T0);
        }

        for (var f = 0; f < 3; f++)
        {
            _health.RecordOutcome(ForwardOutcome.ConnectFailure, T0.AddSeconds(11));
        }

        Assert.Equal(2, _health.Ejections);
        DateTimeOffset? until = null;
        var dayLater = T0.AddDays(1);
        for (var f = 0; f < 3; f++)
        {
            until = _health.RecordOutcome(ForwardOutcome.ConnectFailure, dayLater);
        }

        Assert.Equal(dayLater.AddSeconds(10), until);
    }

    [Theory]
    [InlineData(ForwardOutcome.ConnectFailure, true, true)]
    [InlineData(ForwardOutcome.ConnectFailure, false, false)] // a reset or a body cut short: maybe the broken path itself
    [InlineData(ForwardOutcome.Timeout, false, false)]
    [InlineData(ForwardOutcome.ServerError, false, false)]
    public void GoodProbesAfterAnEjection_EndItOnlyIfAConnectionCouldNotBeMade(ForwardOutcome failure, bool refused, bool endsEarly)
    {
        // Probes kept passing (or failed fewer times than the unhealthy threshold): a process restarted under load.
        for (var i = 0; i < 3; i++)
        {
            _health.RecordOutcome(failure, T0);
            if (refused && i < 2)
            {
                _health.RecordNoConnection(T0); // refused in the run; the failure that ejects it need not be
            }
        }

        Assert.False(_health.IsAvailable(T0));
        _health.RecordProbe(true, T0.AddSeconds(1));
        Assert.False(_health.IsAvailable(T0.AddSeconds(1))); // one good probe is not the threshold
        var back = _health.RecordProbe(true, T0.AddSeconds(2));

        Assert.Equal(endsEarly, _health.IsAvailable(T0.AddSeconds(2)));
        Assert.Equal(endsEarly ? ProbeStatus.Healthy : null, back); // back like an unhealthy one: the prober starts its latency cold
        Assert.Equal(ProbeStatus.Healthy, _health.Status);
    }

    [Fact]
    public void EjectedFor5xxAnswers_ThenARequestCouldNotConnect_GoodProbesEndIt()
    {
        for (var i = 0; i < 3; i++)
        {
            _health.RecordOutcome(ForwardOutcome.ServerError, T0);
        }

        _health.RecordProbe(true, T0.AddSeconds(0.5)); // before the process went: says nothing of its return
        _health.RecordNoConnection(T0.AddSeconds(1)); // a panic request found its process gone
        _health.RecordProbe(true, T0.AddSeconds(2));
        Assert.False(_health.IsAvailable(T0.AddSeconds(2)));
        _health.RecordProbe(true, T0.AddSeconds(3));

        Assert.True(_health.IsAvailable(T0.AddSeconds(3)));
    }

    [Fact]
    public void EjectedFor5xxAnswers_IsOutForAnswersOnly_UntilItsEjectionEnds_OrProbesFindItUnhealthy()
    {
        for (var i = 0; i < 3; i++)
        {
            _health.RecordOutcome(ForwardOutcome.ServerError, T0);
        }

        Assert.False(_health.IsAvailable(T0));
        Assert.True(_health.IsEjectedForAnswersOnly(T0));
        Assert.False(_health.IsEjectedForAnswersOnly(T0.AddSeconds(10)));

        for (var i = 0; i < 3; i++)
        {
            _health.RecordProbe(false, T0);
        }

        Assert.False(_health.IsEjectedForAnswersOnly(T0));
    }

    [Theory]
    [InlineData(ForwardOutcome.ServerError, ForwardOutcome.ServerError, ForwardOutcome.ConnectFailure)]
    [InlineData(ForwardOutcome.Timeout, ForwardOutcome.Timeout, ForwardOutcome.ServerError)] // the last failure alone does not say
    [InlineData(ForwardOutcome.Unavailable, ForwardOutcome.Unavailable, ForwardOutcome.Unavailable)] // a gateway's 502-504
    public void EjectedForNotAnswering_AtAnyPointOfTheRun_IsNotOutForAnswersOnly(ForwardOutcome first, ForwardOutcome second, ForwardOutcome third)
    {
        _health.RecordOutcome(first, T0);
        _health.RecordOutcome(second, T0);
        _health.RecordOutcome(third, T0);

        Assert.False(_health.IsAvailable(T0));
        Assert.False(_health.IsEjectedForAnswersOnly(T0));
    }

    [Fact]
    public void EjectedFor5xxAnswers_ThenRefusingConnections_IsNoLongerOutForAnswersOnly()
    {
        for (var i = 0; i < 3; i++)
        {
            _health.RecordOutcome(ForwardOutcome.ServerError, T0);
        }

        // Still answering, slowly, with a 503 now and then or cut short, as a broken path may: still a panic target.
        _health.RecordOutcome(ForwardOutcome.ServerError, T0.AddSeconds(1));
        _health.RecordOutcome(ForwardOutcome.Timeout, T0.AddSeconds(1));
        _health.RecordOutcome(ForwardOutcome.Unavailable, T0.AddSeconds(1));
        _health.RecordOutcome(ForwardOutcome.ConnectFailure, T0.AddSeconds(1));
        Assert.True(_health.IsEjectedForAnswersOnly(T0.AddSeconds(1)));

        _health.RecordNoConnection(T0.AddSeconds(1)); // a panic request finds its process gone

        Assert.False(_health.IsEjectedForAnswersOnly(T0.AddSeconds(2)));
        Assert.False(_health.IsAvailable(T0.AddSeconds(2)));
    }

    [Fact]
    public void RunBrokenBySuccess_StartsAgain_ForWhatEjectsNext()
    {
        _health.RecordOutcome(ForwardOutcome.Timeout, T0);
        _health.RecordOutcome(ForwardOutcome.Success, T0);
        for (var i = 0; i < 3; i++)
        {
            _health.RecordOutcome(ForwardOutcome.ServerError, T0);
        }

        Assert.True(_health.IsEjectedForAnswersOnly(T0));
    }
}
