using System.Text.Json;
using Dapr.Workflow;
using Shadowing.Core.Shadows;
using Shadowing.Core.Validation;
using Shadowing.TestUtilities.Time;
using Shadowing.Workflows.Activities;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Tests.Lifecycle;

public sealed class ShadowLifecycleWorkflowTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Run_HappyPath_ProvisionsWarmsValidatesHoldsUntilTheWindowEndsThenDrainsAndRetires()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);

        Assert.Equal("Holding", harness.Statuses[^1].Phase);
        Assert.Equal(ShadowState.PreWarmed, Assert.Single(harness.Statuses[^1].Shadows).State);
        Assert.All(harness.Statuses[..^1], s => Assert.Equal("Preparing", s.Phase)); // warm-up too (it read "Starting")
        Assert.Contains(harness.Statuses, s => s.Shadows.Single().State == ShadowState.WarmingUp);
        var window = Assert.Single(harness.WindowTimers);
        Assert.Equal(harness.Request.WindowEnd, window.FireAt);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.True(outcome.Served);
        Assert.Equal("the window ended", outcome.Reason);
        Assert.Equal(
            [
                nameof(ReadLifecycleOptionsActivity), nameof(ProvisionShadowActivity), nameof(SyncShadowDataActivity), nameof(EnableMirroringActivity),
                nameof(CollectWarmupStatsActivity), nameof(ValidateShadowActivity), nameof(MarkPreWarmedActivity), nameof(DrainShadowActivity), nameof(RetireShadowActivity),
            ],
            harness.Names());
        var shadow = Assert.Single(outcome.Shadows);
        Assert.Equal(("s20261202t1200-1", ShadowState.Retired, 1, Verdict.Pass), (shadow.ShadowId, shadow.State, shadow.Attempt, shadow.LastVerdict!.Verdict));
        Assert.Null(Assert.Single(harness.Inputs<RetireStep>(nameof(RetireShadowActivity))).Failure);
        Assert.Equal(new MirrorStep("orders", "s20261202t1200-1", harness.Options.MirrorPercent), Assert.Single(harness.Inputs<MirrorStep>(nameof(EnableMirroringActivity))));
        Assert.Contains(harness.Options.DrainTime, harness.Timers);
        Assert.Equal("Retired", harness.Statuses[^1].Phase);
    }

    [Fact]
    public async Task Run_WarmupTooThin_PollsUntilTheWarmupTimeThenValidatesWhatItHas()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.On(nameof(CollectWarmupStatsActivity), _ => new WarmupStats(3, 0));
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Release, null);
        await run.WaitAsync(Patience);

        // 10 min of warm-up checked every minute: 11 counts, 10 waits of a minute, then the judgement.
        Assert.Equal(11, harness.Names().Count(n => n == nameof(CollectWarmupStatsActivity)));
        Assert.Equal(10, harness.Timers.Count(t => t == TimeSpan.FromMinutes(1)));
        var since = Assert.Single(harness.Inputs<WarmupStep>(nameof(ValidateShadowActivity))).Since;
        Assert.Equal(harness.Request.WindowStart.AddMinutes(-30), since);

        // After the first minute, 3 answers project to 30 of the 100 wanted: copies are replayed paced to the remaining 97 over 9 min, once.
        var amplify = Assert.Single(harness.Inputs<AmplifyStep>(nameof(AmplifyMirroringActivity)));
        Assert.Equal(97 / 540.0, amplify.TargetRatePerSecond, 6);
    }

    [Theory]
    [InlineData(ShadowLifecycleOptions.CurrentLifecycleVersion, 18)]
    [InlineData(5, 5)] // an instance recorded before replays as it ran: judged at the WarmupTime
    public async Task Run_WarmupShorterThanTheOutcomeDelay_WaitsUntilSettledOutcomesCoverIt_NotJudgingAnEmptyWindow(int lifecycleVersion, int judgedAfterSeconds)
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest()) { LifecycleVersion = lifecycleVersion };
        harness.Options.WarmupTime = TimeSpan.FromSeconds(5);

        // Outcomes settle 13 s after their copy (a 10 s policy timeout + 3 s): the count covers copies from since + 13 s on.
        harness.On(nameof(CollectWarmupStatsActivity), i => new WarmupStats(3, 0, ((WarmupStep)i!).Since.AddSeconds(13)));
        DateTimeOffset? judgedAt = null;
        harness.On(nameof(ValidateShadowActivity), _ =>
        {
            judgedAt = harness.Now;
            return WorkflowHarness.Check(Verdict.Pass);
        });
        var since = harness.Now;
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Release, null);
        await run.WaitAsync(Patience);

        // The 5 s warm-up, then 13 s more, so that the judged window holds the WarmupTime's 5 s of settled copies.
        Assert.Equal(since.AddSeconds(judgedAfterSeconds), judgedAt);
        Assert.Contains(TimeSpan.FromSeconds(5), harness.Timers);
        Assert.Equal(lifecycleVersion >= 6, harness.Timers.Contains(TimeSpan.FromSeconds(13)));
    }

    [Fact]
    public async Task Run_WindowEndsDuringWarmup_TheShadowIsRetiredThere_NotWarmedPastTheWindow()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.Now = harness.Request.WindowEnd.AddMinutes(-5); // a late start: 5 minutes of window left for a 10-minute warm-up
        harness.On(nameof(CollectWarmupStatsActivity), _ => new WarmupStats(3, 0));

        var outcome = await harness.StartAsync().WaitAsync(Patience);

        Assert.Equal((false, "the window ended before a shadow was ready"), (outcome.Served, outcome.Reason));
        Assert.Empty(harness.Inputs<WarmupStep>(nameof(ValidateShadowActivity)));
        Assert.Null(Assert.Single(harness.Inputs<RetireStep>(nameof(RetireShadowActivity))).Failure);
        Assert.InRange(harness.Timers.Count(t => t == TimeSpan.FromMinutes(1)), 5, 5);
    }

    [Fact]
    public async Task Run_ExtendedWhileWarmingUp_TheNewEndCounts_AndTheShadowIsHeld()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.Now = harness.Request.WindowEnd.AddMinutes(-5);
        harness.On(nameof(CollectWarmupStatsActivity), _ => new WarmupStats(3, 0));
        harness.Raise(ShadowLifecycleNames.Extend, new ExtendEvent(harness.Request.WindowEnd.AddHours(1))); // the PAE grew the request

        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal((true, "the window ended"), (outcome.Served, outcome.Reason));
        Assert.Equal(harness.Request.WindowEnd.AddHours(1), harness.WindowTimers[^1].FireAt);
    }

    [Fact]
    public async Task Run_AnEarlierEndTakenWhileAShadowIsPrepared_EndsTheHoldThen_NotAtTheOldEnd()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var extended = false;
        harness.On(nameof(CollectWarmupStatsActivity), input =>
        {
            if (((WarmupStep)input!).ShadowId.EndsWith("-2", StringComparison.Ordinal))
            {
                if (!extended)
                {
                    // A fresher forecast gave hours back while the second shadow warms up: the end moves 5 minutes ahead.
                    extended = true;
                    harness.Raise(ShadowLifecycleNames.Extend, new ExtendEvent(harness.Now.AddMinutes(5)));
                }

                return new WarmupStats(3, 0);
            }

            return new WarmupStats(harness.Options.WarmupSamples, 0);
        });
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);

        harness.Raise(ShadowLifecycleNames.Resize, new ResizeEvent(Count: 2));
        var outcome = await run.WaitAsync(Patience); // the old end's timer is never fired by the harness

        Assert.Equal("the window ended", outcome.Reason);
        Assert.All(outcome.Shadows, s => Assert.Equal(ShadowState.Retired, s.State));
    }

    [Fact]
    public async Task Run_FirstCountAMomentAfterMirroringStarts_DoesNotAmplifyOnIt_ABusyServiceFinishesWarmupAtTheNextCount()
    {
        // The counting activity takes a moment of workflow time, as it does on a real backend: the first count (0 copies
        // yet) is not a pace to judge; the next one finds the copies of a busy service.
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var counts = 0;
        harness.On(nameof(CollectWarmupStatsActivity), _ =>
        {
            harness.Now += TimeSpan.FromMilliseconds(200);
            return new WarmupStats(counts++ == 0 ? 0 : 6000, 0);
        });
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Release, null);
        await run.WaitAsync(Patience);

        Assert.Equal(2, harness.Names().Count(n => n == nameof(CollectWarmupStatsActivity)));
        Assert.DoesNotContain(nameof(AmplifyMirroringActivity), harness.Names());
    }

    [Fact]
    public async Task Run_ShadowProcessRestartedMidWarmup_TheFreshCountIsNotJudgedAsAPace()
    {
        // 20 answers a minute projects past the 100 wanted. At the third check the shadow's process has just restarted, so
        // the count starts again from 0: judged against warm-up's two minutes it would look hopeless and amplify.
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var start = harness.Now;
        harness.On(nameof(CollectWarmupStatsActivity), _ =>
        {
            var minutes = (int)(harness.Now - start).TotalMinutes;
            var restarted = start.AddMinutes(2).AddMilliseconds(-200);
            return minutes switch
            {
                < 2 => new WarmupStats(20 * minutes, 0, start),
                < 6 => new WarmupStats(20 * (minutes - 2), 0, restarted),
                _ => new WarmupStats(100, 0, restarted),
            };
        });
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Release, null);
        await run.WaitAsync(Patience);

        Assert.Equal(7, harness.Names().Count(n => n == nameof(CollectWarmupStatsActivity)));
        Assert.DoesNotContain(nameof(AmplifyMirroringActivity), harness.Names());
    }

    [Fact]
    public async Task Run_SampleTargetBeyondWhatTheRouterKeeps_ReplayIsPacedNoFasterThanOutcomesAreKept()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.Options.WarmupSamples = 1_000_000;
        harness.On(nameof(CollectWarmupStatsActivity), _ => new WarmupStats(3, 0));
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Release, null);
        await run.WaitAsync(Patience);

        var amplify = Assert.Single(harness.Inputs<AmplifyStep>(nameof(AmplifyMirroringActivity)));
        Assert.Equal(OutcomeSlot.Cap / OutcomeSlot.Length.TotalSeconds, amplify.TargetRatePerSecond);
    }

    [Fact]
    public async Task Run_WarmupThinButAmplificationOff_NeverAmplifies()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.Options.AmplifyThinTraffic = false;
        harness.On(nameof(CollectWarmupStatsActivity), _ => new WarmupStats(3, 0));
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Release, null);
        await run.WaitAsync(Patience);

        Assert.DoesNotContain(nameof(AmplifyMirroringActivity), harness.Names());
    }

    [Fact]
    public async Task Run_FailThenRemediationPasses_RestartsOneSizeLargerAndHoldsIt()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.OnSequence(nameof(ValidateShadowActivity), WorkflowHarness.Check(Verdict.Fail), WorkflowHarness.Check(Verdict.Pass));
        WarmupTakesTwoMinutes(harness);
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.True(outcome.Served);
        var remediation = Assert.Single(harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)));
        Assert.Equal(2, remediation.Resources.Size);
        var shadow = Assert.Single(outcome.Shadows);
        Assert.Equal((2, Verdict.Pass), (shadow.Attempt, shadow.LastVerdict!.Verdict));
        Assert.Equal(2, harness.Names().Count(n => n == nameof(ValidateShadowActivity)));
        Assert.Null(Assert.Single(harness.Inputs<RetireStep>(nameof(RetireShadowActivity))).Failure);
        var judged = harness.Inputs<WarmupStep>(nameof(ValidateShadowActivity));
        Assert.True(judged[1].Since > judged[0].Since); // the restarted process is judged on its own answers
    }

    [Theory]
    [InlineData(ShadowLifecycleOptions.CurrentLifecycleVersion)]
    [InlineData(3)] // recorded before: replays its restart, as it ran
    public async Task Run_AFailJudgedAsTheReleaseCame_RetiresTheShadowWithoutRestartingItFirst(int lifecycleVersion)
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest()) { LifecycleVersion = lifecycleVersion };
        harness.On(nameof(ValidateShadowActivity), _ =>
        {
            harness.Raise(ShadowLifecycleNames.Release, "kill switch engaged");
            return WorkflowHarness.Check(Verdict.Fail);
        });

        var outcome = await harness.StartAsync().WaitAsync(Patience);

        Assert.False(outcome.Served);
        Assert.Equal(lifecycleVersion >= 4 ? 0 : 1, harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)).Count);
        Assert.Equal(ShadowState.Retired, Assert.Single(outcome.Shadows).State);
    }

    [Theory]
    [InlineData(ShadowLifecycleOptions.CurrentLifecycleVersion)]
    [InlineData(3)] // recorded before: replays making the other ready, as it ran
    public async Task Run_APreparationFailingForGood_StopsTheOthersBeforeTheyAreMadeReady(int lifecycleVersion)
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest(count: 2)) { LifecycleVersion = lifecycleVersion };
        harness.FailWhen(nameof(MarkPreWarmedActivity), input => ((ShadowStep)input!).ShadowId == "s20261202t1200-1", "store down");
        var judging = harness.Hold(nameof(ValidateShadowActivity), "s20261202t1200-2");
        var run = harness.StartAsync();
        await WaitUntil(() => harness.Inputs<ShadowStep>(nameof(MarkPreWarmedActivity)).Any(s => s.ShadowId == "s20261202t1200-1"));

        judging.Open(); // the other was held before its judgement, or stopped before it
        await Assert.ThrowsAsync<WorkflowTaskFailedException>(() => run.WaitAsync(Patience));

        Assert.Equal(lifecycleVersion >= 4 ? 0 : 1, harness.Inputs<ShadowStep>(nameof(MarkPreWarmedActivity)).Count(s => s.ShadowId == "s20261202t1200-2"));
        Assert.Contains(harness.Inputs<RetireStep>(nameof(RetireShadowActivity)), r => r.ShadowId == "s20261202t1200-2");
    }

    [Fact]
    public async Task Run_RemediationExhausted_RetiresTheShadowWithItsFailureAndEndsUnserved()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.On(nameof(ValidateShadowActivity), _ => WorkflowHarness.Check(Verdict.Fail));
        var outcome = await harness.StartAsync().WaitAsync(Patience);

        Assert.False(outcome.Served);
        Assert.Equal([2, 3], harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)).Select(s => s.Resources.Size));
        Assert.Equal(3, harness.Names().Count(n => n == nameof(ValidateShadowActivity)));
        var retire = Assert.Single(harness.Inputs<RetireStep>(nameof(RetireShadowActivity)));
        Assert.StartsWith("failed validation after 2 remediation(s)", retire.Failure, StringComparison.Ordinal);
        Assert.DoesNotContain(nameof(MarkPreWarmedActivity), harness.Names());
        Assert.Empty(harness.WindowTimers); // never held
        Assert.Equal(ShadowState.Retired, Assert.Single(outcome.Shadows).State);
        Assert.Equal("Failed", harness.Statuses[^1].Phase);
    }

    [Fact]
    public async Task Run_InconclusiveThenPass_WarmsUpAgainWithoutRemediation()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.OnSequence(nameof(ValidateShadowActivity), WorkflowHarness.Check(Verdict.Inconclusive), WorkflowHarness.Check(Verdict.Pass));
        harness.On(nameof(CollectWarmupStatsActivity), i => new WarmupStats((int)((harness.Now - ((WarmupStep)i!).Since).TotalMinutes * 20), 0)); // 100 in five minutes
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.True(outcome.Served);
        Assert.Empty(harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)));
        Assert.Equal(12, harness.Names().Count(n => n == nameof(CollectWarmupStatsActivity))); // minutes 0-5, then 5-10 for 100 more
        Assert.Equal(2, harness.Names().Count(n => n == nameof(ValidateShadowActivity)));
    }

    [Fact]
    public async Task Run_InconclusiveTwice_EachWarmupAddsItsOwnSamples_OverTheEvidenceKept()
    {
        // 20 copies a minute reach the 100 samples in five minutes: each later warm-up, counting from the first, waits
        // for 100 more (it found the first's and ended at once before, so three warm-ups took the time of one).
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.On(nameof(CollectWarmupStatsActivity), i => new WarmupStats((int)((harness.Now - ((WarmupStep)i!).Since).TotalMinutes * 20), 0));
        harness.OnSequence(nameof(ValidateShadowActivity), WorkflowHarness.Check(Verdict.Inconclusive), WorkflowHarness.Check(Verdict.Inconclusive), WorkflowHarness.Check(Verdict.Pass));
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.EndWindow();
        await run.WaitAsync(Patience);

        var judged = harness.Inputs<WarmupStep>(nameof(ValidateShadowActivity));
        Assert.Equal(3, judged.Count);
        Assert.All(judged, s => Assert.Equal(judged[0].Since, s.Since));
        Assert.Equal(18, harness.Names().Count(n => n == nameof(CollectWarmupStatsActivity))); // minutes 0-5, 5-10, 10-15
    }

    [Fact]
    public async Task Run_InconclusiveEveryTime_FailsAfterTheLastWarmupAndRetires()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.On(nameof(ValidateShadowActivity), _ => WorkflowHarness.Check(Verdict.Inconclusive));
        var outcome = await harness.StartAsync().WaitAsync(Patience);

        Assert.False(outcome.Served);
        Assert.Equal(harness.Options.MaxWarmups, harness.Names().Count(n => n == nameof(ValidateShadowActivity)));
        Assert.StartsWith("still inconclusive after 3 warm-up(s)", Assert.Single(harness.Inputs<RetireStep>(nameof(RetireShadowActivity))).Failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_Release_DrainsAndRetiresBeforeTheWindowEnds()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Release, "operator");
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal("released: operator", outcome.Reason);
        Assert.Equal([nameof(DrainShadowActivity), nameof(RetireShadowActivity)], harness.Names().TakeLast(2));
        Assert.False(harness.WindowTimers[0].Timer.Task.IsCompleted);
    }

    [Fact]
    public async Task Run_Extend_HoldsUntilTheNewEnd()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        var newEnd = harness.Request.WindowEnd.AddHours(1);
        harness.Raise(ShadowLifecycleNames.Extend, new ExtendEvent(newEnd, Number: 1));
        await WaitUntil(() => harness.WindowTimers.Count == 2);
        Assert.Equal(newEnd, harness.WindowTimers[1].FireAt);

        // The first timer fires at the old end: no longer watched, the workflow still holds.
        harness.Now = harness.Request.WindowEnd;
        harness.WindowTimers[0].Timer.SetResult();
        await Task.Yield();
        Assert.False(run.IsCompleted);
        Assert.Equal(2, harness.WindowTimers.Count);
        Assert.Equal(newEnd, harness.Statuses[^1].WindowEnd);
        Assert.DoesNotContain(nameof(DrainShadowActivity), harness.Names());

        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);
        Assert.Equal(("the window ended", newEnd, (DateTimeOffset?)null, (int?)1), (outcome.Reason, outcome.WindowEnd, outcome.UnheldExtension, outcome.ExtensionsReceived));
    }

    [Fact]
    public async Task Run_ExtendedWhileTheShadowsDrain_TheOutcomeGivesTheEndTheyWereHeldFor()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        var draining = harness.Hold(nameof(DrainShadowActivity), "s20261202t1200-1");
        harness.EndWindow();
        await WaitUntil(() => draining.Reached);
        harness.Raise(ShadowLifecycleNames.Extend, new ExtendEvent(harness.Request.WindowEnd.AddHours(1), Number: 2));
        draining.Open();
        var outcome = await run.WaitAsync(Patience);

        // Held to the old end, the new one received but not held for: the intake runs it anew.
        Assert.Equal(("the window ended", harness.Request.WindowEnd, harness.Request.WindowEnd.AddHours(1), (int?)2), (outcome.Reason, outcome.WindowEnd, outcome.UnheldExtension, outcome.ExtensionsReceived));
    }

    [Fact]
    public async Task Run_ExtendToAnEarlierEnd_RetiresAtIt_NotAtTheOldEnd()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        var earlier = harness.Request.WindowStart.AddMinutes(30); // a fresher forecast shortened the window
        harness.Raise(ShadowLifecycleNames.Extend, new ExtendEvent(earlier));
        await WaitUntil(() => harness.WindowTimers.Count == 2);

        harness.Now = earlier;
        harness.WindowTimers[1].Timer.SetResult();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal(earlier, harness.WindowTimers[1].FireAt);
        Assert.Equal("the window ended", outcome.Reason);
        Assert.Equal([nameof(DrainShadowActivity), nameof(RetireShadowActivity)], harness.Names().TakeLast(2));
        Assert.False(harness.WindowTimers[0].Timer.Task.IsCompleted); // the old end never came
    }

    [Fact]
    public async Task Run_ResizeCount_PreparesAnotherShadowAndRetiresBothAtTheEnd()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Resize, new ResizeEvent(Count: 2));
        await WaitUntil(() => harness.Names().Count(n => n == nameof(MarkPreWarmedActivity)) == 2);
        harness.Raise(ShadowLifecycleNames.Release, null);
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal(["s20261202t1200-1", "s20261202t1200-2"], harness.Inputs<ShadowStep>(nameof(ProvisionShadowActivity)).Select(s => s.ShadowId));
        Assert.Equal(2, harness.Inputs<RetireStep>(nameof(RetireShadowActivity)).Count);
        Assert.All(outcome.Shadows, s => Assert.Equal(ShadowState.Retired, s.State));
    }

    [Fact]
    public async Task Run_ResizeToFewer_RetiresTheRest_HoldsTheOthersAsHolding_AndANegativeCountChangesNothing()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest(count: 2));
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Resize, new ResizeEvent(Count: 1));
        await WaitUntil(() => harness.Names().Count(n => n == nameof(RetireShadowActivity)) == 1 && harness.Statuses[^1].Phase == "Holding");
        var statuses = harness.Statuses.Count;
        harness.Raise(ShadowLifecycleNames.Resize, new ResizeEvent(Count: -1)); // a payload no operator can send any more: ignored, never a crash
        await WaitUntil(() => harness.Statuses.Count > statuses); // the hold reports its status after each event
        harness.Raise(ShadowLifecycleNames.Release, null);
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal(2, harness.Inputs<RetireStep>(nameof(RetireShadowActivity)).Count);
        Assert.All(outcome.Shadows, s => Assert.Equal(ShadowState.Retired, s.State));
    }

    [Fact]
    public async Task Run_ResizeResources_RestartsTheHeldShadowWithThemAndRevalidates()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        var bigger = new ShadowResources(Size: 4);
        harness.Raise(ShadowLifecycleNames.Resize, new ResizeEvent(Resources: bigger));
        await WaitUntil(() => harness.Names().Count(n => n == nameof(ValidateShadowActivity)) == 2 && harness.Statuses[^1].Shadows[0].State == ShadowState.PreWarmed);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal(bigger, Assert.Single(harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity))).Resources);
        Assert.Equal(bigger, Assert.Single(outcome.Shadows).Resources);
        Assert.Equal(bigger, harness.Inputs<ShadowStep>(nameof(DrainShadowActivity)).Single().Resources);
    }

    [Fact]
    public async Task Run_ResizeResourcesRefused_ShadowsGoBackToTheirResources_AndTheRequestIsStillServed()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest(count: 2));
        var bigger = new ShadowResources(Size: 8);
        harness.FailWhen(nameof(RemediateShadowActivity), input => ((ShadowStep)input!).Resources == bigger, "size 8 exceeds the quota");
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Resize, new ResizeEvent(Resources: bigger));
        await WaitUntil(() => harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)).Count == 2 && harness.Statuses[^1].Shadows.All(s => s.State == ShadowState.PreWarmed));
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.True(outcome.Served);
        Assert.Equal([bigger, new ShadowResources(Size: 1)], harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)).Select(s => s.Resources));
        Assert.All(outcome.Shadows, s => Assert.Equal(1, s.Resources!.Size));
        Assert.Equal(2, harness.Inputs<ShadowStep>(nameof(DrainShadowActivity)).Count);
    }

    [Fact]
    public async Task Run_SameResizeSentAgainAfterAPartialRefusal_DoesNotRestartTheShadowsThatHaveIt()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest(count: 2));
        var bigger = new ShadowResources(Size: 8);
        harness.FailWhen(nameof(RemediateShadowActivity), input => input is ShadowStep { ShadowId: "s20261202t1200-2" } step && step.Resources == bigger, "no room for size 8 on its host");
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Resize, new ResizeEvent(Resources: bigger));
        await WaitUntil(() => harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)).Count == 3 && harness.Statuses[^1].Shadows.All(s => s.State == ShadowState.PreWarmed));
        harness.Raise(ShadowLifecycleNames.Resize, new ResizeEvent(Resources: bigger));
        await WaitUntil(() => harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)).Count == 5 && harness.Statuses[^1].Shadows.All(s => s.State == ShadowState.PreWarmed));
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal(
            [("s20261202t1200-1", 8), ("s20261202t1200-2", 8), ("s20261202t1200-2", 1), ("s20261202t1200-2", 8), ("s20261202t1200-2", 1)],
            harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)).Select(s => (s.ShadowId, s.Resources.Size)));
        Assert.Equal([8, 1], outcome.Shadows.OrderBy(s => s.ShadowId, StringComparer.Ordinal).Select(s => s.Resources!.Size));
    }

    [Fact]
    public async Task Run_ResizeRefused_ARemediatedShadowGoesBackToItsOwnLargerSize()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var bigger = new ShadowResources(Size: 8);
        harness.FailWhen(nameof(RemediateShadowActivity), input => ((ShadowStep)input!).Resources == bigger, "size 8 exceeds the quota");
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Verdict, new VerdictEvent("s20261202t1200-1", WorkflowHarness.Check(Verdict.Fail) with { JudgedAt = harness.Now }));
        await WaitUntil(() => harness.Names().Count(n => n == nameof(MarkPreWarmedActivity)) == 2);
        harness.Raise(ShadowLifecycleNames.Resize, new ResizeEvent(Resources: bigger));
        await WaitUntil(() => harness.Names().Count(n => n == nameof(MarkPreWarmedActivity)) == 3);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal([2, 8, 2], harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)).Select(s => s.Resources.Size));
        Assert.Equal(2, Assert.Single(outcome.Shadows).Resources!.Size);
        Assert.True(outcome.Served);
    }

    [Fact]
    public async Task Run_FailingRevalidationVerdict_RemediatesTheHeldShadow()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Verdict, new VerdictEvent("s20261202t1200-1", WorkflowHarness.Check(Verdict.Fail) with { JudgedAt = harness.Now }));
        await WaitUntil(() => harness.Names().Count(n => n == nameof(MarkPreWarmedActivity)) == 2);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal(2, Assert.Single(harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity))).Resources.Size);
        Assert.Equal(2, Assert.Single(outcome.Shadows).Attempt);
        Assert.True(outcome.Served);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(ShadowLifecycleOptions.CurrentLifecycleVersion)]
    public async Task Run_ReadyShadowFailsWhileAnotherIsStillPrepared_IsRemediatedThen_FromVersion5(int lifecycleVersion)
    {
        var (harness, run, second) = await FirstReadySecondPreparedAsync(lifecycleVersion);

        RaiseFail(harness, "s20261202t1200-1");
        if (lifecycleVersion >= 5)
        {
            await WaitUntil(() => Remediated(harness).Count > 0); // the second is still warming up, held at its gate
        }

        second.Open();
        await harness.Holding.WaitAsync(Patience);
        await WaitUntil(() => Remediated(harness).Count > 0);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        // Version 4 took the verdict only once the second shadow was ready and held.
        var calls = harness.Calls.ToArray();
        var remediated = Array.FindIndex(calls, c => c is { Name: nameof(RemediateShadowActivity), Input: ShadowStep { ShadowId: "s20261202t1200-1" } });
        var secondReady = Array.FindIndex(calls, c => c is { Name: nameof(MarkPreWarmedActivity), Input: ShadowStep { ShadowId: "s20261202t1200-2" } });
        Assert.Equal(lifecycleVersion >= 5, remediated < secondReady);
        Assert.Equal([2, 1], outcome.Shadows.OrderBy(s => s.ShadowId, StringComparer.Ordinal).Select(s => s.Attempt));
        Assert.True(outcome.Served);
    }

    [Fact]
    public async Task Run_ReadyShadowFailsTwiceWhileAnotherIsStillPrepared_IsRemediatedEachTime()
    {
        var (harness, run, second) = await FirstReadySecondPreparedAsync();

        var rewarm = harness.Hold(nameof(CollectWarmupStatsActivity), "s20261202t1200-1");
        RaiseFail(harness, "s20261202t1200-1");
        await WaitUntil(() => rewarm.Reached);
        rewarm.Open(); // the remediation ends while the second is still prepared
        await WaitUntil(() => harness.Inputs<ShadowStep>(nameof(MarkPreWarmedActivity)).Count(s => s.ShadowId == "s20261202t1200-1") == 2);
        RaiseFail(harness, "s20261202t1200-1"); // not mistaken for a verdict on the process the first remediation replaced

        await WaitUntil(() => Remediated(harness).Count == 2);
        second.Open();
        await harness.Holding.WaitAsync(Patience);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal([3, 1], outcome.Shadows.OrderBy(s => s.ShadowId, StringComparer.Ordinal).Select(s => s.Attempt));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Run_ReleasedOrEndedWhileAnotherShadowIsStillPrepared_TheReadyOneDrainsAtOnce_FromVersion7(bool released)
    {
        var (harness, run, second) = await FirstReadySecondPreparedAsync();

        if (released)
        {
            harness.Raise(ShadowLifecycleNames.Release, "kill switch engaged");
        }
        else
        {
            harness.EndWindow();
        }

        // The second's provisioning or warm-up may take many minutes: the first leaves routing now, not when it returns.
        await WaitUntil(() => harness.Inputs<RetireStep>(nameof(RetireShadowActivity)).Any(s => s.ShadowId == "s20261202t1200-1"));
        Assert.Contains(harness.Inputs<ShadowStep>(nameof(DrainShadowActivity)), s => s.ShadowId == "s20261202t1200-1");
        Assert.False(run.IsCompleted);
        second.Open();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal(released ? "released: kill switch engaged" : "the window ended", outcome.Reason);
        Assert.All(outcome.Shadows, s => Assert.Equal(ShadowState.Retired, s.State));
        Assert.DoesNotContain(harness.Inputs<ShadowStep>(nameof(MarkPreWarmedActivity)), s => s.ShadowId == "s20261202t1200-2"); // stopped at its next step
        Assert.Single(harness.Inputs<ShadowStep>(nameof(DrainShadowActivity)), s => s.ShadowId == "s20261202t1200-1"); // drained once
    }

    [Fact]
    public async Task Run_WindowEndedWhileAnotherShadowIsPrepared_AnExtensionAfterTheDrain_IsNotHeld_AndTheOutcomeSaysSo()
    {
        var (harness, run, second) = await FirstReadySecondPreparedAsync();
        var end = harness.WindowTimers[^1].FireAt;
        harness.EndWindow();
        await WaitUntil(() => harness.Inputs<RetireStep>(nameof(RetireShadowActivity)).Any(s => s.ShadowId == "s20261202t1200-1"));

        // Came once the ready shadow was drained: the second stops at its next step rather than be held for it alone.
        harness.Raise(ShadowLifecycleNames.Extend, new ExtendEvent(end.AddHours(1)));
        second.Open();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal("the window ended", outcome.Reason);
        Assert.DoesNotContain(harness.Inputs<ShadowStep>(nameof(MarkPreWarmedActivity)), s => s.ShadowId == "s20261202t1200-2");
        Assert.Equal((end, end.AddHours(1)), (outcome.WindowEnd, outcome.UnheldExtension)); // the intake runs the extension as its next revision
    }

    [Fact]
    public async Task Run_ReleasedWhileAReadyShadowIsRestartedAndAnotherPrepared_TheRestartedOneRetiresItself_NotDrainedMidRestart()
    {
        var (harness, run, second) = await FirstReadySecondPreparedAsync();
        var restart = harness.Hold(nameof(RemediateShadowActivity), "s20261202t1200-1");
        RaiseFail(harness, "s20261202t1200-1");
        await WaitUntil(() => restart.Reached);

        harness.Raise(ShadowLifecycleNames.Release, "operator");
        restart.Open();
        second.Open();
        var outcome = await run.WaitAsync(Patience);

        // Drained while its restart ran, its remediation failed on a shadow moved to Draining and retired it as failed, with an alert.
        Assert.DoesNotContain(harness.Inputs<ShadowStep>(nameof(DrainShadowActivity)), s => s.ShadowId == "s20261202t1200-1");
        Assert.All(harness.Inputs<RetireStep>(nameof(RetireShadowActivity)), s => Assert.Null(s.Failure));
        Assert.Equal("released: operator", outcome.Reason);
        Assert.All(outcome.Shadows, s => Assert.Equal(ShadowState.Retired, s.State));
    }

    [Fact]
    public async Task Run_ReadyShadowFailsAfterAReleaseWhileAnotherIsStillPrepared_IsDrainedNotRestarted()
    {
        var (harness, run, second) = await FirstReadySecondPreparedAsync();

        harness.Raise(ShadowLifecycleNames.Release, "operator");
        RaiseFail(harness, "s20261202t1200-1");
        second.Open();
        var outcome = await run.WaitAsync(Patience);

        Assert.Empty(Remediated(harness));
        Assert.Equal("released: operator", outcome.Reason);
        Assert.All(outcome.Shadows, s => Assert.Equal(ShadowState.Retired, s.State));
    }

    [Fact]
    public async Task Run_TheOnlyReadyShadowRetiredByARemediationDuringPreparation_EndsAtOnce_NotAtTheWindowsEnd()
    {
        var (harness, run, second) = await FirstReadySecondPreparedAsync(setup: NeitherCanBeKept);

        RaiseFail(harness, "s20261202t1200-1"); // its restart is refused: retired
        await WaitUntil(() => harness.Inputs<RetireStep>(nameof(RetireShadowActivity)).Any(s => s.ShadowId == "s20261202t1200-1"));
        second.Open(); // cannot be judged: retired too
        var outcome = await run.WaitAsync(Patience); // the window's timer is never fired

        Assert.Equal("no shadow is left ready", outcome.Reason);
        Assert.All(outcome.Shadows, s => Assert.Equal(ShadowState.Retired, s.State));
    }

    [Fact]
    public async Task Run_TheOnlyReadyShadowRetiredDuringPreparation_ARequestToGrowThatCameMeanwhile_IsStillServed()
    {
        var (harness, run, second) = await FirstReadySecondPreparedAsync(setup: NeitherCanBeKept);

        RaiseFail(harness, "s20261202t1200-1");
        await WaitUntil(() => harness.Inputs<RetireStep>(nameof(RetireShadowActivity)).Any(s => s.ShadowId == "s20261202t1200-1"));
        harness.Raise(ShadowLifecycleNames.Resize, new ResizeEvent(Count: 1)); // the PAE merged a larger need meanwhile
        second.Open();
        await WaitUntil(() => harness.Inputs<ShadowStep>(nameof(MarkPreWarmedActivity)).Count == 2); // the first's, then the new one's
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal(3, harness.Inputs<ShadowStep>(nameof(ProvisionShadowActivity)).Count);
        Assert.Equal(("the window ended", true), (outcome.Reason, outcome.Served));
    }

    [Fact]
    public async Task Run_ReleasedWhileARemediationStartedDuringPreparationRuns_ItsShadowIsRetiredBeforeTheWorkflowEnds()
    {
        var (harness, run, second) = await FirstReadySecondPreparedAsync();
        var rewarm = harness.Hold(nameof(CollectWarmupStatsActivity), "s20261202t1200-1");
        RaiseFail(harness, "s20261202t1200-1");
        await WaitUntil(() => rewarm.Reached);

        harness.Raise(ShadowLifecycleNames.Release, "operator");
        second.Open(); // sees the release: retired, never judged
        await WaitUntil(() => harness.Inputs<RetireStep>(nameof(RetireShadowActivity)).Any(s => s.ShadowId == "s20261202t1200-2"));
        Assert.False(run.IsCompleted); // waits for the remediation of the first

        rewarm.Open();
        var outcome = await run.WaitAsync(Patience);

        Assert.All(outcome.Shadows, s => Assert.Equal(ShadowState.Retired, s.State));
        Assert.Equal(["s20261202t1200-1", "s20261202t1200-2"], harness.Inputs<RetireStep>(nameof(RetireShadowActivity)).Select(s => s.ShadowId).Order(StringComparer.Ordinal));
        Assert.Equal("released: operator", outcome.Reason);
    }

    /// <summary>
    /// Two shadows: the first ready (made PreWarmed), the second's warm-up held at the returned gate. <paramref name="setup"/>
    /// runs before the workflow starts.
    /// </summary>
    private static async Task<(WorkflowHarness Harness, Task<ShadowOutcome> Run, WorkflowHarness.Gate Second)> FirstReadySecondPreparedAsync(int lifecycleVersion = ShadowLifecycleOptions.CurrentLifecycleVersion, Action<WorkflowHarness>? setup = null)
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest(count: 2)) { LifecycleVersion = lifecycleVersion };
        setup?.Invoke(harness);
        var second = harness.Hold(nameof(CollectWarmupStatsActivity), "s20261202t1200-2");
        var run = harness.StartAsync();
        await WaitUntil(() => second.Reached && harness.Inputs<ShadowStep>(nameof(MarkPreWarmedActivity)).Any(s => s.ShadowId == "s20261202t1200-1"));
        return (harness, run, second);
    }

    /// <summary>The first shadow's restart is refused (a Fail retires it), the second cannot be judged.</summary>
    private static void NeitherCanBeKept(WorkflowHarness harness)
    {
        harness.FailWhen(nameof(RemediateShadowActivity), input => ((ShadowStep)input!).ShadowId == "s20261202t1200-1", "quota exceeded");
        harness.FailWhen(nameof(ValidateShadowActivity), input => ((WarmupStep)input!).ShadowId == "s20261202t1200-2", "shadow down");
    }

    private static IReadOnlyList<ShadowStep> Remediated(WorkflowHarness harness) => harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity));

    [Fact]
    public async Task Run_SecondShadowFailsWhileTheFirstIsRemediated_IsRemediatedAtOnce_NotAfterTheFirstsWarmup()
    {
        var (harness, run, rewarm) = await FirstOfTwoRemediatingAsync();
        RaiseFail(harness, "s20261202t1200-2");

        // The second is restarted, warmed, judged and held again while the first is still warming up.
        await WaitUntil(() => harness.Names().Count(n => n == nameof(MarkPreWarmedActivity)) == 3);
        Assert.Equal(["s20261202t1200-1", "s20261202t1200-2"], harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)).Select(s => s.ShadowId));
        Assert.Equal([ShadowState.WarmingUp, ShadowState.PreWarmed], harness.Statuses[^1].Shadows.OrderBy(s => s.ShadowId, StringComparer.Ordinal).Select(s => s.State));
        rewarm.Open();
        await WaitUntil(() => harness.Names().Count(n => n == nameof(MarkPreWarmedActivity)) == 4);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.True(outcome.Served);
        Assert.All(outcome.Shadows, s => Assert.Equal((ShadowState.Retired, 2), (s.State, s.Attempt)));
    }

    [Fact]
    public async Task Run_FailSentAgainWhileItsShadowIsBeingRestarted_RestartsItOnce()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        var restart = harness.Hold(nameof(RemediateShadowActivity), "s20261202t1200-1");
        RaiseFail(harness, "s20261202t1200-1");
        await WaitUntil(() => restart.Reached);
        RaiseFail(harness, "s20261202t1200-1"); // judged on the old process again before its owner took it out of routing
        restart.Open();
        await WaitUntil(() => harness.Names().Count(n => n == nameof(MarkPreWarmedActivity)) == 2);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.Single(harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)));
        Assert.Equal(2, Assert.Single(outcome.Shadows).Attempt);
    }

    [Fact]
    public async Task Run_ResizeWhileAShadowIsRemediated_WaitsForIt_AndCountsItAsHeld()
    {
        var (harness, run, rewarm) = await FirstOfTwoRemediatingAsync();
        harness.Raise(ShadowLifecycleNames.Resize, new ResizeEvent(Count: 3));
        Assert.Equal(2, harness.Names().Count(n => n == nameof(ProvisionShadowActivity)));
        rewarm.Open();
        await WaitUntil(() => harness.Names().Count(n => n == nameof(MarkPreWarmedActivity)) == 4);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal(3, outcome.Shadows.Count);
        Assert.Equal(3, harness.Names().Count(n => n == nameof(ProvisionShadowActivity)));
        Assert.Equal(3, harness.Inputs<ShadowStep>(nameof(DrainShadowActivity)).Count);
    }

    [Fact]
    public async Task Run_ReleasedWhileAShadowIsRemediated_EndsTheHold_AndTheShadowIsRetiredWithoutBeingMadeReady()
    {
        var (harness, run, rewarm) = await FirstOfTwoRemediatingAsync();
        harness.Raise(ShadowLifecycleNames.Release, "kill switch engaged"); // the hold loop takes it on this thread, then waits for the remediation
        rewarm.Open(); // the warm-up passes, after the release
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal("released: kill switch engaged", outcome.Reason);
        Assert.Equal(2, harness.Names().Count(n => n == nameof(MarkPreWarmedActivity)));
        Assert.Equal(["s20261202t1200-2"], harness.Inputs<ShadowStep>(nameof(DrainShadowActivity)).Select(s => s.ShadowId));
        Assert.All(outcome.Shadows, s => Assert.Equal(ShadowState.Retired, s.State));
    }

    [Fact]
    public async Task Run_ExtendedAfterTheHoldEndedWhileAShadowIsRemediated_TheRemediationStillStops()
    {
        var (harness, run, rewarm) = await FirstOfTwoRemediatingAsync();
        var ended = harness.Now;
        harness.Raise(ShadowLifecycleNames.Extend, new ExtendEvent(ended)); // an end that has come: the hold ends, waiting for the remediation
        harness.Raise(ShadowLifecycleNames.Extend, new ExtendEvent(harness.Now.AddHours(2))); // too late: only the remediation would take it
        rewarm.Open();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal(("the window ended", ended), (outcome.Reason, outcome.WindowEnd)); // not held for the later end: the intake runs it anew
        Assert.Equal(2, harness.Names().Count(n => n == nameof(MarkPreWarmedActivity)));
        Assert.Equal(2, harness.Names().Count(n => n == nameof(ValidateShadowActivity))); // the remediation judged nothing after its warm-up
        Assert.Equal(["s20261202t1200-2"], harness.Inputs<ShadowStep>(nameof(DrainShadowActivity)).Select(s => s.ShadowId));
    }

    [Fact]
    public async Task Run_ResizeWaitingForARemediation_WhenTheReleaseCameMeanwhile_DrainsInsteadOfRestarting()
    {
        var (harness, run, rewarm) = await FirstOfTwoRemediatingAsync();
        harness.Raise(ShadowLifecycleNames.Resize, new ResizeEvent(Resources: new ShadowResources(Size: 4)));
        harness.Raise(ShadowLifecycleNames.Release, "kill switch engaged");
        rewarm.Open();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal("released: kill switch engaged", outcome.Reason);
        Assert.DoesNotContain(harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)), s => s.Resources.Size == 4);
        Assert.Equal(["s20261202t1200-2"], harness.Inputs<ShadowStep>(nameof(DrainShadowActivity)).Select(s => s.ShadowId));
    }

    [Theory]
    [InlineData(true, ShadowLifecycleOptions.CurrentLifecycleVersion)]
    [InlineData(false, ShadowLifecycleOptions.CurrentLifecycleVersion)]
    [InlineData(true, 3)] // recorded before: replays restarting the other too, as it ran
    public async Task Run_ReleasedOrEndedWhileAResizeRestartsItsShadows_TheOthersDrainInsteadOfRestarting(bool released, int lifecycleVersion)
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest(count: 2)) { LifecycleVersion = lifecycleVersion };
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        var rewarm = harness.Hold(nameof(CollectWarmupStatsActivity), "s20261202t1200-1");
        harness.Raise(ShadowLifecycleNames.Resize, new ResizeEvent(Resources: new ShadowResources(Size: 4)));
        await WaitUntil(() => rewarm.Reached);
        if (released)
        {
            harness.Raise(ShadowLifecycleNames.Release, "kill switch engaged");
        }
        else
        {
            harness.EndWindow();
        }

        rewarm.Open();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal(released ? "released: kill switch engaged" : "the window ended", outcome.Reason);
        Assert.Equal(lifecycleVersion >= 4 ? ["s20261202t1200-1"] : ["s20261202t1200-1", "s20261202t1200-2"], harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)).Select(s => s.ShadowId));
        Assert.Equal(lifecycleVersion >= 4 ? ["s20261202t1200-2"] : [], harness.Inputs<ShadowStep>(nameof(DrainShadowActivity)).Select(s => s.ShadowId));
    }

    [Fact]
    public async Task Run_HistoryRecordedBeforeConcurrentRemediation_ReplaysRemediatingOneShadowAtATime()
    {
        // An instance started by the previous build: its history has the second shadow's remediation after the first's.
        var (harness, run, rewarm) = await FirstOfTwoRemediatingAsync(lifecycleVersion: 0);
        RaiseFail(harness, "s20261202t1200-2");

        Assert.Equal(["s20261202t1200-1"], harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)).Select(s => s.ShadowId));
        rewarm.Open();
        await WaitUntil(() => harness.Names().Count(n => n == nameof(MarkPreWarmedActivity)) == 4);
        Assert.Equal(["s20261202t1200-1", "s20261202t1200-2"], harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)).Select(s => s.ShadowId));
        harness.EndWindow();
        Assert.True((await run.WaitAsync(Patience)).Served);
    }

    [Fact]
    public async Task Run_GivingUpWhileAShadowIsRemediated_ThatShadowIsNotMadeReadyAfterwards()
    {
        var (harness, run, rewarm) = await FirstOfTwoRemediatingAsync();
        harness.FailWhen(nameof(RemediateShadowActivity), input => ((ShadowStep)input!).ShadowId == "s20261202t1200-2", "no capacity");
        harness.FailWhen(nameof(RetireShadowActivity), input => ((RetireStep)input!).ShadowId == "s20261202t1200-2", "store down");
        RaiseFail(harness, "s20261202t1200-2"); // its restart and then its retirement fail for good: the workflow gives up
        // It waits for the first shadow's remediation before retiring it: no retirement lands before a restart of the remediation.
        Assert.False(run.IsCompleted);
        Assert.DoesNotContain(harness.Inputs<RetireStep>(nameof(RetireShadowActivity)), r => r.ShadowId == "s20261202t1200-1");
        rewarm.Open();
        await Assert.ThrowsAsync<WorkflowTaskFailedException>(() => run.WaitAsync(Patience));

        // The remediation stopped at its next step: not judged, not made ready, and retired.
        Assert.Equal(2, harness.Names().Count(n => n == nameof(MarkPreWarmedActivity)));
        Assert.Equal(2, harness.Names().Count(n => n == nameof(ValidateShadowActivity)));
        Assert.Contains(harness.Inputs<RetireStep>(nameof(RetireShadowActivity)), r => r.ShadowId == "s20261202t1200-1");
    }

    [Fact]
    public async Task Run_VerdictJudgedAfterTheTableMadeItReady_ButBeforeTheWorkflowsNextTurn_IsActedOn()
    {
        // The activity wrote PreWarmed a minute before the workflow's next turn (a slow sidecar, a restarted host):
        // continuous validation judged the shadow in between, and moved it out of routing; ignoring that verdict
        // would leave it there for the rest of the window.
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.On(nameof(MarkPreWarmedActivity), _ => JsonSerializer.SerializeToElement(harness.Now.AddMinutes(-1)));
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Verdict, new VerdictEvent("s20261202t1200-1", WorkflowHarness.Check(Verdict.Fail) with { JudgedAt = harness.Now.AddSeconds(-30) }));
        await WaitUntil(() => harness.Names().Count(n => n == nameof(MarkPreWarmedActivity)) == 2);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.Single(harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)));
        Assert.Equal(2, Assert.Single(outcome.Shadows).Attempt);
    }

    [Fact]
    public async Task Run_HistoryFromBeforeMarkPreWarmedReturnedItsTime_FallsBackToTheTurnsTime()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.On(nameof(MarkPreWarmedActivity), _ => JsonSerializer.SerializeToElement(true));
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal(harness.Statuses.Last(s => s.Shadows.Count > 0 && s.Shadows[0].ReadyAt is not null).Shadows[0].ReadyAt, Assert.Single(outcome.Shadows).ReadyAt);
        Assert.NotNull(Assert.Single(outcome.Shadows).ReadyAt);
    }

    [Fact]
    public async Task Run_VerdictJudgedBeforeTheShadowWasReady_IsIgnored()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.Raise(ShadowLifecycleNames.Verdict, new VerdictEvent("s20261202t1200-1", WorkflowHarness.Check(Verdict.Fail) with { JudgedAt = harness.Now.AddMinutes(-5) }));
        await WaitUntil(() => harness.Statuses[^1].Shadows[0].LastVerdict!.Verdict == Verdict.Pass && harness.Names().Count > 0);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.Empty(harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)));
        Assert.Equal(1, Assert.Single(outcome.Shadows).Attempt);
    }

    [Fact]
    public async Task Run_ReleaseDuringWarmup_RetiresTheShadowWithoutMakingItReady()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var polls = 0;
        harness.On(nameof(CollectWarmupStatsActivity), _ =>
        {
            if (++polls == 3)
            {
                harness.Raise(ShadowLifecycleNames.Release, "kill switch engaged");
            }

            return new WarmupStats(0, 0);
        });
        var outcome = await harness.StartAsync().WaitAsync(Patience);

        Assert.False(outcome.Served);
        Assert.Equal("released: kill switch engaged", outcome.Reason);
        Assert.DoesNotContain(nameof(ValidateShadowActivity), harness.Names());
        Assert.DoesNotContain(nameof(MarkPreWarmedActivity), harness.Names());
        Assert.Null(Assert.Single(harness.Inputs<RetireStep>(nameof(RetireShadowActivity))).Failure);
        Assert.True(polls < 11, "the release ended the warm-up early");
    }

    [Fact]
    public async Task Run_ReleaseWhileAHeldShadowIsWarmedAgain_RetiresItAndEndsReleased()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.On(nameof(CollectWarmupStatsActivity), _ =>
        {
            harness.Raise(ShadowLifecycleNames.Release, "kill switch engaged"); // during the re-warm-up after remediation
            return new WarmupStats(0, 0);
        });
        harness.Raise(ShadowLifecycleNames.Verdict, new VerdictEvent("s20261202t1200-1", WorkflowHarness.Check(Verdict.Fail) with { JudgedAt = harness.Now }));
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal("released: kill switch engaged", outcome.Reason);
        Assert.Single(harness.Inputs<ShadowStep>(nameof(RemediateShadowActivity)));
        Assert.Null(Assert.Single(harness.Inputs<RetireStep>(nameof(RetireShadowActivity))).Failure);
        Assert.Equal(ShadowState.Retired, Assert.Single(outcome.Shadows).State);
    }

    [Fact]
    public async Task Run_ReleasedBeforeAnythingStarted_StartsNothing()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.Raise(ShadowLifecycleNames.Release, "kill switch engaged");

        var outcome = await harness.StartAsync().WaitAsync(Patience);

        Assert.False(outcome.Served);
        Assert.DoesNotContain(nameof(ProvisionShadowActivity), harness.Names());
        Assert.Equal("released: kill switch engaged", outcome.Reason);
    }

    [Fact]
    public async Task Run_ActivityFailsForGoodWhileAShadowIsReady_RetiresEveryShadowAndFails()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.On(nameof(DrainShadowActivity), _ => throw new WorkflowTaskFailedException("failed", new WorkflowTaskFailureDetails("StateStoreException", "store down")));
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.EndWindow();

        await Assert.ThrowsAsync<WorkflowTaskFailedException>(() => run.WaitAsync(Patience));
        var retire = Assert.Single(harness.Inputs<RetireStep>(nameof(RetireShadowActivity)));
        Assert.Equal("its workflow failed: store down", retire.Failure);
    }

    [Fact]
    public async Task Run_ProvisioningActivityFails_RetiresWithTheErrorAndAlertsThroughRetire()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest());
        harness.On(nameof(ProvisionShadowActivity), _ => throw new WorkflowTaskFailedException("failed", new WorkflowTaskFailureDetails("ProvisioningException", "no local-process template for 'orders'")));
        var outcome = await harness.StartAsync().WaitAsync(Patience);

        Assert.False(outcome.Served);
        Assert.StartsWith("no shadow could be started", outcome.Reason, StringComparison.Ordinal); // never judged: not "passed no validation"
        Assert.Equal("Failed", harness.Statuses[^1].Phase);
        Assert.Equal([nameof(ReadLifecycleOptionsActivity), nameof(ProvisionShadowActivity), nameof(RetireShadowActivity)], harness.Names());
        Assert.Equal("could not be started: no local-process template for 'orders'", Assert.Single(harness.Inputs<RetireStep>(nameof(RetireShadowActivity))).Failure);
    }

    [Fact]
    public async Task Run_TwoShadows_PreparesBothAndHoldsTheOneThatPasses()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest(count: 2));
        harness.On(nameof(ValidateShadowActivity), i => WorkflowHarness.Check(((WarmupStep)i!).ShadowId.EndsWith("-2", StringComparison.Ordinal) ? Verdict.Fail : Verdict.Pass));
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        harness.EndWindow();
        var outcome = await run.WaitAsync(Patience);

        Assert.True(outcome.Served);
        var retired = harness.Inputs<RetireStep>(nameof(RetireShadowActivity));
        Assert.Contains(retired, r => r.ShadowId.EndsWith("-2", StringComparison.Ordinal) && r.Failure is not null);
        Assert.Contains(retired, r => r.ShadowId.EndsWith("-1", StringComparison.Ordinal) && r.Failure is null);
    }

    [Fact]
    public async Task Run_WindowDaysAhead_WaitsScheduledWithNothingRunning_ThenPreparesPrepareAheadBeforeItStarts()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest() with { Kinds = [ShadowRequestKind.Manual] });
        harness.Now = harness.Request.WindowStart.AddDays(-3); // an operator's request for a window three days away
        var run = harness.StartAsync();
        await WaitUntil(() => harness.WindowTimers.Count == 1);

        Assert.Equal(harness.Request.WindowStart - harness.Options.PrepareAhead, harness.WindowTimers[0].FireAt);
        Assert.Equal("Scheduled", harness.Statuses[^1].Phase);
        Assert.Equal([nameof(ReadLifecycleOptionsActivity)], harness.Names()); // before, provisioned at once and held for three days
        harness.EndWindow(); // the preparation's time
        await harness.Holding.WaitAsync(Patience);
        Assert.Equal(nameof(ProvisionShadowActivity), harness.Names()[1]);
        harness.EndWindow();
        Assert.True((await run.WaitAsync(Patience)).Served);
    }

    [Fact]
    public async Task Run_ReleasedWhileScheduled_EndsWithoutStartingAnything()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest() with { Kinds = [ShadowRequestKind.Manual] });
        harness.Now = harness.Request.WindowStart.AddDays(-3);
        var run = harness.StartAsync();
        await WaitUntil(() => harness.WindowTimers.Count == 1);

        harness.Raise(ShadowLifecycleNames.Release, "oncall");
        var outcome = await run.WaitAsync(Patience);

        Assert.Equal((false, "released: oncall"), (outcome.Served, outcome.Reason));
        Assert.Equal("Retired", harness.Statuses[^1].Phase); // released, not failed
        Assert.Equal([nameof(ReadLifecycleOptionsActivity)], harness.Names());
    }

    [Fact]
    public async Task Run_APaeRequestDaysAhead_IsPreparedAtOnce()
    {
        // The PAE asks its lead time (and its next decision) ahead, which may be longer than PrepareAhead.
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest() with { Kinds = [ShadowRequestKind.Demand, ShadowRequestKind.Manual] });
        harness.Now = harness.Request.WindowStart.AddDays(-3);
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);

        Assert.Equal(nameof(ProvisionShadowActivity), harness.Names()[1]);
        harness.EndWindow();
        Assert.True((await run.WaitAsync(Patience)).Served);
    }

    [Fact]
    public async Task Run_RecordedBeforeTheScheduledWait_ReplaysAsRecorded_PreparingAtOnce()
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest() with { Kinds = [ShadowRequestKind.Manual] }) { LifecycleVersion = 2 };
        harness.Now = harness.Request.WindowStart.AddDays(-3);
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);

        Assert.Equal(nameof(ProvisionShadowActivity), harness.Names()[1]);
        harness.EndWindow();
        Assert.True((await run.WaitAsync(Patience)).Served);
    }

    private static Task WaitUntil(Func<bool> condition, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(condition))] string what = "") =>
        Eventually.WaitUntilAsync(condition, what, Patience, TestContext.Current.CancellationToken);

    /// <summary>
    /// Two shadows held; the first failed its revalidation and its re-warm-up is held at the returned gate (its restart
    /// done), the second still held.
    /// </summary>
    private static async Task<(WorkflowHarness Harness, Task<ShadowOutcome> Run, WorkflowHarness.Gate Rewarm)> FirstOfTwoRemediatingAsync(int lifecycleVersion = ShadowLifecycleOptions.CurrentLifecycleVersion)
    {
        var harness = new WorkflowHarness(WorkflowHarness.NewRequest(count: 2)) { LifecycleVersion = lifecycleVersion };
        var run = harness.StartAsync();
        await harness.Holding.WaitAsync(Patience);
        var rewarm = harness.Hold(nameof(CollectWarmupStatsActivity), "s20261202t1200-1");
        RaiseFail(harness, "s20261202t1200-1");
        await WaitUntil(() => rewarm.Reached);
        return (harness, run, rewarm);
    }

    private static void RaiseFail(WorkflowHarness harness, string shadowId) =>
        harness.Raise(ShadowLifecycleNames.Verdict, new VerdictEvent(shadowId, WorkflowHarness.Check(Verdict.Fail) with { JudgedAt = harness.Now }));

    /// <summary>Each warm-up reaches its samples two minutes after it starts, so warm-ups start at different times.</summary>
    private static void WarmupTakesTwoMinutes(WorkflowHarness harness) => harness.On(nameof(CollectWarmupStatsActivity), _ =>
    {
        harness.Now += TimeSpan.FromMinutes(2);
        return new WarmupStats(harness.Options.WarmupSamples, 0);
    });
}
