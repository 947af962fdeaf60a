using System.Text.Json;

namespace Shadowing.Embedded.Messaging;

/// <summary>
/// A message that could not be delivered, stored at <c>deadletter/{topic}/{subscriber}/{id}</c> so an operator
/// can inspect it and publish it again.
/// </summary>
public sealed record DeadLetter
{
    /// <summary>Message id, unique within the process run.</summary>
    public required string Id { get; init; }

    /// <summary>The topic.</summary>
    public required string Topic { get; init; }

    /// <summary>The subscriber that failed it.</summary>
    public required string Subscriber { get; init; }

    /// <summary>Deliveries tried; 0 when the subscriber's queue was full and the message never reached it.</summary>
    public required int Attempts { get; init; }

    /// <summary>The last delivery's error, or why it was never delivered.</summary>
    public required string Error { get; init; }

    /// <summary>When it was published.</summary>
    public required DateTimeOffset PublishedAt { get; init; }

    /// <summary>When it was given up.</summary>
    public required DateTimeOffset DeadLetteredAt { get; init; }

    /// <summary>The payload as published.</summary>
    public required JsonElement Data { get; init; }
}
