using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Randomness;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.Validation;
using Shadowing.Router.Forwarding;
using Shadowing.Router.Mirroring;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Tests.Mirroring;

public sealed class MirrorPlanTests
{
    [Fact]
    public void ConsistentByUser_10000Users_FivePercentIsASubsetOfTenAndSharesAreOnTarget()
    {
        var five = Plan(new MirrorPolicy { Percent = 5, Selector = new() { Kind = MirrorSelectorKind.Header, Name = "x-user" } });
        var ten = Plan(new MirrorPolicy { Percent = 10, Selector = new() { Kind = MirrorSelectorKind.Header, Name = "x-user" } });
        var random = RandomSource.Seeded(1);
        var users = Enumerable.Range(0, 10_000).Select(_ => $"user-{random.Next(int.MaxValue):x8}{random.Next(int.MaxValue):x8}").Distinct().ToArray();

        var atFive = users.Where(u => Decide(five, Get(("x-user", u))) == MirrorDecision.Mirrored).ToHashSet();
        var atTen = users.Where(u => Decide(ten, Get(("x-user", u))) == MirrorDecision.Mirrored).ToHashSet();

        Assert.Equal(10_000, users.Length);
        Assert.Subset(atTen, atFive);
        Assert.InRange(atFive.Count / 10_000.0, 0.045, 0.055);
        Assert.InRange(atTen.Count / 10_000.0, 0.095, 0.105);

        // The same user is decided the same way every time, whatever else the request carries.
        Assert.All(atFive.Take(50), u => Assert.Equal(MirrorDecision.Mirrored, Decide(five, Get(("x-user", u), ("x-other", Guid.NewGuid().ToString())))));
    }

    [Fact]
    public void ConsistentByUser_SaltPerService_SamplesDifferentUsers()
    {
        var orders = Plan(new MirrorPolicy { Percent = 10, Selector = new() { Kind = MirrorSelectorKind.Header, Name = "x-user" } }, service: "orders");
        var payments = Plan(new MirrorPolicy { Percent = 10, Selector = new() { Kind = MirrorSelectorKind.Header, Name = "x-user" } }, service: "payments");
        var users = Enumerable.Range(0, 10_000).Select(i => $"u{i}").ToArray();

        var a = users.Where(orders.Samples).ToHashSet();
        var b = users.Where(payments.Samples).ToHashSet();

        // Independent 10 % samples overlap on about 1 % of users, not on 10 %.
        Assert.InRange(a.Intersect(b).Count(), 50, 200);
    }

    [Theory]
    [InlineData(MirrorSelectorKind.Header)]
    [InlineData(MirrorSelectorKind.Cookie)]
    [InlineData(MirrorSelectorKind.Query)]
    [InlineData(MirrorSelectorKind.JwtClaim)]
    public void Selector_ReadsTheKeyWhereTheSelectorSays(MirrorSelectorKind kind)
    {
        var plan = Plan(new MirrorPolicy { Percent = 50, Selector = new() { Kind = kind, Name = kind == MirrorSelectorKind.JwtClaim ? "sub" : "uid" } });
        var sampled = Enumerable.Range(0, 200).Select(i => $"user{i}").First(plan.Samples);
        var notSampled = Enumerable.Range(0, 200).Select(i => $"user{i}").First(u => !plan.Samples(u));

        Assert.Equal(MirrorDecision.Mirrored, DecideKey(plan, RequestWithKey(kind, sampled), out var keyMissing));
        Assert.False(keyMissing);
        Assert.Equal(MirrorDecision.NotSampled, DecideKey(plan, RequestWithKey(kind, notSampled), out _));
    }

    [Fact]
    public void Selector_KeyMissing_FallsBackToRandomAndSaysSo()
    {
        var plan = Plan(new MirrorPolicy { Percent = 30, Selector = new() { Kind = MirrorSelectorKind.Header, Name = "x-user" } });
        var random = RandomSource.Seeded(7);
        var mirrored = 0;
        for (var i = 0; i < 2000; i++)
        {
            var decision = plan.Decide(Get().Request, 1 + "orders".Length, random, out _, out var keyMissing);
            Assert.True(keyMissing);
            mirrored += decision == MirrorDecision.Mirrored ? 1 : 0;
        }

        Assert.InRange(mirrored / 2000.0, 0.25, 0.35);
    }

    [Fact]
    public void Jwt_ClaimIsReadWithoutValidatingTheToken()
    {
        var token = Jwt("""{"sub":"alice","n":7}""");

        Assert.Equal("alice", MirrorPlan.ClaimOf("Bearer " + token, "sub"));
        Assert.Equal("7", MirrorPlan.ClaimOf("Bearer " + token, "n"));
        Assert.Null(MirrorPlan.ClaimOf("Bearer " + token, "missing"));
        Assert.Null(MirrorPlan.ClaimOf("Basic abc", "sub"));
        Assert.Null(MirrorPlan.ClaimOf("Bearer not-a-jwt", "sub"));
        Assert.Null(MirrorPlan.ClaimOf("Bearer a.%%%.c", "sub"));

        // An escaped lone surrogate is valid JSON with no string: no key, not an exception on production's request.
        Assert.Null(MirrorPlan.ClaimOf("Bearer " + Jwt("""{"sub":"\ud800"}"""), "sub"));
        Assert.Equal("bob", MirrorPlan.ClaimOf("Bearer " + Jwt("""{"\ud800":1,"sub":"bob"}"""), "sub"));
        var plan = Plan(new MirrorPolicy { Percent = 100, Selector = new() { Kind = MirrorSelectorKind.JwtClaim, Name = "sub" } });
        Assert.Equal(MirrorDecision.Mirrored, Decide(plan, Get(("Authorization", "Bearer " + Jwt("""{"sub":"\ud800"}""")))));
    }

    [Fact]
    public void Methods_WritesGoOnlyToShadowsWithIsolatedUnmaskedData()
    {
        var table = Table(new MirrorPolicy { Percent = 100, Methods = ["GET", "POST"] }) with
        {
            Shadows =
            [
                Shadow("shared", ShadowState.WarmingUp, dataIsolated: false),
                Shadow("isolated", ShadowState.Validating, dataIsolated: true),
                Shadow("masked", ShadowState.Validating, dataIsolated: true) with { DataMasked = true }, // would keep a write's real values
            ],
        };
        var plan = Compile(table).Mirror!;

        Assert.Equal(MirrorDecision.Mirrored, Decide(plan, Get(), out var getTargets));
        Assert.Equal(["shared", "isolated", "masked"], getTargets.Select(t => t.Id));
        Assert.Equal(MirrorDecision.Mirrored, Decide(plan, Request("POST"), out var postTargets));
        Assert.Equal(["isolated"], postTargets.Select(t => t.Id));
        Assert.Equal(MirrorDecision.Method, Decide(plan, Request("DELETE")));
    }

    [Fact]
    public void Replays_GoOnlyToShadowsBeingWarmed_NotToOnesCarryingRealTraffic()
    {
        var table = Table(new MirrorPolicy { Percent = 100, Targets = ["warming", "active", "draining"] }) with
        {
            Shadows = [Shadow("warming", ShadowState.WarmingUp), Shadow("active", ShadowState.Active), Shadow("draining", ShadowState.Draining)],
        };

        var plan = Compile(table).Mirror!;

        Assert.Equal([("warming", true), ("active", false), ("draining", false)], plan.SafeTargets.Select(t => (t.Id, plan.TakesReplays(t))));
    }

    [Fact]
    public void Methods_WriteWithNoIsolatedShadow_NotMirrored()
    {
        var plan = Compile(Table(new MirrorPolicy { Percent = 100, Methods = ["GET", "POST"] })).Mirror!;

        Assert.Equal(MirrorDecision.NoTarget, Decide(plan, Request("POST")));
    }

    [Fact]
    public void Targets_DefaultAreShadowsWarmingUpValidatingPreWarmedOrActive_NamedOnesWhenGiven()
    {
        var table = Table(new MirrorPolicy { Percent = 100 }) with
        {
            Shadows =
            [
                Shadow("provisioning", ShadowState.Provisioning),
                Shadow("warming", ShadowState.WarmingUp),
                Shadow("validating", ShadowState.Validating),
                Shadow("prewarmed", ShadowState.PreWarmed),
                Shadow("active", ShadowState.Active),
                Shadow("retired", ShadowState.Retired),
            ],
        };

        // An Active one too (safe requests only): without copies its revalidation has nothing to judge.
        Assert.Equal(["warming", "validating", "prewarmed", "active"], Compile(table).Mirror!.SafeTargets.Select(t => t.Id));
        Assert.Equal(["active"], Compile(table with { Mirror = table.Mirror! with { Targets = ["active"] } }).Mirror!.SafeTargets.Select(t => t.Id));
        Assert.Null(Compile(table with { Mirror = table.Mirror! with { Targets = ["retired"] } }).Mirror);
        Assert.Null(Compile(table with { Mirror = table.Mirror! with { Enabled = false } }).Mirror);
        Assert.Null(Compile(table with { Mirror = table.Mirror! with { Percent = 0 } }).Mirror);

        // An Active shadow with its own data serves real users from it: it gets safe copies, never writes.
        var isolated = table with { Shadows = [.. table.Shadows.Select(s => s with { DataIsolated = true })], Mirror = table.Mirror! with { Targets = ["active", "warming"] } };
        Assert.Equal(["warming"], Compile(isolated).Mirror!.IsolatedTargets.Select(t => t.Id));
        Assert.Equal(["warming", "validating", "prewarmed"], Compile(isolated with { Mirror = table.Mirror }).Mirror!.IsolatedTargets.Select(t => t.Id));
    }

    [Theory]
    [InlineData("/orders/api/items/1", true)]
    [InlineData("/orders/api/items/1/reviews", false)]
    [InlineData("/orders/api/admin/x", false)]
    [InlineData("/orders/api/internal/deep/path", false)]
    [InlineData("/orders/health", false)]
    public void Paths_IncludeAndExcludeGlobs(string path, bool mirrored)
    {
        var plan = Plan(new MirrorPolicy { Percent = 100, IncludePaths = ["/api/items/*", "/api/admin/*", "/api/internal/**"], ExcludePaths = ["/api/admin/*", "/api/internal/**"] });

        Assert.Equal(mirrored ? MirrorDecision.Mirrored : MirrorDecision.Path, Decide(plan, Get(path: path)));
    }

    [Fact]
    public void DiffIgnore_IsThePolicysAndTheValidationsIgnoredFields()
    {
        var table = Table(new MirrorPolicy { Percent = 100, IgnoreFields = ["servedBy"] }) with
        {
            Validation = new ValidationSettings { Mismatch = new MismatchCheck { IgnoreFields = ["meta.*", "servedBy"] } },
        };

        Assert.Equal(["servedBy", "meta.*"], Compile(table).Mirror!.DiffIgnore);
    }

    [Theory]
    [InlineData("/orders/api/internal", false)]
    [InlineData("/orders/api/internalx", true)]
    [InlineData("/orders/api/admin%2Fx", false)]
    [InlineData("/orders/api/internal%2fdeep", false)]
    [InlineData("/orders/api/items%2F1", true)]
    [InlineData("/orders/api/admin/x/", false)] // routing serves it as /api/admin/x
    [InlineData("/orders/api/admin/x/y", true)] // one segment only, as before
    public void Paths_AFolderGlobCoversTheFolder_AndAnEncodedSlashIsReadBothWays(string path, bool mirrored)
    {
        var plan = Plan(new MirrorPolicy { Percent = 100, ExcludePaths = ["/api/admin/*", "/api/internal/**"] });

        Assert.Equal(mirrored ? MirrorDecision.Mirrored : MirrorDecision.Path, Decide(plan, Get(path: path)));
        Assert.Equal(MirrorDecision.Path, Decide(Plan(new MirrorPolicy { Percent = 100, ExcludePaths = ["/api/purge/"] }), Get(path: "/orders/api/purge")));
    }

    [Fact]
    public void Paths_ManyDoubleStarsOnALongPath_MatchInLinearTime()
    {
        // A glob with several ** against a client's path of thousands of segments: a backtracking matcher takes
        // polynomial time to fail it; this one reads the path once (no timing here: it would not end otherwise).
        var glob = MirrorPlan.Glob("/**/a/**/b/**/c/**/d");

        Assert.True((glob.Options & System.Text.RegularExpressions.RegexOptions.NonBacktracking) != 0);
        Assert.DoesNotMatch(glob, string.Concat(Enumerable.Repeat("/a/b/c", 3000)));
    }

    [Theory]
    [InlineData("/orders/API/Admin/x")]
    [InlineData("/orders/api/ADMIN/x")]
    [InlineData("/orders/Api/Internal/deep")]
    public void Paths_MatchIgnoringCase_AsTheServicesRoutingDoes(string path)
    {
        var plan = Plan(new MirrorPolicy { Percent = 100, ExcludePaths = ["/api/admin/*", "/api/internal/**"] });

        Assert.Equal(MirrorDecision.Path, Decide(plan, Get(path: path)));
    }

    [Theory]
    [InlineData("X-HTTP-Method-Override", "DELETE")]
    [InlineData("X-HTTP-Method", "put")]
    [InlineData("X-Method-Override", "PATCH")]
    public void Methods_ASafeRequestTunnellingAWrite_IsAWrite(string header, string method)
    {
        var table = Table(new MirrorPolicy { Percent = 100, Methods = ["GET", "DELETE", "PUT", "PATCH"] }) with
        {
            Shadows = [Shadow("shared", ShadowState.WarmingUp, dataIsolated: false), Shadow("isolated", ShadowState.Validating, dataIsolated: true)],
        };
        var plan = Compile(table).Mirror!;
        var tunnelled = Request("GET", headers: [(header, method)]);

        Assert.Equal(MirrorDecision.Mirrored, Decide(plan, tunnelled, out var targets));
        Assert.Equal(["isolated"], targets.Select(t => t.Id));
        Assert.Equal(method.ToUpperInvariant(), MirrorPlan.EffectiveMethod(tunnelled.Request));

        // Not mirrored at all when writes are not, and never made safer: a POST overridden to GET is still a POST.
        Assert.Equal(MirrorDecision.Method, Decide(Plan(new MirrorPolicy { Percent = 100, Methods = ["GET"] }), tunnelled));
        Assert.Equal("POST", MirrorPlan.EffectiveMethod(Request("POST", headers: [(header, "GET")]).Request));
    }

    [Fact]
    public void Methods_APostTunnellingAMethodThePolicyLeavesOut_IsNotMirrored()
    {
        // Overrides are mostly sent on POST (what ASP.NET Core's, Rails' and Express's honour): with POST mirrored and
        // DELETE not, a POST overridden to DELETE is a DELETE the operator never chose to mirror.
        var plan = Compile(Table(new MirrorPolicy { Percent = 100, Methods = ["GET", "POST"] }) with { Shadows = [Shadow("isolated", ShadowState.Validating, dataIsolated: true)] }).Mirror!;
        var tunnelled = Request("POST", headers: [("X-HTTP-Method-Override", "DELETE")]);

        Assert.Equal(MirrorDecision.Mirrored, Decide(plan, Request("POST")));
        Assert.Equal("DELETE", MirrorPlan.EffectiveMethod(tunnelled.Request));
        Assert.Equal(MirrorDecision.Method, Decide(plan, tunnelled));
        Assert.Equal("DELETE", MirrorPlan.EffectiveMethod("POST", new Dictionary<string, string[]> { ["x-http-method-override"] = ["delete"] }));
    }

    [Theory]
    [InlineData("Upgrade", "websocket")]
    [InlineData("Accept", "text/event-stream")]
    [InlineData("Content-Type", "application/grpc")] // needs HTTP/2; copies go out over HTTP/1.1
    public void Streaming_UpgradesAndEventStreams_AreNotMirrored(string header, string value)
    {
        var plan = Plan(new MirrorPolicy { Percent = 100 });

        Assert.Equal(MirrorDecision.Streaming, Decide(plan, Get((header, value))));
        Assert.Equal("streaming", MirrorDecision.Streaming.Label());
    }

    [Fact]
    public void Body_LargerThanTheCapByContentLength_NotMirrored()
    {
        var plan = Plan(new MirrorPolicy { Percent = 100, Methods = ["GET"], MaxBodyBytes = 10 });
        var small = Get();
        small.Request.ContentLength = 10;
        var large = Get();
        large.Request.ContentLength = 11;

        Assert.Equal(MirrorDecision.Mirrored, Decide(plan, small));
        Assert.Equal(MirrorDecision.BodyTooLarge, Decide(plan, large));
    }

    internal static MirrorPlan Plan(MirrorPolicy policy, string service = "orders") => Compile(Table(policy, service)).Mirror!;

    internal static RoutingTable Table(MirrorPolicy policy, string service = "orders") => new()
    {
        Service = service,
        Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 10 }],
        Shadows = [Shadow("s1", ShadowState.WarmingUp)],
        Mirror = policy,
    };

    internal static ShadowEndpoint Shadow(string id, ShadowState state, bool dataIsolated = false) =>
        new() { Id = id, Address = "http://127.0.0.1:2", State = state, DataIsolated = dataIsolated };

    internal static ServiceRoutes Compile(RoutingTable table)
    {
        RoutingTableValidator.EnsureValid(table);
        var registry = new EndpointRegistry(Options.Create(new RouterOptions()), TimeProvider.System);
        return ServiceRoutes.Compile(table, registry, DaprSidecarEndpoint.FromConfiguration(new ConfigurationBuilder().Build()), routeHeaders: false);
    }

    private static MirrorDecision Decide(MirrorPlan plan, HttpContext context) => Decide(plan, context, out IReadOnlyList<RoutedEndpoint> _);

    private static MirrorDecision Decide(MirrorPlan plan, HttpContext context, out IReadOnlyList<RoutedEndpoint> targets) =>
        plan.Decide(context.Request, 1 + plan.Service.Length, RandomSource.Seeded(0), out targets, out _);

    private static MirrorDecision DecideKey(MirrorPlan plan, HttpContext context, out bool keyMissing) =>
        plan.Decide(context.Request, 1 + plan.Service.Length, RandomSource.Seeded(0), out _, out keyMissing);

    private static DefaultHttpContext Get(params (string Name, string Value)[] headers) => Request("GET", headers: headers);

    private static DefaultHttpContext Get(string path) => Request("GET", path);

    private static DefaultHttpContext Request(string method, string path = "/orders/api/items/1", (string Name, string Value)[]? headers = null)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Path = path;
        foreach (var (name, value) in headers ?? [])
        {
            context.Request.Headers[name] = value;
        }

        return context;
    }

    private static DefaultHttpContext RequestWithKey(MirrorSelectorKind kind, string key)
    {
        var context = Get();
        switch (kind)
        {
            case MirrorSelectorKind.Header:
                context.Request.Headers["uid"] = key;
                break;
            case MirrorSelectorKind.Cookie:
                context.Request.Headers.Cookie = $"theme=dark; uid={key}";
                break;
            case MirrorSelectorKind.Query:
                context.Request.QueryString = new QueryString($"?page=2&uid={key}");
                break;
            case MirrorSelectorKind.JwtClaim:
                context.Request.Headers.Authorization = "Bearer " + Jwt($$"""{"sub":"{{key}}"}""");
                break;
        }

        return context;
    }

    private static string Jwt(string payload) =>
        $"{B64("""{"alg":"none"}""")}.{B64(payload)}.sig";

    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
