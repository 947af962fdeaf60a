using Shadowing.Core.Messaging;
using Shadowing.Dapr.Messaging;
using Shadowing.TestUtilities.Dapr;
using Shadowing.TestUtilities.Data;
using YamlDotNet.RepresentationModel;

namespace Shadowing.Dapr.Tests;

/// <summary>
/// components/*.yaml and dapr.yaml are not exercised here (no daprd), so they are checked against Dapr's
/// documented schema and against the names the code uses.
/// </summary>
public sealed class DaprResourcesTests
{
    private static readonly string Root = RepositoryFiles.Root;

    public static TheoryData<string> ComponentFiles => new(Directory.GetFiles(Path.Combine(Root, "components"), "*.yaml", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(Path.Combine(Root, "components"), f)));

    [Theory]
    [InlineData("redis/statestore.yaml", "state.redis", "v1")]
    [InlineData("postgresql/statestore.yaml", "state.postgresql", "v2")]
    public void StateStore_NameMatchesCode_IsActorStoreWithSharedKeys(string file, string type, string version)
    {
        var component = Component(file);

        Assert.Equal("Component", Text(component, "kind"));
        Assert.Equal(DaprComponents.StateStore, Text(component, "metadata", "name"));
        Assert.Equal(type, Text(component, "spec", "type"));
        Assert.Equal(version, Text(component, "spec", "version"));
        var metadata = Metadata(component);
        Assert.Equal("true", metadata["actorStateStore"]);
        Assert.Equal("name", metadata["keyPrefix"]);
        Assert.Equal([DaprAppIds.Functions, DaprAppIds.Router, DaprAppIds.Workflows], Scopes(component).Order());
    }

    [Theory]
    [InlineData("orders", "data-orders")]
    [InlineData("Order_Api", "data-order-api")] // Kubernetes and Container Apps take lower case, digits, '-' and '.' only
    [InlineData("svc.v2", "data-svc.v2")]
    public void DataComponentName_IsOneKubernetesAndContainerAppsAccept(string service, string component) =>
        Assert.Equal(component, DaprComponents.DataStore(service));

    [Theory]
    [InlineData("redis/data-orders.yaml", "state.redis")]
    [InlineData("postgresql/data-orders.yaml", "state.postgresql")]
    public void DataComponent_HasTheOutboxOnItsServicesTopic_AndKeysOfItsOwn(string file, string type)
    {
        var component = Component(file);

        Assert.Equal(DaprComponents.DataStore("orders"), Text(component, "metadata", "name"));
        Assert.Equal(type, Text(component, "spec", "type"));
        var metadata = Metadata(component);
        Assert.Equal(DaprComponents.PubSub, metadata["outboxPublishPubsub"]);
        Assert.Equal("data-changes.orders", metadata["outboxPublishTopic"]);
        // Its own keys: a production app it is scoped to must not reach statestore's (routing tables, plans).
        Assert.Equal("name", metadata["keyPrefix"]);
        Assert.False(metadata.ContainsKey("actorStateStore"));
        Assert.Contains(DaprAppIds.Workflows, Scopes(component));
    }

    [Theory]
    [InlineData("redis/data-orders.yaml")]
    [InlineData("postgresql/data-orders.yaml")]
    public void DataWriters_MayPublishTheirDataTopicOnly_AndSubscribeToNothing_OnTheSharedPubSub(string file)
    {
        // A production app is in pubsub's scopes for its outbox only: not to publish routing-changed or another
        // service's changes, nor to read other services' data-changes (production records).
        var data = Metadata(Component(file));
        var pubsub = Metadata(Component(data["outboxPublishPubsub"] + ".yaml"));
        static Dictionary<string, string> Parse(string scopes) => scopes.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(s => s.Split('=')).ToDictionary(s => s[0], s => s[1], StringComparer.Ordinal);
        var publishing = Parse(pubsub["publishingScopes"]);
        var subscription = Parse(pubsub["subscriptionScopes"]);

        var writers = Scopes(Component(file)).Where(a => a != DaprAppIds.Workflows).ToArray();
        Assert.NotEmpty(writers);
        Assert.All(writers, app => Assert.Equal(data["outboxPublishTopic"], publishing[app]));
        Assert.All(writers, app => Assert.Equal(string.Empty, subscription[app]));
        Assert.DoesNotContain(DaprAppIds.Router, publishing.Keys); // Shadowing's own apps keep every topic
        Assert.DoesNotContain(DaprAppIds.Workflows, subscription.Keys);
    }

    [Theory]
    [InlineData("redis/data-orders.yaml")]
    [InlineData("postgresql/data-orders.yaml")]
    public void DataComponent_EveryWriterLoadsBothOutboxPubSubs_AndTheInternalOneHasOneGroupPerApp(string file)
    {
        // daprd publishes the outbox's internal message (on outboxPubsub, outboxPublishPubsub unless set) inside the
        // writer's transaction and consumes it in the writer's own sidecar, which then publishes the change on
        // outboxPublishPubsub: an app that writes through the component must load both (without the first every
        // transaction fails; without the second no change is published). The internal topic is consumed once per
        // consumer group: with a group per replica, every replica would take every message.
        var component = Component(file);
        var metadata = Metadata(component);
        var publish = Component(metadata["outboxPublishPubsub"] + ".yaml");
        var coordinate = Component(metadata.GetValueOrDefault("outboxPubsub", metadata["outboxPublishPubsub"]) + ".yaml");

        Assert.NotEmpty(Scopes(component));
        foreach (var app in Scopes(component))
        {
            Assert.Contains(app, Scopes(publish));
            Assert.Contains(app, Scopes(coordinate));
        }

        Assert.Equal("{appID}", Metadata(coordinate)["consumerID"]);
        // daprd's handler of the internal topic holds a worker for a second or more per message (dapr/dapr
        // pkg/runtime/pubsub/outbox.go): Redis Streams' default of 10 workers would cap a writer at 10 changes a second.
        Assert.InRange(int.Parse(Metadata(coordinate)["concurrency"], System.Globalization.CultureInfo.InvariantCulture), 100, int.MaxValue);
        Assert.InRange(ParseDuration(Metadata(coordinate)["processingTimeout"]), TimeSpan.FromSeconds(60), TimeSpan.MaxValue);
    }

    [Fact]
    public void DaprYaml_LoadsExactlyOneStatestoreAndOneActorStore_AndNoTwoStoresShareAName()
    {
        // daprd reads the files of each resources folder (not its sub-folders): two stores named alike would clash.
        var run = Assert.Single(Load("dapr.yaml"));
        var folders = ((YamlSequenceNode)Node(run, "common", "resourcesPaths")).Children.Select(p => Path.Combine(Root, p.ToString())).ToArray();
        var stores = folders.SelectMany(f => Directory.GetFiles(f, "*.yaml", SearchOption.TopDirectoryOnly))
            .SelectMany(f => Load(Path.GetRelativePath(Root, f)))
            .Where(d => Text(d, "kind") == "Component" && Text(d, "spec", "type").StartsWith("state.", StringComparison.Ordinal))
            .ToList();

        Assert.Single(stores, d => Text(d, "metadata", "name") == DaprComponents.StateStore);
        Assert.Single(stores, d => Metadata(d).GetValueOrDefault("actorStateStore") == "true");
        Assert.Equal(stores.Count, stores.Select(d => Text(d, "metadata", "name")).Distinct().Count());
    }

    [Fact]
    public void Subscriptions_DeclarativeFileAndProgrammaticCatalog_AreTheSame()
    {
        var declared = Load("components/subscriptions.yaml")
            .SelectMany(s => Scopes(s).Select(app => (
                App: app,
                PubSub: Text(s, "spec", "pubsubname"),
                Topic: Text(s, "spec", "topic"),
                Route: Text(s, "spec", "routes", "default"),
                DeadLetter: ((YamlMappingNode)Node(s, "spec")).Children.TryGetValue("deadLetterTopic", out var d) ? d.ToString() : null)))
            .Order()
            .ToArray();
        var programmatic = DaprSubscriptions.Apps
            .SelectMany(app => DaprSubscriptions.For(app).Select(s => (App: app, PubSub: s.PubSubName, s.Topic, s.Route, DeadLetter: s.DeadLetterTopic)))
            .Order()
            .ToArray();

        Assert.Equal(programmatic, declared);
    }

    [Theory]
    [InlineData("pubsub.yaml")]
    [InlineData("queue-pubsub.yaml")]
    public void PubSub_ProcessingTimeout_OutlastsAWholeDeliveryWithItsRetries(string file)
    {
        var component = Component(file);
        var processingTimeout = ParseDuration(Metadata(component)["processingTimeout"]);
        var policies = Node(Component("resiliency.yaml"), "spec", "policies");
        var inbound = Node(Component("resiliency.yaml"), "spec", "targets", "components", Text(component, "metadata", "name"), "inbound");
        var timeout = ParseDuration(Text(policies, "timeouts", Text(inbound, "timeout")));
        var retry = Node(policies, "retries", Text(inbound, "retry"));
        var retries = int.Parse(Text(retry, "maxRetries"), System.Globalization.CultureInfo.InvariantCulture);
        var maxInterval = ParseDuration(Text(retry, "maxInterval"));

        // Each try may take the whole timeout; between tries the back-off is at most maxInterval.
        var worstCase = (timeout * (retries + 1)) + (maxInterval * retries);

        Assert.True(processingTimeout > worstCase, $"processingTimeout {processingTimeout} must exceed a delivery's worst case {worstCase}");
    }

    [Fact]
    public async Task Resiliency_EveryPubSubTheAppsUse_RetriesPublishesAndDeliveries_AsTheFakeSidecarDoes()
    {
        // daprd gives a component without an inbound retry policy one delivery attempt (dapr/dapr
        // pkg/resiliency ComponentInboundPolicy), then the dead-letter topic or nothing.
        var resiliency = Component("resiliency.yaml");
        var used = DaprSubscriptions.Apps.SelectMany(DaprSubscriptions.For).Select(s => s.PubSubName)
            .Append(DaprComponents.PubSub).Append(DaprComponents.QueuePubSub).Distinct(StringComparer.Ordinal).ToArray();
        await using var fake = new FakePubSub(appApiToken: null);

        Assert.Equal([DaprComponents.PubSub, DaprComponents.QueuePubSub], used.Order(StringComparer.Ordinal));
        foreach (var name in used)
        {
            var target = Node(resiliency, "spec", "targets", "components", name);
            var retry = Node(resiliency, "spec", "policies", "retries", Text(target, "inbound", "retry"));
            Assert.False(string.IsNullOrEmpty(Text(target, "outbound", "retry")), $"{name} has no outbound retry");
            Assert.Equal(int.Parse(Text(retry, "maxRetries"), System.Globalization.CultureInfo.InvariantCulture) + 1, fake.MaxDeliveryAttempts);
        }
    }

    [Fact]
    public void Resiliency_NoCircuitBreakerOnTheStateStore()
    {
        var statestore = (YamlMappingNode)Node(Component("resiliency.yaml"), "spec", "targets", "components", DaprComponents.StateStore, "outbound");

        Assert.DoesNotContain("circuitBreaker", statestore.Children.Keys.Select(k => k.ToString()));
    }

    [Fact]
    public void DaprYaml_EveryAppWithAHealthPath_HasHealthChecksOn()
    {
        var run = Assert.Single(Load("dapr.yaml"));
        var apps = ((YamlSequenceNode)Node(run, "apps")).Children.Cast<YamlMappingNode>().Where(a => a.Children.ContainsKey("appHealthCheckPath")).ToArray();

        Assert.NotEmpty(apps);
        Assert.All(apps, a => Assert.Equal("true", Text(a, "enableAppHealthCheck")));
    }

    [Fact]
    public void DaprYaml_WorkflowsApp_HasAShadowTemplateForEveryServiceTheRouterIsSeededWith()
    {
        // The workflows host provisions with the local-process provisioner unless told otherwise: without a template for
        // a service, every shadow request for it fails at provisioning.
        var apps = ((YamlSequenceNode)Node(Assert.Single(Load("dapr.yaml")), "apps")).Children.Cast<YamlMappingNode>().ToArray();
        var workflows = apps.Single(a => Text(a, "appID") == DaprAppIds.Workflows);
        var env = ((YamlMappingNode)Node(workflows, "env")).Children.ToDictionary(e => e.Key.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
        var services = ((YamlMappingNode)Node(Assert.Single(Load("router/Shadowing.Router/routes.dapr.yaml")), "services")).Children.Keys.Select(k => k.ToString()).ToArray();
        var sample = apps.First(a => Text(a, "appID") == "orders-1");
        var sampleDll = Path.GetFullPath(Path.Combine(Root, Text(sample, "appDirPath"), ((YamlSequenceNode)Node(sample, "command")).Children[1].ToString()));

        Assert.NotEmpty(services);
        Assert.DoesNotContain("Shadowing__Provisioning__Kind", env.Keys);
        foreach (var service in services)
        {
            var prefix = $"Shadowing__Provisioning__Local__Services__{service}__";
            Assert.Equal("dotnet", env.GetValueOrDefault(prefix + "Command"));
            var arguments = env.Where(e => e.Key.StartsWith(prefix + "Arguments__", StringComparison.Ordinal))
                .OrderBy(e => int.Parse(e.Key[(prefix.Length + "Arguments__".Length)..], System.Globalization.CultureInfo.InvariantCulture))
                .Select(e => e.Value)
                .ToArray();
            Assert.Equal(sampleDll, Path.GetFullPath(Path.Combine(Root, Text(workflows, "appDirPath"), arguments[0]))); // what orders-1 runs, from the workflows app's folder
            Assert.Equal(["sample-endpoint", "--service", service, "--id", "{shadowId}", "--port", "{port}"], arguments[1..8]);
        }
    }

    private static TimeSpan ParseDuration(string text) =>
        text.EndsWith("ms", StringComparison.Ordinal) ? TimeSpan.FromMilliseconds(double.Parse(text[..^2], System.Globalization.CultureInfo.InvariantCulture))
        : text.EndsWith('s') ? TimeSpan.FromSeconds(double.Parse(text[..^1], System.Globalization.CultureInfo.InvariantCulture))
        : text.EndsWith('m') ? TimeSpan.FromMinutes(double.Parse(text[..^1], System.Globalization.CultureInfo.InvariantCulture))
        : throw new FormatException($"duration '{text}'");

    [Fact]
    public void PubSub_NameMatchesCode()
    {
        var component = Component("pubsub.yaml");

        Assert.Equal(DaprComponents.PubSub, Text(component, "metadata", "name"));
        Assert.StartsWith("pubsub.", Text(component, "spec", "type"), StringComparison.Ordinal);
        Assert.Contains(DaprAppIds.Router, Scopes(component));
    }

    [Fact]
    public void QueuePubSub_NameMatchesCode_OneConsumerGroupPerApp()
    {
        var component = Component("queue-pubsub.yaml");

        Assert.Equal(DaprComponents.QueuePubSub, Text(component, "metadata", "name"));
        Assert.StartsWith("pubsub.", Text(component, "spec", "type"), StringComparison.Ordinal);
        Assert.Subset(Scopes(component).ToHashSet(), new HashSet<string> { DaprAppIds.Functions, DaprAppIds.Router, DaprAppIds.Workflows });

        // Replicas of one app id share the group: a copy is replayed once, not once per router.
        Assert.Equal("{appID}", Metadata(component)["consumerID"]);
        Assert.Equal(DaprComponents.QueuePubSub, DaprComponents.PubSubOf(Topics.Mirror("orders")));
        Assert.Equal(DaprComponents.QueuePubSub, DaprComponents.PubSubOf(Topics.Alerts));
        Assert.Equal(DaprComponents.PubSub, DaprComponents.PubSubOf(Topics.ShadowOutcomes));
    }

    [Fact]
    public void Subscriptions_RouteEachTopicToItsEventEndpoint_OnTheCodesPubSub()
    {
        var documents = Load("components/subscriptions.yaml");
        var topics = new List<string>();
        foreach (var subscription in documents)
        {
            Assert.Equal("dapr.io/v2alpha1", Text(subscription, "apiVersion"));
            Assert.Equal("Subscription", Text(subscription, "kind"));
            var topic = Text(subscription, "spec", "topic");
            topics.Add(topic);
            Assert.Equal(DaprComponents.PubSubOf(topic), Text(subscription, "spec", "pubsubname"));
            Assert.Equal(DaprComponents.EventRoute(topic), Text(subscription, "spec", "routes", "default"));
            Assert.NotEmpty(Scopes(subscription));
        }

        Assert.Contains(Topics.RoutingChanged, topics);
    }

    [Fact]
    public void Resiliency_CoversTheOutboxWriters_WhosePublishesAreLostWithoutARetry()
    {
        // daprd's outbox handler publishes each change once; a failure goes back to Redis Streams, which acknowledges a
        // failed message (components-contrib 1.17+). Every app that loads the outbox's internal pub/sub publishes for it.
        static IEnumerable<string> Scopes(YamlMappingNode component) => ((YamlSequenceNode)component.Children[new YamlScalarNode("scopes")]).Children.Select(s => s.ToString());
        var resilient = Scopes(Component("resiliency.yaml")).ToHashSet(StringComparer.Ordinal);
        var outbox = Component("outbox-pubsub.yaml");

        Assert.All(Scopes(outbox), app => Assert.Contains(app, resilient));
        // daprd publishes on the internal topic before it runs the writer's transaction: without a retry one transient
        // error fails the production write.
        var target = Node(Component("resiliency.yaml"), "spec", "targets", "components", Text(outbox, "metadata", "name"));
        Assert.False(string.IsNullOrEmpty(Text(target, "outbound", "retry")), "outbox-pubsub has no outbound retry");
    }

    [Fact]
    public void Resiliency_TargetsOnlyDeclaredComponents()
    {
        var resiliency = Component("resiliency.yaml");
        var policies = (YamlMappingNode)Node(resiliency, "spec", "policies");
        var declared = new[] { "timeouts", "retries", "circuitBreakers" }
            .SelectMany(kind => policies.Children.TryGetValue(kind, out var p) ? ((YamlMappingNode)p).Children.Keys.Select(k => $"{kind}:{k}") : [])
            .ToHashSet();

        Assert.Equal("Resiliency", Text(resiliency, "kind"));
        var components = (YamlMappingNode)Node(resiliency, "spec", "targets", "components");
        Assert.Equal(["outbox-pubsub", DaprComponents.PubSub, DaprComponents.QueuePubSub, DaprComponents.StateStore], components.Children.Keys.Select(k => k.ToString()).Order(StringComparer.Ordinal));
        foreach (var direction in components.Children.Values.Cast<YamlMappingNode>().SelectMany(c => c.Children.Values.Cast<YamlMappingNode>()))
        {
            foreach (var (kind, name) in direction.Children.Select(p => (p.Key.ToString(), p.Value.ToString())))
            {
                var section = kind switch { "timeout" => "timeouts", "retry" => "retries", _ => "circuitBreakers" };
                Assert.Contains($"{section}:{name}", declared);
            }
        }
    }

    [Theory]
    [MemberData(nameof(ComponentFiles))]
    public void EveryResource_HasDaprApiVersionKindNameAndScopes(string file)
    {
        foreach (var document in Load(Path.Combine("components", file)))
        {
            Assert.StartsWith("dapr.io/", Text(document, "apiVersion"), StringComparison.Ordinal);
            Assert.NotEmpty(Text(document, "kind"));
            Assert.NotEmpty(Text(document, "metadata", "name"));
            Assert.NotEmpty(Scopes(document));
        }
    }

    [Fact]
    public void DaprYaml_MultiAppRun_HasTheCodesAppIdsAndExistingPaths()
    {
        var run = Assert.Single(Load("dapr.yaml"));

        Assert.Equal("1", Text(run, "version"));
        foreach (var path in ((YamlSequenceNode)Node(run, "common", "resourcesPaths")).Children.Select(p => p.ToString()))
        {
            Assert.True(Directory.Exists(Path.Combine(Root, path)), $"resourcesPaths entry {path} exists");
        }

        var apps = ((YamlSequenceNode)Node(run, "apps")).Children.Cast<YamlMappingNode>().ToArray();
        var ids = apps.Select(a => Text(a, "appID")).ToArray();
        Assert.Contains(DaprAppIds.Router, ids);
        Assert.Contains(DaprAppIds.Functions, ids);
        Assert.Contains(DaprAppIds.Workflows, ids);
        Assert.Equal(ids.Length, ids.Distinct().Count());
        foreach (var app in apps)
        {
            Assert.True(Directory.Exists(Path.Combine(Root, Text(app, "appDirPath"))), $"appDirPath of {Text(app, "appID")} exists");
            Assert.NotEmpty(((YamlSequenceNode)Node(app, "command")).Children);
            Assert.DoesNotContain("resourcesPath", app.Children.Keys.Select(k => k.ToString())); // deprecated singular form
        }

        var router = apps.Single(a => Text(a, "appID") == DaprAppIds.Router);
        Assert.Equal("/healthz", Text(router, "appHealthCheckPath"));
        var routes = ((YamlSequenceNode)Node(router, "command")).Children.Select(c => c.ToString()).SkipWhile(c => c != "--routes").Skip(1).First();
        Assert.True(File.Exists(Path.Combine(Root, Text(router, "appDirPath"), routes)), "the router's --routes file exists");
        Assert.Equal(["func", "start"], ((YamlSequenceNode)Node(apps.Single(a => Text(a, "appID") == DaprAppIds.Functions), "command")).Children.Take(2).Select(c => c.ToString()));

        // Every dapr:// app the seeded routes point at is an app of the run.
        var dapr = File.ReadAllText(Path.Combine(Root, Text(router, "appDirPath"), routes));
        foreach (var appId in System.Text.RegularExpressions.Regex.Matches(dapr, "dapr://([A-Za-z0-9._-]+)").Select(m => m.Groups[1].Value))
        {
            Assert.Contains(appId, ids);
        }
    }

    private static YamlMappingNode Component(string file) => (YamlMappingNode)Assert.Single(Load(Path.Combine("components", file)));

    private static List<YamlMappingNode> Load(string relative)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(Path.Combine(Root, relative));
        stream.Load(reader);
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    private static YamlNode Node(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            Assert.True(node is YamlMappingNode map && map.Children.ContainsKey(key), $"'{string.Join('.', path)}' is present");
            node = ((YamlMappingNode)node).Children[key];
        }

        return node;
    }

    private static string Text(YamlNode node, params string[] path) => Node(node, path).ToString();

    private static Dictionary<string, string> Metadata(YamlNode component) =>
        ((YamlSequenceNode)Node(component, "spec", "metadata")).Children.Cast<YamlMappingNode>()
            .ToDictionary(m => Text(m, "name"), m => Text(m, "value"));

    private static string[] Scopes(YamlNode resource) =>
        ((YamlSequenceNode)Node(resource, "scopes")).Children.Select(s => s.ToString()).ToArray();
}
