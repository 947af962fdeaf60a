namespace Shadowing.Core.Routing;

/// <summary>The part an endpoint plays in its service's routing table.</summary>
public enum EndpointRole
{
    /// <summary>Serves production traffic.</summary>
    Production,

    /// <summary>A shadow of production.</summary>
    Shadow,

    /// <summary>The endpoint of last resort.</summary>
    Default,
}
