namespace Shadowing.Core.Data;

/// <summary>The value hash seeding compares: 64-bit FNV-1a (fast, no package; collisions only cost a missed copy with 2⁻⁶⁴ odds).</summary>
public static class DataHash
{
    private const ulong Offset = 14695981039346656037;
    private const ulong Prime = 1099511628211;

    /// <summary>Hashes <paramref name="value"/>.</summary>
    public static ulong Of(ReadOnlySpan<byte> value)
    {
        var hash = Offset;
        foreach (var b in value)
        {
            hash = (hash ^ b) * Prime;
        }

        return hash;
    }
}
