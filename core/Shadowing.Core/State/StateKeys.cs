using System.Globalization;

namespace Shadowing.Core.State;

/// <summary>
/// Key layout shared by every part of Shadowing. Changing one of these changes where running systems find
/// their data: treat them as a storage schema.
/// </summary>
public static class StateKeys
{
    /// <summary>Collection of routing tables.</summary>
    public const string RoutingPrefix = "routing/";

    /// <summary>
    /// Collection of per-minute endpoint metrics, by service and UTC day: a reader lists only the days it needs, and a day
    /// past the retention goes as a whole. (Versions before kept <see cref="LegacyMetrics"/>, where every listing read one
    /// index per endpoint ever recorded.)
    /// </summary>
    public const string MetricsPrefix = "metrics-by-day/";

    /// <summary>
    /// Where versions before <see cref="MetricsPrefix"/> kept per-minute metrics: still read (older replicas write there
    /// during an upgrade, and history from before it is there) until the router's retention sweep has deleted it all.
    /// </summary>
    public const string LegacyMetricsPrefix = "metrics/";

    /// <summary>Where versions before <see cref="MetricsPrefix"/> kept the per-minute records of one endpoint for one UTC day.</summary>
    public static string LegacyMetrics(string service, string endpointId, DateOnly utcDay) =>
        string.Create(CultureInfo.InvariantCulture, $"{LegacyMetricsPrefix}{service}/{endpointId}/{utcDay:yyyy-MM-dd}");

    /// <summary>The UTC day of a <see cref="LegacyMetrics"/> key, from its last segment; null for any other key.</summary>
    public static DateOnly? LegacyMetricsDayOf(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var segment = key.StartsWith(LegacyMetricsPrefix, StringComparison.Ordinal) && key.Count(c => c == '/') == 3 ? key[(key.LastIndexOf('/') + 1)..] : null;
        return DateOnly.TryParseExact(segment, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day) ? day : null;
    }

    /// <summary>
    /// Collection of the collections a router wrote that its retention sweep deletes, one document per kind and service
    /// (<c>retention/{kind}/{service}</c>): the store cannot list one level of a collection without listing everything below it.
    /// </summary>
    public const string RetentionPrefix = "retention/";

    /// <summary>Collection of demand forecasts, one per service.</summary>
    public const string ForecastPrefix = "forecast/";

    /// <summary>Collection of shadow requests, by service.</summary>
    public const string ShadowRequestsPrefix = "shadow-requests/";

    /// <summary>Collection of dead-lettered messages of the embedded event bus.</summary>
    public const string DeadLetterPrefix = "deadletter/";

    /// <summary>
    /// Collection of mirrored-request outcomes, per service, endpoint, hour and 4-s slot. (Versions before the slots kept a
    /// document per minute under <c>outcomes/</c>; a new name, so neither version reads the other's documents as its own.)
    /// </summary>
    public const string OutcomesPrefix = "outcome-slots/";

    /// <summary>Collection of shadow verdicts.</summary>
    public const string VerdictsPrefix = "verdicts/";

    /// <summary>
    /// The outcomes of copies <paramref name="endpointId"/> answered (or of production-noise pairs) in the slot of a UTC
    /// minute starting at <paramref name="slotStart"/>: <c>outcome-slots/{service}/{endpoint}/{yyyy-MM-ddTHH}/{mmss}</c>.
    /// An hour's slots form a collection of their own: the Dapr adapter keeps an index per collection, and one per
    /// endpoint would gain 900 entries an hour.
    /// </summary>
    public static string Outcomes(string service, string endpointId, DateTimeOffset slotStart) =>
        string.Create(CultureInfo.InvariantCulture, $"{OutcomesPrefix}{service}/{endpointId}/{slotStart.UtcDateTime:yyyy-MM-ddTHH'/'mmss}");

    /// <summary>The outcome slots of <paramref name="endpointId"/> in the UTC hour starting at <paramref name="hour"/>.</summary>
    public static string OutcomesOf(string service, string endpointId, DateTimeOffset hour) =>
        string.Create(CultureInfo.InvariantCulture, $"{OutcomesPrefix}{service}/{endpointId}/{hour.UtcDateTime:yyyy-MM-ddTHH}/");

    /// <summary>The latest verdict on shadow <paramref name="shadowId"/>.</summary>
    public static string Verdict(string service, string shadowId) => $"{VerdictsPrefix}{service}/{shadowId}";

    /// <summary>The routing table of <paramref name="service"/>.</summary>
    public static string Routing(string service) => RoutingPrefix + service;

    /// <summary>
    /// The per-minute metric records of one endpoint for the UTC hour holding <paramref name="time"/>:
    /// <c>metrics-by-day/{service}/{yyyy-MM-dd}/{endpoint}@{HH}</c>. The router rewrites the document at every minute: an
    /// hour's (up to 60 minutes, about 24 KB) costs about a twenty-fourth of what the whole day's (about 0.6 MB by its end)
    /// did. The hours stay keys of the day's collection ('@' is no character of an endpoint id), so readers still list one
    /// index per day.
    /// </summary>
    public static string Metrics(string service, string endpointId, DateTimeOffset time) =>
        string.Create(CultureInfo.InvariantCulture, $"{MetricsPrefix}{service}/{time.UtcDateTime:yyyy-MM-dd}/{endpointId}@{time.UtcDateTime:HH}");

    /// <summary>
    /// Where versions before <see cref="Metrics"/>'s hours kept one endpoint's records of a whole UTC day
    /// (<c>metrics-by-day/{service}/{yyyy-MM-dd}/{endpoint}</c>): still read, until the retention sweep deletes the day.
    /// </summary>
    public static string WholeDayMetrics(string service, string endpointId, DateOnly utcDay) =>
        string.Create(CultureInfo.InvariantCulture, $"{MetricsPrefix}{service}/{utcDay:yyyy-MM-dd}/{endpointId}");

    /// <summary>
    /// The UTC hour (0–23) of a <see cref="Metrics"/> key, from what follows its '@'; null for a
    /// <see cref="WholeDayMetrics"/> key (or any key without a valid hour), which may hold any minute of its day.
    /// </summary>
    public static int? MetricsHourOf(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var at = key.LastIndexOf('@');
        return at > key.LastIndexOf('/') && key.Length - at == 3 && int.TryParse(key.AsSpan(at + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var hour) && hour < 24
            ? hour
            : null;
    }

    /// <summary>The per-minute metric records of every endpoint of <paramref name="service"/> for one UTC day.</summary>
    public static string MetricsOn(string service, DateOnly utcDay) =>
        string.Create(CultureInfo.InvariantCulture, $"{MetricsPrefix}{service}/{utcDay:yyyy-MM-dd}/");

    /// <summary>What the retention sweep of <paramref name="kind"/> (<c>outcome-slots</c>, <c>metrics</c>) deletes for <paramref name="service"/> once it is old enough.</summary>
    public static string Retention(string kind, string service) => $"{RetentionPrefix}{kind}/{service}";

    /// <summary>The latest demand forecast of <paramref name="service"/>.</summary>
    public static string Forecast(string service) => ForecastPrefix + service;

    /// <summary>The shadow requests of <paramref name="service"/>.</summary>
    public static string ShadowRequests(string service) => $"{ShadowRequestsPrefix}{service}/";

    /// <summary>The count of requests created for <paramref name="service"/>, which serialises creations (not under the requests' prefix).</summary>
    public static string ShadowRequestCreations(string service) => $"shadow-request-creations/{service}";

    /// <summary>The decision on a shadow request (<c>{service}/{window start}</c>), see <see cref="Shadows.ShadowPlan"/>.</summary>
    public static string ShadowPlan(string requestId) => SepPlansPrefix + requestId;

    /// <summary>The prefix of every <see cref="ShadowPlan"/>.</summary>
    public const string SepPlansPrefix = "sep/plans/";

    /// <summary>An operator's <c>extend</c>, <c>resize</c> or <c>release</c> raised by hand on a workflow instance, see <see cref="Shadows.ShadowOverride"/>.</summary>
    public static string ShadowOverride(string instanceId) => "sep/overrides/" + instanceId;

    /// <summary>Endpoint-hours charged on a UTC day.</summary>
    public static string ShadowBudget(DateOnly utcDay) => "sep/budget/" + utcDay.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The kill switch engaged by an operator: while present, no shadows start and running ones are retired.</summary>
    public const string KillSwitch = "sep/kill-switch";

    /// <summary>What the PAE last did for <paramref name="service"/> and why.</summary>
    public static string PaeStatus(string service) => "pae/" + service;

    /// <summary>
    /// Where the next PAE run starts when the last one stopped at its deadline: kept in the store so a worker recycled
    /// between runs (a deployment, a scale-in) does not start again from the first service.
    /// </summary>
    public const string PaeResume = "pae-run/resume";

    /// <summary>The PAE's scoreboard of a service: recent errors of the model and each baseline, and forecasts waiting for their actuals.</summary>
    public static string ForecastScores(string service) => "forecast-scores/" + service;

    /// <summary>The event calendar of <paramref name="service"/>.</summary>
    public static string Events(string service) => "events/" + service;

    /// <summary>Collection of services' production data (the sample service's data API; what data sync copies to shadows).</summary>
    public const string DataPrefix = "data/";

    /// <summary>The production data of <paramref name="service"/>.</summary>
    public static string Data(string service) => $"{DataPrefix}{service}/";

    /// <summary>A shadow's own copy of its service's data.</summary>
    public static string ShadowData(string service, string shadowId) => $"shadow-data/{service}/{shadowId}/";

    /// <summary>What data sync last did for a shadow (mode, what happened, lag), for operators.</summary>
    public static string ShadowSyncRecord(string service, string shadowId) => $"sep/sync/{service}/{shadowId}";

    /// <summary>The key masked copies' replacements are derived with, made once per deployment (see <c>DataMasker</c>).</summary>
    public const string MaskKey = "sep/mask-key";

    /// <summary>Where a shadow's data sync stands (its watermark), beside the shadow's data.</summary>
    public static string ShadowSync(string service, string shadowId) => $"shadow-sync/{service}/{shadowId}";

    /// <summary>Validates a key against the rules every adapter enforces.</summary>
    /// <exception cref="ArgumentException">The key is empty, starts with '$' (reserved), has an empty path segment or contains '||' (Dapr's prefix separator).</exception>
    public static void Validate(string key, string paramName = "key")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key, paramName);
        if (key[0] == '$')
        {
            throw new ArgumentException($"State key '{key}' starts with '$', which is reserved for adapters.", paramName);
        }

        if (key.EndsWith('/') || key.StartsWith('/') || key.Contains("//", StringComparison.Ordinal))
        {
            throw new ArgumentException($"State key '{key}' has an empty path segment.", paramName);
        }

        if (key.Contains("||", StringComparison.Ordinal))
        {
            // daprd refuses it (ERR_MALFORMED_REQUEST): '||' separates its key prefix from the key.
            throw new ArgumentException($"State key '{key}' contains '||', which Dapr reserves as its key prefix separator.", paramName);
        }
    }

    /// <summary>Validates a collection prefix for <see cref="IStateStore.ListKeysAsync"/>.</summary>
    public static void ValidatePrefix(string prefix, string paramName = "prefix")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix, paramName);
        if (!prefix.EndsWith('/') || prefix[0] == '$' || prefix[0] == '/' || prefix.Contains("//", StringComparison.Ordinal))
        {
            throw new ArgumentException($"Prefix '{prefix}' must be a collection such as 'routing/': non-empty segments ending with '/'.", paramName);
        }
    }
}
