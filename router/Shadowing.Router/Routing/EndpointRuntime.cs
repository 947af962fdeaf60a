using Shadowing.Core.Health;
using Shadowing.Core.Routing;
using Shadowing.Router.Metrics;

namespace Shadowing.Router.Routing;

/// <summary>
/// What the router knows about one endpoint over time: health, requests in flight, latency EWMA and the
/// current minute's traffic. It outlives routing-table snapshots, so a refresh does not forget health.
/// </summary>
internal sealed class EndpointRuntime
{
    private readonly TimeProvider _time;
    private readonly double _alpha;
    private int _inFlight;
    private long _latencyEwmaBits = BitConverter.DoubleToInt64Bits(double.NaN);

    public EndpointRuntime(string service, string id, string address, EndpointRole role, EndpointHealth health, TimeProvider time, double ewmaAlpha)
    {
        Service = service;
        Id = id;
        Address = address;
        Role = role;
        Health = health;
        _time = time;
        _alpha = ewmaAlpha;
        Minutes = new MinuteAccumulators(service, id);
    }

    public string Service { get; }

    public string Id { get; }

    public string Address { get; }

    /// <summary>The role in the latest snapshot.</summary>
    public EndpointRole Role { get; set; }

    public EndpointHealth Health { get; }

    public MinuteAccumulators Minutes { get; }

    public int InFlight => Volatile.Read(ref _inFlight);

    public double? LatencyEwmaMs
    {
        get
        {
            var value = BitConverter.Int64BitsToDouble(Interlocked.Read(ref _latencyEwmaBits));
            return double.IsNaN(value) ? null : value;
        }
    }

    public EndpointLoad Load => new(Health.IsAvailable(_time.GetUtcNow()), InFlight, LatencyEwmaMs);

    /// <summary>Reserves a slot unless <paramref name="maxConcurrency"/> requests are already in flight.</summary>
    public bool TryEnter(int? maxConcurrency)
    {
        while (true)
        {
            var current = Volatile.Read(ref _inFlight);
            if (maxConcurrency is { } max && current >= max)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _inFlight, current + 1, current) == current)
            {
                Minutes.ObserveInFlight(_time.GetUtcNow(), current + 1);
                return true;
            }
        }
    }

    public void Exit() => Interlocked.Decrement(ref _inFlight);

    /// <summary>Folds a latency sample (from traffic or a probe) into the EWMA.</summary>
    public void ObserveLatency(double milliseconds)
    {
        while (true)
        {
            var bits = Interlocked.Read(ref _latencyEwmaBits);
            var current = BitConverter.Int64BitsToDouble(bits);
            var next = double.IsNaN(current) ? milliseconds : (_alpha * milliseconds) + ((1 - _alpha) * current);
            if (Interlocked.CompareExchange(ref _latencyEwmaBits, BitConverter.DoubleToInt64Bits(next), bits) == bits)
            {
                return;
            }
        }
    }
}
