namespace Shadowing.Core.Messaging;

/// <summary>The bus did not accept a message.</summary>
public sealed class EventBusException(string message, Exception? innerException = null) : Exception(message, innerException);
