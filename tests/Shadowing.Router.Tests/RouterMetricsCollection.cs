namespace Shadowing.Router.Tests;

/// <summary>
/// Tests that read a router's <c>/metrics</c> run alone. OpenTelemetry's meter provider subscribes to meters by
/// name, not by the host's IMeterFactory, so every router host alive in the test process feeds every other host's
/// exporter: a second host's stale gauge (0) was seen replacing the first host's (1), and counters with the same
/// labels add up across hosts. One router per process, as deployed, has no such cross-talk.
/// </summary>
[CollectionDefinition(nameof(RouterMetricsCollection), DisableParallelization = true)]
public sealed class RouterMetricsCollection;
