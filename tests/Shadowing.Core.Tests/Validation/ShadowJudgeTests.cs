using Shadowing.Core.Metrics;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Randomness;
using Shadowing.Core.Validation;

namespace Shadowing.Core.Tests.Validation;

public sealed class ShadowJudgeTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Latency_ThreeTimesProduction_FailsNamingLatency()
    {
        var verdict = Judge(Outcomes(500, productionMs: 50, shadowFactor: 3));

        Assert.Equal(Verdict.Fail, verdict.Verdict);
        var latency = Assert.Single(verdict.Metrics, m => m.Metric == "latency");
        Assert.Equal(Verdict.Fail, latency.Verdict);
        Assert.StartsWith("latency: slower than production", verdict.Reasons[0], StringComparison.Ordinal);
        Assert.InRange(latency.EffectSize!.Value, 1.8, 2.2);
        Assert.True(latency.PValue < 1e-10);
    }

    [Fact]
    public void Latency_OnePercentSlowerOver100000Samples_PassesOnEffectSize()
    {
        // 1 % of a 1-second median is 10 ms, past the 5 ms absolute bound: only the relative bound keeps it a Pass.
        var verdict = Judge(Outcomes(100_000, productionMs: 1000, shadowFactor: 1.01));
        var latency = Assert.Single(verdict.Metrics, m => m.Metric == "latency");

        // A test for any difference would call this significant with so many samples; against the 10 % bound it is far inside.
        Assert.True(latency.PValue > 0.5, $"p = {latency.PValue}");
        Assert.InRange(latency.EffectSize!.Value, 0.0, 0.03);
        Assert.Equal(Verdict.Pass, latency.Verdict);
        Assert.Equal(Verdict.Pass, verdict.Verdict);
    }

    [Fact]
    public void Latency_FewMillisecondsOnAFastService_PassesOnTheAbsoluteBound()
    {
        // +15 % of a 20 ms median is 3 ms: significant, past the relative bound, inside the 5 ms absolute one.
        var verdict = Judge(Outcomes(2000, productionMs: 20, shadowFactor: 1.15));
        var latency = Assert.Single(verdict.Metrics, m => m.Metric == "latency");

        Assert.True(latency.EffectSize > 0.1, latency.Reason);
        Assert.Equal(Verdict.Pass, latency.Verdict);
    }

    [Fact]
    public void Latency_JustInsideTheBound_Passes_ThoughSomeSampleMediansLandBeyondIt()
    {
        // A median 9 % slower, 10 % allowed, 2,000 requests a window: the difference is always significant, and the sample
        // medians scatter around the bound. Testing for any difference and comparing the medians with the bound failed
        // those that landed beyond it (some of these windows, asserted below); tested against the bound, none fails.
        var windows = Enumerable.Range(2000, 20).Select(n => Judge(Outcomes(n, productionMs: 100, shadowFactor: 1.09)).Metrics.Single(m => m.Metric == "latency")).ToList();

        Assert.Contains(windows, w => w.EffectSize > 0.1);
        Assert.All(windows, w => Assert.Equal(Verdict.Pass, w.Verdict));
    }

    [Fact]
    public void Latency_OneAnswerInTenFarSlower_FailsInTheSlowestTenth_ThoughTheMedianBarelyMoves()
    {
        // Nine answers in ten as fast as production's, one in ten five times slower: the median moves a few percent, the
        // 90th percentile is far beyond the bounds.
        var outcomes = Outcomes(1000, productionMs: 100, shadowFactor: 1).Select((o, i) => i % 10 == 0 ? o with { Copy = o.Copy with { LatencyMs = o.Copy.LatencyMs * 5 } } : o).ToList();

        var latency = Judge(outcomes).Metrics.Single(m => m.Metric == "latency");

        Assert.InRange(latency.EffectSize!.Value, -0.05, 0.1);
        Assert.Equal(Verdict.Fail, latency.Verdict);
        Assert.Contains("in its slowest tenth", latency.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void TenSamples_Inconclusive_NeverPass()
    {
        var verdict = Judge(Outcomes(10, productionMs: 50, shadowFactor: 1));

        Assert.Equal(Verdict.Inconclusive, verdict.Verdict);
        Assert.All(verdict.Metrics.Where(m => m.Metric != "throughput"), m => Assert.Equal(Verdict.Inconclusive, m.Verdict));
        Assert.Contains(verdict.Reasons, r => r.Contains("10 shadow and 10 production samples, 50 each needed", StringComparison.Ordinal));
    }

    [Fact]
    public void Mismatch_FieldThatDiffersBetweenTwoProductionAnswers_IsNoise_OneOnlyOnTheShadowIsNot()
    {
        var noise = Enumerable.Range(0, 20).Select(i => Outcome(i, 50, 50) with { Kind = OutcomeKind.ProductionNoise, Copy = new EndpointAnswer("p2", 200, 50, 10), DifferingPaths = [$"$.items[{i % 3}].servedBy", "$.timestamp"] });
        var noisyOnly = Enumerable.Range(0, 200).Select(i => Outcome(i, 50, 50) with { DifferingPaths = ["$.timestamp", $"$.items[{i % 5}].servedBy"] });
        var shadowOnly = Enumerable.Range(0, 200).Select(i => Outcome(i, 50, 50) with { DifferingPaths = i % 4 == 0 ? ["$.timestamp", "$.price"] : ["$.timestamp"] });

        var clean = Judge([.. noise, .. noisyOnly]);
        var dirty = Judge([.. noise, .. shadowOnly]);

        Assert.Equal(Verdict.Pass, Assert.Single(clean.Metrics, m => m.Metric == "mismatch").Verdict);
        var mismatch = Assert.Single(dirty.Metrics, m => m.Metric == "mismatch");
        Assert.Equal(Verdict.Fail, mismatch.Verdict);
        Assert.Equal(0.25, mismatch.EffectSize);
        Assert.Contains("$.price (50)", mismatch.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("timestamp (", mismatch.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Mismatch_NoiseIsKeptPerRoute_AFieldRandomOnOneRouteDoesNotCancelItOnAnother()
    {
        // GET /recommendations answers a new id each time; GET /orders/{id} answers the same id from both production
        // endpoints, over minSamples (50) pairs of its own.
        var random = Enumerable.Range(0, 20).Select(i => Outcome(i, 50, 50) with { Kind = OutcomeKind.ProductionNoise, Path = "/recommendations", Copy = new EndpointAnswer("p2", 200, 50, 10), DifferingPaths = ["$.id", "$.at"] });
        var orders = Enumerable.Range(20, 60).Select(i => Outcome(i, 50, 50) with { Kind = OutcomeKind.ProductionNoise, Path = $"/orders/{i}", Copy = new EndpointAnswer("p2", 200, 50, 10), DifferingPaths = ["$.at"] });
        var wrongIds = Enumerable.Range(100, 200).Select(i => Outcome(i, 50, 50) with { Path = $"/orders/{i}", DifferingPaths = i % 4 == 0 ? ["$.at", "$.id"] : ["$.at"] });

        var mismatch = Judge([.. random, .. orders, .. wrongIds]).Metrics.Single(m => m.Metric == "mismatch");

        Assert.Equal(Verdict.Fail, mismatch.Verdict);
        Assert.Equal(0.25, mismatch.EffectSize);
        Assert.Contains("$.id (50)", mismatch.Reason, StringComparison.Ordinal);
        Assert.Contains("1 route(s) judged on their own", mismatch.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Mismatch_ARouteWithFewProductionPairsOfItsOwn_IsJudgedOnTheServicesNoise()
    {
        // Its ten pairs happened to agree on a timestamp that differs now and then; the service's other pairs show it differ.
        var items = Enumerable.Range(0, 60).Select(i => Outcome(i, 50, 50) with { Kind = OutcomeKind.ProductionNoise, Path = "/items", Copy = new EndpointAnswer("p2", 200, 50, 10), DifferingPaths = ["$.at"] });
        var users = Enumerable.Range(60, 10).Select(i => Outcome(i, 50, 50) with { Kind = OutcomeKind.ProductionNoise, Path = $"/users/{i}", Copy = new EndpointAnswer("p2", 200, 50, 10), DifferingPaths = [] });
        var shadow = Enumerable.Range(100, 200).Select(i => Outcome(i, 50, 50) with { Path = $"/users/{new Guid(i, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)}", DifferingPaths = i % 3 == 0 ? ["$.at"] : [] });

        var mismatch = Judge([.. items, .. users, .. shadow]).Metrics.Single(m => m.Metric == "mismatch");

        Assert.Equal(Verdict.Pass, mismatch.Verdict);
    }

    [Theory]
    [InlineData("/orders/17", "GET /orders/{id}")]
    [InlineData("/v1/users/3f2504e0-4f89-11d3-9a0c-0305e82c3301/cart", "GET /v1/users/{id}/cart")]
    [InlineData("/files/a1b2c3d4e5", "GET /files/{id}")]
    [InlineData("/api2/items/", "GET /api2/items/")]
    [InlineData("", "GET ")]
    public void RouteOf_ReadsIdSegmentsAsOneRoute(string path, string route) =>
        Assert.Equal(route, ShadowJudge.RouteOf(Outcome(0, 1, 1) with { Path = path }));

    [Fact]
    public void Mismatch_AListCutShort_CountsAsDiffering_UnlessProductionsOwnListsAreCutShortToo()
    {
        // 64 listed shapes that are all production noise, then more that were not listed: what differs there is unknown.
        var listed = Enumerable.Range(0, JsonDiff.MaxPaths).Select(i => $"$.f{i}").ToArray();
        var noise = Enumerable.Range(0, 20).Select(i => Outcome(i, 50, 50) with { Kind = OutcomeKind.ProductionNoise, Copy = new EndpointAnswer("p2", 200, 50, 10), DifferingPaths = listed });
        var cutShort = Enumerable.Range(0, 200).Select(i => Outcome(i, 50, 50) with { DifferingPaths = [.. listed, JsonDiff.More] });
        var noiseCutShort = noise.Select(o => o with { DifferingPaths = [.. listed, JsonDiff.More] });

        Assert.Equal(Verdict.Fail, Judge([.. noise, .. cutShort]).Metrics.Single(m => m.Metric == "mismatch").Verdict);
        Assert.Equal(Verdict.Pass, Judge([.. noiseCutShort, .. cutShort]).Metrics.Single(m => m.Metric == "mismatch").Verdict);
    }

    [Fact]
    public void Mismatch_ALongArrayOfNoise_DoesNotHideTheShadowsOwnDifference()
    {
        // Production's two endpoints stamp every item differently; the shadow also drops an item from one answer in five.
        string Doc(int items, int stamp) => "{\"items\":[" + string.Join(',', Enumerable.Range(0, items).Select(i => $"{{\"id\":{i},\"fetchedAt\":{stamp + i}}}")) + $"],\"total\":{items}}}";
        IReadOnlyList<string> Diff(string a, string b) => JsonDiff.Compare(System.Text.Encoding.UTF8.GetBytes(a), System.Text.Encoding.UTF8.GetBytes(b), [])!;
        var noise = Enumerable.Range(0, 20).Select(i => Outcome(i, 50, 50) with { Kind = OutcomeKind.ProductionNoise, Copy = new EndpointAnswer("p2", 200, 50, 10), DifferingPaths = Diff(Doc(70, 0), Doc(70, 5000)) });
        var shadow = Enumerable.Range(0, 200).Select(i => Outcome(i, 50, 50) with { DifferingPaths = Diff(Doc(70, 0), Doc(i % 5 == 0 ? 69 : 70, 9000)) });

        var mismatch = Judge([.. noise, .. shadow]).Metrics.Single(m => m.Metric == "mismatch");

        Assert.Equal(Verdict.Fail, mismatch.Verdict);
        Assert.Equal(0.2, mismatch.EffectSize!.Value, 6);
    }

    [Fact]
    public void Mismatch_IsOneSidedAtTheConfidence()
    {
        // 5 of 200 requests differ: the one-sided 98 % Wilson lower bound is 1.03 %, above the 1 % bound (the two-sided
        // one, 0.93 %, left a shadow that gets one answer in forty wrong Inconclusive, and so in routing).
        var outcomes = Enumerable.Range(0, 200).Select(i => Outcome(i, 50, 50) with { DifferingPaths = i % 40 == 0 ? ["$.price"] : [] }).ToList();

        var mismatch = Judge(outcomes).Metrics.Single(m => m.Metric == "mismatch");

        Assert.Equal(Verdict.Fail, mismatch.Verdict);
    }

    [Fact]
    public void Mismatch_IgnoredFieldAndDifferentStatus()
    {
        var ignored = Enumerable.Range(0, 100).Select(i => Outcome(i, 50, 50) with { DifferingPaths = ["$.requestId"] }).ToList();
        var status = Enumerable.Range(0, 100).Select(i => Outcome(i, 50, 50) with { Copy = new EndpointAnswer("s1", i % 2 == 0 ? 404 : 200, 50, 10) }).ToList();

        Assert.Equal(Verdict.Pass, Judge(ignored, ignore: ["requestId"]).Metrics.Single(m => m.Metric == "mismatch").Verdict);
        Assert.Equal(Verdict.Fail, Judge(ignored).Metrics.Single(m => m.Metric == "mismatch").Verdict);
        Assert.Contains("status 200→404", Judge(status).Metrics.Single(m => m.Metric == "mismatch").Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Mismatch_ServerErrorsOnEitherSide_AreErrorRatesToJudge_NotDifferences()
    {
        // Production and an identical shadow each failing 2 % of requests at random, never the same ones: counted as
        // differing answers, 4 % of pairs would fail the 1 % bound; errorRate judges them against production's own.
        var outcomes = Enumerable.Range(0, 1000).Select(i => (i % 50) switch
        {
            0 => Outcome(i, 50, 50) with { Production = new EndpointAnswer("p1", 503, 50, 10), Compared = false },
            1 => Outcome(i, 50, 50) with { Copy = new EndpointAnswer("s1", 500, 50, 10), Compared = false },
            _ => Outcome(i, 50, 50),
        }).ToList();
        var notFound = outcomes.Select((o, n) => n % 50 == 2 ? o with { Copy = o.Copy with { Status = 404 } } : o).ToList();

        var judged = Judge(outcomes).Metrics.Single(m => m.Metric == "mismatch");

        Assert.Equal((Verdict.Pass, 960), (judged.Verdict, judged.ShadowSamples));
        Assert.Equal(Verdict.Pass, Judge(outcomes).Metrics.Single(m => m.Metric == "errorRate").Verdict);
        Assert.Contains("status 200→404", Judge(notFound).Metrics.Single(m => m.Metric == "mismatch").Reason, StringComparison.Ordinal); // a client error still differs
    }

    [Fact]
    public void Mismatch_AnswersTooLargeToCompare_AreStillJudgedOnTheirStatus()
    {
        // Past maxBodyBytes nothing is compared, but a 404 for production's 200 is still a different answer.
        var uncompared = Enumerable.Range(0, 100).Select(i => Outcome(i, 50, 50) with { Compared = false }).ToList();
        var wrongStatus = uncompared.Select((o, i) => i % 2 == 0 ? o with { Copy = o.Copy with { Status = 404 } } : o).ToList();

        var same = Judge(uncompared).Metrics.Single(m => m.Metric == "mismatch");
        var different = Judge(wrongStatus).Metrics.Single(m => m.Metric == "mismatch");

        Assert.Equal((Verdict.Pass, 100), (same.Verdict, same.ShadowSamples));
        Assert.Equal(Verdict.Fail, different.Verdict);
        Assert.Contains("status 200→404 (50)", different.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Mismatch_NoiseNeverCancelsAWholeBody_NorComesFromPairsThatDisagreeOnStatus()
    {
        var wholeBodyNoise = Outcome(0, 50, 50) with { Kind = OutcomeKind.ProductionNoise, Copy = new EndpointAnswer("p2", 200, 50, 10), DifferingPaths = ["$"] };
        var errorPageNoise = Outcome(1, 50, 50) with { Kind = OutcomeKind.ProductionNoise, Copy = new EndpointAnswer("p2", 500, 50, 10), DifferingPaths = ["$.price"] };
        var garbage = Enumerable.Range(0, 100).Select(i => Outcome(i, 50, 50) with { DifferingPaths = ["$"] });
        var wrongPrices = Enumerable.Range(0, 100).Select(i => Outcome(i, 50, 50) with { DifferingPaths = i % 4 == 0 ? ["$.price"] : [] });

        Assert.Equal(Verdict.Fail, Judge([wholeBodyNoise, .. garbage]).Metrics.Single(m => m.Metric == "mismatch").Verdict);
        Assert.Equal(Verdict.Fail, Judge([errorPageNoise, .. wrongPrices]).Metrics.Single(m => m.Metric == "mismatch").Verdict);
    }

    [Fact]
    public void AmplifiedReplays_ErrorsCountEachReplay_LatencyOnceARequest_ProductionsAnswerCountsOnce()
    {
        // 60 requests, each replayed three times to a shadow three times slower, one replay in ten failing.
        var originals = Outcomes(60, productionMs: 50, shadowFactor: 3);
        var replays = originals.SelectMany(o => new[] { o, o with { RequestId = o.RequestId + "#1" }, o with { RequestId = o.RequestId + "#2" } })
            .Select((o, i) => i % 10 == 0 ? o with { Copy = o.Copy with { Status = 503 } } : o).ToList();

        var verdict = Judge(replays);

        var latency = verdict.Metrics.Single(m => m.Metric == "latency");
        var errors = verdict.Metrics.Single(m => m.Metric == "errorRate");
        Assert.Equal((60, 60), (latency.ShadowSamples, latency.BaselineSamples));
        Assert.Equal((180, 60), (errors.ShadowSamples, errors.BaselineSamples));
        Assert.Equal((Verdict.Fail, Verdict.Fail), (latency.Verdict, errors.Verdict));
        Assert.Equal(18 / 180.0, errors.EffectSize!.Value, 6);
        Assert.Equal("r7", (originals[7] with { RequestId = "r7#2" }).OriginalRequestId);
    }

    [Fact]
    public void AmplifiedReplays_LatencyOnEachRequestsFirstMeasuredCopy_NotOnReplaysAWarmCacheSpedUp()
    {
        // A shadow three times slower on each request's first copy, its replays (served from a cache the first filled) ten
        // times faster than production; the first copy of every fifth request refused, measured by its first replay.
        var originals = Outcomes(60, productionMs: 50, shadowFactor: 3);
        var outcomes = originals.SelectMany((o, i) => new[]
        {
            i % 5 == 0 ? o with { Copy = o.Copy with { Status = 0, LatencyMs = 1, Error = "connection refused" } } : o,
            o with { RequestId = o.RequestId + "#2", Copy = o.Copy with { LatencyMs = 5 } },
            o with { RequestId = o.RequestId + "#1", Copy = o.Copy with { LatencyMs = i % 5 == 0 ? o.Copy.LatencyMs : 5 } },
        }).ToList();

        var latency = Judge(outcomes).Metrics.Single(m => m.Metric == "latency");

        Assert.Equal((60, 60, Verdict.Fail), (latency.ShadowSamples, latency.BaselineSamples, latency.Verdict));
        Assert.True(latency.EffectSize > 1.5, latency.Reason); // about +200 %: the first copies', not the replays'
    }

    [Fact]
    public void Mismatch_ARequestReplayedManyTimes_IsOneRequestsEvidence()
    {
        // 60 requests replayed ten times each; two of them differ in every replay. Counted per answer, 20 of 600 has a
        // Wilson lower bound above 1 % and failed the shadow; per request it is 2 of 60, not significantly above.
        var replays = Enumerable.Range(0, 60).SelectMany(r => Enumerable.Range(0, 10).Select(k => Outcome(r, 50, 50) with
        {
            RequestId = k == 0 ? $"r{r}" : $"r{r}#{k}",
            DifferingPaths = r < 2 ? ["$.price"] : [],
        })).ToList();

        var mismatch = Judge(replays).Metrics.Single(m => m.Metric == "mismatch");

        Assert.Equal(Verdict.Inconclusive, mismatch.Verdict);
        Assert.Contains("2/60 requests", mismatch.Reason, StringComparison.Ordinal);
        Assert.Equal(2 / 60.0, mismatch.EffectSize!.Value, 6);
    }

    [Fact]
    public void Mismatch_AnAmplifiedShadowsOccasionalDifference_IsWeighedByItsShareOfEachRequestsReplays()
    {
        // 60 requests replayed ten times; five answers differ, each in another request. "Any replay differs" would make
        // that 5 of 60 requests and fail the shadow; each request counts a tenth: 0.5 of 60, within the 1 %.
        var replays = Enumerable.Range(0, 60).SelectMany(r => Enumerable.Range(0, 10).Select(k => Outcome(r, 50, 50) with
        {
            RequestId = k == 0 ? $"r{r}" : $"r{r}#{k}",
            DifferingPaths = r < 5 && k == 3 ? ["$.price"] : [],
        })).ToList();

        var mismatch = Judge(replays).Metrics.Single(m => m.Metric == "mismatch");

        Assert.Equal(Verdict.Pass, mismatch.Verdict);
        Assert.Equal(0.5 / 60, mismatch.EffectSize!.Value, 6);
    }

    [Fact]
    public void Mismatch_ManyReplaysOfAFewRequests_AreNotEnoughToJudge()
    {
        // Five requests replayed ten times each: fifty answers, but five requests' worth of evidence.
        var replays = Enumerable.Range(0, 5).SelectMany(r => Enumerable.Range(0, 10).Select(k => Outcome(r, 50, 50) with
        {
            RequestId = k == 0 ? $"r{r}" : $"r{r}#{k}",
            DifferingPaths = r == 0 ? ["$.price"] : [],
        })).ToList();

        var mismatch = Judge(replays).Metrics.Single(m => m.Metric == "mismatch");

        Assert.Equal(Verdict.Inconclusive, mismatch.Verdict);
        Assert.Contains("50 compared answers to 5 requests", mismatch.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ErrorRate_ShadowFailingOneInTen_Fails()
    {
        var outcomes = Outcomes(400, productionMs: 50, shadowFactor: 1).Select((o, i) => i % 10 == 0 ? o with { Copy = o.Copy with { Status = 503 } } : o).ToList();

        var verdict = Judge(outcomes);

        Assert.Equal(Verdict.Fail, verdict.Verdict);
        Assert.Equal(Verdict.Fail, verdict.Metrics.Single(m => m.Metric == "errorRate").Verdict);
    }

    [Fact]
    public void Latency_RequestsProductionCouldNotAnswer_AreLeftOutOnBothSides()
    {
        // Production refused three requests in ten, which the shadow answered slowly: they were left out of production's
        // side only, and held against the shadow alone.
        var outcomes = Outcomes(200, productionMs: 100, shadowFactor: 1)
            .Select((o, i) => i % 10 < 3 ? o with { Production = o.Production with { Status = 0, LatencyMs = 0.5 }, Copy = o.Copy with { LatencyMs = 1000 } } : o).ToList();

        var latency = Judge(outcomes).Metrics.Single(m => m.Metric == "latency");

        Assert.Equal((140, 140), (latency.ShadowSamples, latency.BaselineSamples));
        Assert.Equal(Verdict.Pass, latency.Verdict);
    }

    [Fact]
    public void Latency_ProductionTimingsTiedAtItsP90_AFewSlowShadowAnswersDoNotFailTheTail()
    {
        // A fast service whose timings are all alike: none of production's answers lies beyond its own p90, and counted so,
        // six shadow answers in a thousand past the bounds failed the tail look, though the shadow's p90 is within them.
        var outcomes = Enumerable.Range(0, 1000).Select(i => Outcome(i, 2.0, i < 6 ? 8.0 : 2.0)).ToList();

        var latency = Judge(outcomes).Metrics.Single(m => m.Metric == "latency");

        Assert.Equal(Verdict.Pass, latency.Verdict);
    }

    [Fact]
    public void Verdicts_WithBoundsThatNothingCanExceed_OrAProductionMedianOfZero_StillSerialize()
    {
        // JSON has no infinity: a verdict carrying one could not be stored, and every judgement of the service failed.
        var settings = new ValidationSettings { ErrorRate = new ErrorRateCheck { MaxIncrease = 1 } };
        var never = ShadowJudge.Judge("orders", "s1", Outcomes(200, 50, 1), [], settings, [], Start, Start.AddHours(1), Start.AddHours(1));
        var instant = Judge(Enumerable.Range(0, 100).Select(i => Outcome(i, 0, 1)).ToList());

        Assert.Equal(Verdict.Pass, never.Metrics.Single(m => m.Metric == "errorRate").Verdict);
        Assert.Null(instant.Metrics.Single(m => m.Metric == "latency").EffectSize);
        foreach (var verdict in new[] { never, instant })
        {
            Assert.NotEmpty(System.Text.Json.JsonSerializer.Serialize(verdict, Shadowing.Core.Serialization.ShadowingJson.Options));
        }
    }

    [Fact]
    public void ErrorRate_JustBeyondTheBoundButNotSignificantlySo_Passes()
    {
        // Production fails 20 of 2,000, the shadow 42: 1.1 points more, 1 allowed. Significantly different (pooled z test
        // p = 0.0024), which with the point estimate beyond the bound used to fail it; not significantly beyond the bound.
        var outcomes = Outcomes(2000, productionMs: 50, shadowFactor: 1)
            .Select((o, i) => o with { Production = o.Production with { Status = i < 20 ? 503 : 200 }, Copy = o.Copy with { Status = i >= 1000 && i < 1042 ? 503 : 200 } }).ToList();

        var errorRate = Judge(outcomes).Metrics.Single(m => m.Metric == "errorRate");

        Assert.InRange(errorRate.EffectSize!.Value, 0.0105, 0.0115);
        Assert.Equal(Verdict.Pass, errorRate.Verdict);
        Assert.True(errorRate.PValue > 0.2, errorRate.Reason);
    }

    [Fact]
    public void ErrorRate_IsJudgedPerRequest_ManyGoodReplaysOfReadsDoNotDiluteWritesThatAllFailed()
    {
        // 80 GETs replayed ten times answer well; the 20 POSTs, sent once each (writes are never amplified), all time
        // out. Per answer that is 20 of 820 (2.4 %, not significant against 0 of 100); per request 20 of 100.
        var reads = Enumerable.Range(0, 80).SelectMany(r => Enumerable.Range(0, 10).Select(k => Outcome(r, 50, 50) with { RequestId = k == 0 ? $"r{r}" : $"r{r}#{k}" }));
        var writes = Enumerable.Range(80, 20).Select(r => Outcome(r, 50, 50) with
        {
            Method = "POST",
            Copy = new EndpointAnswer("s1", 0, 10_000, 0, null, "no answer within 00:00:10", TimedOut: true),
            Compared = false,
        });

        var errors = Judge([.. reads, .. writes]).Metrics.Single(m => m.Metric == "errorRate");

        Assert.Equal(Verdict.Fail, errors.Verdict);
        Assert.Equal(0.2, errors.EffectSize!.Value, 6);
        Assert.Contains("shadow 20/100 (20%; 20/820 answers)", errors.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Throughput_NonCritical_ByDefault_ButReported()
    {
        var minutes = new[] { Minute(0, copies: 100, errors: 40), Minute(1, copies: 100, errors: 0) };

        var verdict = ShadowJudge.Judge("orders", "s1", Outcomes(200, 50, 1), minutes, new ValidationSettings(), [], Start, Start.AddMinutes(2), Start.AddMinutes(2));
        var critical = ShadowJudge.Judge("orders", "s1", Outcomes(200, 50, 1), minutes, new ValidationSettings { Throughput = new ThroughputCheck { Critical = true } }, [], Start, Start.AddMinutes(2), Start.AddMinutes(2));

        Assert.Equal(Verdict.Fail, verdict.Metrics.Single(m => m.Metric == "throughput").Verdict);
        Assert.Equal(Verdict.Fail, verdict.Verdict); // PassScore 1: a failed metric of any weight fails the score
        Assert.Equal(Verdict.Fail, critical.Verdict);
        Assert.Equal(Verdict.Pass, ShadowJudge.Judge("orders", "s1", Outcomes(200, 50, 1), minutes, new ValidationSettings { PassScore = 0.7 }, [], Start, Start, Start).Verdict);
    }

    [Fact]
    public void Latency_CopiesThatTimedOut_CountAsTheSlowest_ButRefusedConnectionsDoNot()
    {
        // 30 of 100 copies got no answer within the 10 s timeout; the other 70 answered as fast as production.
        var timedOut = Outcomes(100, productionMs: 100, shadowFactor: 1)
            .Select((o, i) => i % 10 < 3 ? o with { Copy = new EndpointAnswer("s1", 0, 10_000, 0, null, "no answer within 00:00:10", TimedOut: true) } : o).ToList();
        var refused = timedOut.Select(o => o.Copy.TimedOut ? o with { Copy = new EndpointAnswer("s1", 0, 0.4, 0, null, "Connection refused") } : o).ToList();

        var slow = Judge(timedOut).Metrics.Single(m => m.Metric == "latency");
        var unknown = Judge(refused).Metrics.Single(m => m.Metric == "latency");

        Assert.Equal((Verdict.Fail, 100), (slow.Verdict, slow.ShadowSamples));
        Assert.Equal((Verdict.Pass, 70), (unknown.Verdict, unknown.ShadowSamples));
    }

    [Fact]
    public void Throughput_AnIdenticalShadowsOrdinaryLuck_Passes()
    {
        // Production and shadow both fail 1 % of requests: at 30 copies a minute, one minute in ten meets two errors.
        var minutes = Enumerable.Range(0, 10).Select(i => Minute(i, copies: 30, errors: i == 4 ? 2 : 0)).ToArray();

        var verdict = ShadowJudge.Judge("orders", "s1", Outcomes(200, 50, 1), minutes, new ValidationSettings(), [], Start, Start.AddMinutes(10), Start.AddMinutes(10));

        var throughput = verdict.Metrics.Single(m => m.Metric == "throughput");
        Assert.Equal(Verdict.Pass, throughput.Verdict);
        Assert.Equal(28 / 30.0, throughput.EffectSize!.Value, 6);
        Assert.Equal(Verdict.Pass, verdict.Verdict);
    }

    [Fact]
    public void Throughput_FewerCopiesThanMinSamples_Inconclusive_NeverPass()
    {
        var verdict = ShadowJudge.Judge("orders", "s1", Outcomes(200, 50, 1), [Minute(0, copies: 30, errors: 0)], new ValidationSettings(), [], Start, Start.AddMinutes(1), Start.AddMinutes(1));

        var throughput = verdict.Metrics.Single(m => m.Metric == "throughput");
        Assert.Equal(Verdict.Inconclusive, throughput.Verdict);
        Assert.Contains("30 copies in busy minutes, 50 needed", throughput.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Throughput_OneMinuteClearlyShort_OrEveryMinuteSlightlyShort_Fails()
    {
        var oneShort = Enumerable.Range(0, 10).Select(i => Minute(i, copies: 30, errors: i == 4 ? 6 : 0)).ToArray(); // 80 %
        var allSlightly = Enumerable.Range(0, 10).Select(i => Minute(i, copies: 100, errors: 8)).ToArray(); // 92 % throughout

        foreach (var minutes in new[] { oneShort, allSlightly })
        {
            var verdict = ShadowJudge.Judge("orders", "s1", Outcomes(200, 50, 1), minutes, new ValidationSettings(), [], Start, Start.AddMinutes(10), Start.AddMinutes(10));
            Assert.Equal(Verdict.Fail, verdict.Metrics.Single(m => m.Metric == "throughput").Verdict);
        }
    }

    [Fact]
    public void Settings_BadFields_NamedInValidation()
    {
        var settings = new ValidationSettings { Confidence = 1.2, MinSamples = 1, Latency = new LatencyCheck { MaxRelativeShift = -1 }, Mismatch = new MismatchCheck { MaxRate = 2 } };

        Assert.Equal(["validation.confidence", "validation.minSamples", "validation.latency.maxRelativeShift", "validation.mismatch.maxRate"], settings.Validate().Select(e => e.Field));
    }

    [Fact]
    public void Settings_NoMetricEnabled_OrNoneWeighed_NamedInValidation()
    {
        var none = new ValidationSettings { Latency = new LatencyCheck { Enabled = false }, ErrorRate = new ErrorRateCheck { Enabled = false }, Mismatch = new MismatchCheck { Enabled = false }, Throughput = new ThroughputCheck { Enabled = false } };
        var unweighed = new ValidationSettings { Latency = new LatencyCheck { Weight = 0 }, ErrorRate = new ErrorRateCheck { Weight = 0 }, Mismatch = new MismatchCheck { Weight = 0 }, Throughput = new ThroughputCheck { Enabled = false } };

        Assert.Equal("enables no metric: a shadow could never be judged", Assert.Single(none.ValidateNew()).Message);
        Assert.Equal("gives every enabled metric weight 0: the score would have nothing to weigh", Assert.Single(unweighed.ValidateNew()).Message);
        Assert.Empty(none.Validate()); // a stored table with them still loads: its verdicts are Inconclusive
    }

    [Fact]
    public void Score_OnlyMetricsOfNoWeightDecided_Inconclusive_NotAFailOfAShadowThatFailedNothing()
    {
        // Latency and errors weigh nothing here; throughput, which weighs (and is not critical), has no busy minute to decide on.
        var settings = new ValidationSettings { Latency = new LatencyCheck { Weight = 0 }, ErrorRate = new ErrorRateCheck { Weight = 0 }, Mismatch = new MismatchCheck { Enabled = false } };
        Assert.Empty(settings.Validate());
        Assert.Empty(settings.ValidateNew());

        var verdict = ShadowJudge.Judge("orders", "s1", Outcomes(200, productionMs: 50, shadowFactor: 1), [], settings, [], Start, Start.AddHours(1), Start.AddHours(1));

        Assert.Equal(Verdict.Pass, verdict.Metrics.Single(m => m.Metric == "latency").Verdict);
        Assert.Equal(Verdict.Inconclusive, verdict.Metrics.Single(m => m.Metric == "throughput").Verdict);
        Assert.Equal(Verdict.Inconclusive, verdict.Verdict);
    }

    [Fact]
    public void Latency_AShadowThatRefusesItsHeavyRequests_IsTimedAgainstProductionOnTheSameRequests()
    {
        // 60 light requests (production 10 ms, the shadow 20 ms: twice as slow) and 60 heavy ones (production 100 ms)
        // the shadow refuses. Against production's whole mix (median 55 ms) it looked faster than production.
        var light = Enumerable.Range(0, 60).Select(i => Outcome(i, 10 + (i % 5), 20 + (i % 5)));
        var heavy = Enumerable.Range(60, 60).Select(i => Outcome(i, 100 + (i % 5), 0) with { Copy = new EndpointAnswer("s1", 0, 0, 0, null, "Connection refused") });

        var latency = Judge([.. light, .. heavy]).Metrics.Single(m => m.Metric == "latency");

        Assert.Equal((Verdict.Fail, 60L, 60L), (latency.Verdict, latency.ShadowSamples, latency.BaselineSamples));
    }

    private static ShadowVerdict Judge(IReadOnlyList<MirrorOutcome> outcomes, IReadOnlyList<string>? ignore = null) =>
        ShadowJudge.Judge("orders", "s1", outcomes, [], new ValidationSettings(), ignore ?? [], Start, Start.AddHours(1), Start.AddHours(1));

    /// <summary>Latencies that vary like a real service's (log-normal around the median), the shadow's scaled.</summary>
    private static List<MirrorOutcome> Outcomes(int count, double productionMs, double shadowFactor)
    {
        var random = RandomSource.Seeded(count);
        double Sample(double median)
        {
            var normal = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            return Math.Round(median * Math.Exp(0.25 * normal), 3);
        }

        return [.. Enumerable.Range(0, count).Select(i => Outcome(i, Sample(productionMs), Sample(productionMs * shadowFactor)))];
    }

    private static MirrorOutcome Outcome(int i, double productionMs, double shadowMs) => new()
    {
        RequestId = $"r{i}",
        Service = "orders",
        Method = "GET",
        Path = "/items",
        ReceivedAt = Start.AddSeconds(i % 3600),
        Production = new EndpointAnswer("p1", 200, productionMs, 10, "d"),
        Copy = new EndpointAnswer("s1", 200, shadowMs, 10, "d"),
        Compared = true,
    };

    private static EndpointMinuteRecord Minute(int offset, long copies, long errors) => new()
    {
        Service = "orders",
        EndpointId = "s1",
        Role = Core.Routing.EndpointRole.Shadow,
        Minute = Start.AddMinutes(offset),
        Mirror = new MirrorMinute { Requests = copies, Errors = errors },
    };

    [Theory]
    [InlineData(0.76549, "0.765")]
    [InlineData(1.0, "1")]
    [InlineData(0.0123, "0.0123")]
    [InlineData(0.0496, "0.0496")] // not "0.05" beside a significance level of 0.05
    [InlineData(0.000031, "3.1E-5")]
    public void PValues_ReadAsDecimals_OnlyTinyOnesInScientificNotation(double p, string shown) =>
        Assert.Equal(shown, ShadowJudge.P(p)); // "7.6549E-1" and "1E+0" before
}
