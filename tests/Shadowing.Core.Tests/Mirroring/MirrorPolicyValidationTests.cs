using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.Shadows;
using Shadowing.Core.Tests.Routing;
using Shadowing.Core.Validation;

namespace Shadowing.Core.Tests.Mirroring;

public sealed class MirrorPolicyValidationTests
{
    [Fact]
    public void Validate_GoodPolicy_HasNoErrors()
    {
        var table = Tables.Orders() with
        {
            Shadows = [Tables.Shadow("s1", ShadowState.WarmingUp)],
            Mirror = new MirrorPolicy { Percent = 0.01, Selector = new() { Kind = MirrorSelectorKind.JwtClaim, Name = "sub" }, Targets = ["s1"], Transport = MirrorTransport.PubSub, TimeShift = TimeSpan.FromMinutes(1) },
        };

        Assert.Empty(RoutingTableValidator.Validate(table));
    }

    [Fact]
    public void Deserialize_NullObjectsInAStoredTable_ReadAsTheirDefaults()
    {
        // Written by another tool: a null selector passed validation (checked against the default) and then failed every
        // mirrored production request with a NullReferenceException where the router picks the sample.
        var policy = ShadowingJson.Deserialize<MirrorPolicy>("""{"percent": 10, "selector": null, "targets": null}"""u8)!;
        var settings = ShadowingJson.Deserialize<ValidationSettings>("""{"latency": null, "errorRate": null, "mismatch": null, "throughput": null}"""u8)!;

        Assert.Equal(MirrorSelectorKind.Random, policy.Selector.Kind);
        Assert.Empty(policy.Targets);
        Assert.Equal(new ValidationSettings().Latency, settings.Latency);
        Assert.NotNull(settings.ErrorRate);
        Assert.NotNull(settings.Mismatch);
        Assert.NotNull(settings.Throughput);
    }

    [Fact]
    public void Validate_BadPolicy_NamesEveryField()
    {
        var table = Tables.Orders() with
        {
            Shadows = [Tables.Shadow("s1", ShadowState.WarmingUp)],
            Mirror = new MirrorPolicy
            {
                Percent = 0.001,
                Selector = new() { Kind = MirrorSelectorKind.Cookie },
                Methods = ["GET", "PO ST"],
                IncludePaths = ["api/*"],
                ExcludePaths = [""],
                MaxBodyBytes = -1,
                Targets = ["s1", "nobody"],
                Transport = (MirrorTransport)7,
                Timeout = TimeSpan.Zero,
                SecondaryShare = 1.5,
                TimeShift = TimeSpan.FromMinutes(20),
                Amplify = 0,
                RatePerSecond = -1,
                TargetRatePerSecond = double.NaN,
                TimeToLive = TimeSpan.FromMinutes(10),
            },
        };

        var fields = RoutingTableValidator.Validate(table).Select(e => e.Field).ToArray();

        Assert.Equal(
            ["mirror.percent", "mirror.selector.name", "mirror.methods[1]", "mirror.includePaths[0]", "mirror.excludePaths[0]", "mirror.maxBodyBytes", "mirror.targets[1]", "mirror.transport", "mirror.timeout", "mirror.secondaryShare", "mirror.amplify", "mirror.ratePerSecond", "mirror.targetRatePerSecond", "mirror.timeToLive"],
            fields);
    }

    [Fact]
    public void ValidateNew_NoMethods_ATinyRate_OrAnEnvelopeLivingPastTwoDays_AreErrors_ButAStoredTableStillLoads()
    {
        var table = Tables.Orders() with { Mirror = new MirrorPolicy { Percent = 5, Methods = [], RatePerSecond = 0.001, TimeToLive = TimeSpan.FromDays(3) } };

        Assert.Equal(["mirror.methods", "mirror.ratePerSecond", "mirror.timeToLive"], RoutingTableValidator.ValidateNew(table).Select(e => e.Field));
        Assert.Equal(["mirror.methods[1]", "mirror.methods[2]"], RoutingTableValidator.ValidateNew(table with { Mirror = table.Mirror! with { Methods = ["GET", "trace", "CONNECT"], RatePerSecond = null, TimeToLive = TimeSpan.FromMinutes(5) } }).Select(e => e.Field));
        Assert.Empty(RoutingTableValidator.ValidateNew(table with { Mirror = table.Mirror! with { Methods = ["GET"], RatePerSecond = 0.01, TimeToLive = TimeSpan.FromDays(2) } }));

        // Rules that came after tables were stored: one stored before them keeps routing, and its lifecycle updates work.
        Assert.Empty(RoutingTableValidator.Validate(table));
    }

    [Fact]
    public void Validate_AmplifyAndTargetRateTogether_IsAnError()
    {
        var table = Tables.Orders() with { Mirror = new MirrorPolicy { Percent = 5, Amplify = 2, TargetRatePerSecond = 100 } };

        var error = Assert.Single(RoutingTableValidator.Validate(table));

        Assert.Equal("mirror.targetRatePerSecond", error.Field);
        Assert.Contains("mirror.amplify", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Outcome_WithoutDigestsOrErrors_RoundTripsThroughTheBusSerializer()
    {
        // A copy that got no answer has no digest: it must still reach validation.
        var outcome = new MirrorOutcome
        {
            RequestId = "r1",
            Service = "orders",
            Method = "GET",
            Path = "/x",
            ReceivedAt = DateTimeOffset.UnixEpoch,
            Production = new EndpointAnswer("p1", 200, 3.5, 10, "abc"),
            Copy = new EndpointAnswer("s1", 0, 10_000, 0, Error: "no answer within 00:00:10"),
        };

        var back = ShadowingJson.Deserialize<MirrorOutcome>(ShadowingJson.Serialize(outcome));

        Assert.Equal(outcome.Copy, back.Copy);
        Assert.Equal(outcome.Production, back.Production);
    }
}
