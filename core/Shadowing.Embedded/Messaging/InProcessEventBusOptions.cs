using System.ComponentModel.DataAnnotations;

namespace Shadowing.Embedded.Messaging;

/// <summary>Delivery settings of the in-process bus (section <c>Shadowing:Embedded:PubSub</c>).</summary>
public sealed class InProcessEventBusOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Shadowing:Embedded:PubSub";

    /// <summary>Deliveries tried before a message is dead-lettered. Default 5.</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Wait after the first failed delivery; doubles after each further failure. Default 100 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Cap on the wait between deliveries. Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Messages queued per subscriber; beyond that a message is dead-lettered for that subscriber (publishers never wait). Default 10,000.</summary>
    [Range(1, 10_000_000)]
    public int QueueCapacity { get; set; } = 10_000;

    /// <summary>On shutdown, how long queued messages may still be delivered. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
