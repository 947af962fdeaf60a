namespace Shadowing.Core.Messaging;

/// <summary>
/// A message its handler can never act on (it names another service's data, a field it needs is missing): delivering it
/// again cannot help, so the buses dead-letter it at once instead of after their retries (with Dapr the subscriber answers
/// DROP, which daprd sends to the subscription's dead-letter topic), as they do with a payload that does not parse.
/// </summary>
public sealed class UnprocessableMessageException(string message, Exception? innerException = null) : Exception(message, innerException);
