using System.Runtime.CompilerServices;
using System.Text.Json;
using Shadowing.Core.Routing;
using Shadowing.Core.State;

namespace Shadowing.Core.Metrics;

/// <summary>
/// One endpoint's traffic through the router during one UTC minute: published on topic <c>metrics</c> and kept
/// in the state store by hour (<see cref="EndpointMetricsDay"/>) for forecasting and validation.
/// </summary>
public sealed record EndpointMinuteRecord
{
    /// <summary>The service.</summary>
    public required string Service { get; init; }

    /// <summary>The endpoint id in the routing table.</summary>
    public required string EndpointId { get; init; }

    /// <summary>The endpoint's role when the minute ended.</summary>
    public required EndpointRole Role { get; init; }

    /// <summary>Start of the minute (UTC).</summary>
    public required DateTimeOffset Minute { get; init; }

    /// <summary>Requests forwarded (every attempt, including ones that failed).</summary>
    public long Requests { get; init; }

    /// <summary>Attempts that failed: 5xx answers, connect failures and timeouts.</summary>
    public long Errors { get; init; }

    /// <summary>Latency median, ms.</summary>
    public double LatencyP50Ms { get; init; }

    /// <summary>Latency 90th percentile, ms.</summary>
    public double LatencyP90Ms { get; init; }

    /// <summary>Latency 99th percentile, ms.</summary>
    public double LatencyP99Ms { get; init; }

    /// <summary>Mean latency, ms.</summary>
    public double LatencyMeanMs { get; init; }

    /// <summary>Largest latency, ms.</summary>
    public double LatencyMaxMs { get; init; }

    /// <summary>Most requests in flight at once during the minute.</summary>
    public int InFlightPeak { get; init; }

    /// <summary>Latency counts per <see cref="LatencyHistogram"/> bucket.</summary>
    public IReadOnlyList<long> LatencyBuckets { get; init; } = [];

    /// <summary>
    /// Mirrored copies this endpoint answered in the minute (a shadow warming up or being validated), kept apart from
    /// the counts above so that mirrored traffic is never taken for demand; null when there were none.
    /// </summary>
    public MirrorMinute? Mirror { get; init; }

    /// <summary>
    /// Ids of the router records this one is made of: one when a router writes it, and in a stored hour every replica's
    /// and flush's merged into the minute (<see cref="EndpointMetricsDay.With"/>). A write retried after its answer was
    /// lost carries ids the stored minute already has, and is not merged twice. Empty in records written before ids
    /// existed (those merge as before) and in aggregates made with <see cref="Merge"/>.
    /// </summary>
    public IReadOnlyList<string> RecordIds { get; init; } = [];

    /// <summary>Whether every one of <paramref name="other"/>'s ids is already merged into this record.</summary>
    public bool Contains(EndpointMinuteRecord other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return other.RecordIds.Count > 0 && other.RecordIds.All(RecordIds.Contains);
    }

    /// <summary>
    /// Adds another record of the same endpoint and minute (from another router replica): counts add, the
    /// peak is the larger one (an under-estimate of the true joint peak), percentiles come from the merged buckets.
    /// </summary>
    public EndpointMinuteRecord Merge(EndpointMinuteRecord other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Service != Service || other.EndpointId != EndpointId || other.Minute != Minute)
        {
            throw new ArgumentException("Only records of the same service, endpoint and minute can be merged.", nameof(other));
        }

        var buckets = new long[LatencyHistogram.BucketCount];
        for (var i = 0; i < buckets.Length; i++)
        {
            buckets[i] = (i < LatencyBuckets.Count ? LatencyBuckets[i] : 0) + (i < other.LatencyBuckets.Count ? other.LatencyBuckets[i] : 0);
        }

        var requests = Requests + other.Requests;
        var max = Math.Max(LatencyMaxMs, other.LatencyMaxMs);
        return this with
        {
            Role = other.Role,
            Requests = requests,
            Errors = Errors + other.Errors,
            InFlightPeak = Math.Max(InFlightPeak, other.InFlightPeak),
            LatencyMaxMs = max,
            LatencyMeanMs = requests == 0 ? 0 : ((LatencyMeanMs * Requests) + (other.LatencyMeanMs * other.Requests)) / requests,
            LatencyP50Ms = LatencyHistogram.Percentile(buckets, 0.50, max),
            LatencyP90Ms = LatencyHistogram.Percentile(buckets, 0.90, max),
            LatencyP99Ms = LatencyHistogram.Percentile(buckets, 0.99, max),
            LatencyBuckets = buckets,
            Mirror = Mirror is null ? other.Mirror : other.Mirror is null ? Mirror : Mirror.Merge(other.Mirror),

            // An aggregate of records (a reader's step, a stored minute) is no router's record: only the stored document keeps ids.
            RecordIds = [],
        };
    }
}

/// <summary>One endpoint's answers to mirrored copies in one minute.</summary>
public sealed record MirrorMinute
{
    /// <summary>Copies sent to the endpoint.</summary>
    public long Requests { get; init; }

    /// <summary>Copies it failed: 5xx answers, connect failures and timeouts.</summary>
    public long Errors { get; init; }

    /// <summary>Copies whose answer could be compared with production's (both bodies captured).</summary>
    public long Compared { get; init; }

    /// <summary>Compared copies whose answer differed from production's (status or body, ignored fields left out).</summary>
    public long Differing { get; init; }

    /// <summary>Mean latency, ms.</summary>
    public double LatencyMeanMs { get; init; }

    /// <summary>Largest latency, ms.</summary>
    public double LatencyMaxMs { get; init; }

    /// <summary>Latency median, ms.</summary>
    public double LatencyP50Ms { get; init; }

    /// <summary>Latency 99th percentile, ms.</summary>
    public double LatencyP99Ms { get; init; }

    /// <summary>Latency counts per <see cref="LatencyHistogram"/> bucket.</summary>
    public IReadOnlyList<long> LatencyBuckets { get; init; } = [];

    /// <summary>Adds another minute of the same endpoint (another router replica).</summary>
    public MirrorMinute Merge(MirrorMinute other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var buckets = new long[LatencyHistogram.BucketCount];
        for (var i = 0; i < buckets.Length; i++)
        {
            buckets[i] = (i < LatencyBuckets.Count ? LatencyBuckets[i] : 0) + (i < other.LatencyBuckets.Count ? other.LatencyBuckets[i] : 0);
        }

        var requests = Requests + other.Requests;
        var max = Math.Max(LatencyMaxMs, other.LatencyMaxMs);
        return new MirrorMinute
        {
            Requests = requests,
            Errors = Errors + other.Errors,
            Compared = Compared + other.Compared,
            Differing = Differing + other.Differing,
            LatencyMaxMs = max,
            LatencyMeanMs = requests == 0 ? 0 : ((LatencyMeanMs * Requests) + (other.LatencyMeanMs * other.Requests)) / requests,
            LatencyP50Ms = LatencyHistogram.Percentile(buckets, 0.50, max),
            LatencyP99Ms = LatencyHistogram.Percentile(buckets, 0.99, max),
            LatencyBuckets = buckets,
        };
    }
}

/// <summary>
/// Minute records of one endpoint for one UTC hour (<see cref="Hour"/>), stored at
/// <c>metrics-by-day/{service}/{yyyy-MM-dd}/{endpoint}@{HH}</c>; in documents of versions before, for a whole UTC day.
/// </summary>
public sealed record EndpointMetricsDay
{
    /// <summary>
    /// The documents of every endpoint of <paramref name="service"/> that may hold a minute from <paramref name="from"/>
    /// up to <paramref name="to"/> (exclusive), one at a time: only the window's days are listed and, of the hours'
    /// documents, only the window's read. Whole-day documents (<see cref="StateKeys.WholeDayMetrics"/>) of those days come in
    /// the listing's order among them, then documents of the first layout (<see cref="StateKeys.LegacyMetrics"/>: history
    /// from before an upgrade, and what older replicas write during one), whatever minutes they hold: callers take the
    /// window's minutes. Listing the first layout reads every endpoint the service had before the upgrade, a number that
    /// no longer grows. A document that cannot be read (a newer router's) is handed to <c>unreadable</c> and left out, its
    /// minutes a gap, so that one document does not hide weeks of history; without <c>unreadable</c> it throws.
    /// </summary>
    public static async IAsyncEnumerable<EndpointMetricsDay> ReadAsync(IStateStore store, string service, DateTimeOffset from, DateTimeOffset to, Action<string, JsonException>? unreadable = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (to <= from)
        {
            yield break;
        }

        var first = DateOnly.FromDateTime(from.UtcDateTime);
        var last = DateOnly.FromDateTime(to.AddTicks(-1).UtcDateTime);
        for (var day = first; day <= last; day = day.AddDays(1))
        {
            var dayStart = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            foreach (var key in await store.ListKeysAsync(StateKeys.MetricsOn(service, day), cancellationToken).ConfigureAwait(false))
            {
                if (StateKeys.MetricsHourOf(key) is { } hour && (dayStart.AddHours(hour + 1) <= from || dayStart.AddHours(hour) >= to))
                {
                    continue;
                }

                if (await ReadAsync(store, key, unreadable, cancellationToken).ConfigureAwait(false) is { } document)
                {
                    yield return document;
                }
            }
        }

        foreach (var key in await store.ListKeysAsync($"{StateKeys.LegacyMetricsPrefix}{service}/", cancellationToken).ConfigureAwait(false))
        {
            if (StateKeys.LegacyMetricsDayOf(key) is { } day && day >= first && day <= last
                && await ReadAsync(store, key, unreadable, cancellationToken).ConfigureAwait(false) is { } document)
            {
                yield return document;
            }
        }
    }

    private static async Task<EndpointMetricsDay?> ReadAsync(IStateStore store, string key, Action<string, JsonException>? unreadable, CancellationToken cancellationToken)
    {
        try
        {
            return (await store.GetJsonAsync<EndpointMetricsDay>(key, cancellationToken).ConfigureAwait(false))?.Value;
        }
        catch (JsonException ex) when (unreadable is not null)
        {
            unreadable(key, ex);
            return null;
        }
    }

    /// <summary>The service.</summary>
    public required string Service { get; init; }

    /// <summary>The endpoint id.</summary>
    public required string EndpointId { get; init; }

    /// <summary>The UTC day.</summary>
    public required DateOnly Day { get; init; }

    /// <summary>The UTC hour (0–23) whose minutes the document holds; null in a document holding a whole day (versions before).</summary>
    public int? Hour { get; init; }

    /// <summary>Minute records in time order, at most one per minute.</summary>
    public IReadOnlyList<EndpointMinuteRecord> Minutes { get; init; } = [];

    /// <summary>
    /// Returns a copy with <paramref name="record"/> added, merged into an existing record of the same minute; the day
    /// unchanged when that minute already holds it (by <see cref="EndpointMinuteRecord.RecordIds"/>: a retried write).
    /// </summary>
    public EndpointMetricsDay With(EndpointMinuteRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var minutes = Minutes.ToList();
        var index = minutes.FindIndex(m => m.Minute == record.Minute);
        if (index >= 0 && minutes[index].Contains(record))
        {
            return this;
        }

        if (index >= 0)
        {
            minutes[index] = minutes[index].Merge(record) with { RecordIds = [.. minutes[index].RecordIds, .. record.RecordIds] };
        }
        else
        {
            minutes.Add(record);
            minutes.Sort((a, b) => a.Minute.CompareTo(b.Minute));
        }

        return this with { Minutes = minutes };
    }
}
