namespace Shadowing.Core.Randomness;

/// <summary>
/// The only way domain code obtains randomness, so that tests can make it deterministic.
/// </summary>
public interface IRandomSource
{
    /// <summary>Returns a non-negative integer less than <paramref name="maxExclusive"/>.</summary>
    int Next(int maxExclusive);

    /// <summary>Returns a double in [0, 1).</summary>
    double NextDouble();
}

/// <summary>Factory for the default and the seeded <see cref="IRandomSource"/>.</summary>
public static class RandomSource
{
    /// <summary>The process-wide, thread-safe source used in production.</summary>
    public static IRandomSource Shared { get; } = new SharedRandomSource();

    /// <summary>A deterministic source for tests and reproducible simulations. Not thread-safe.</summary>
    public static IRandomSource Seeded(int seed) => new SeededRandomSource(seed);

#pragma warning disable RS0030 // This file is the randomness seam: the one place allowed to touch System.Random.
    private sealed class SharedRandomSource : IRandomSource
    {
        public int Next(int maxExclusive) => Random.Shared.Next(maxExclusive);

        public double NextDouble() => Random.Shared.NextDouble();
    }

    private sealed class SeededRandomSource(int seed) : IRandomSource
    {
        private readonly Random _random = new(seed);

        public int Next(int maxExclusive) => _random.Next(maxExclusive);

        public double NextDouble() => _random.NextDouble();
    }
#pragma warning restore RS0030
}
