namespace Shadowing.TestUtilities.Data;

/// <summary>
/// Files of the repository, and the real series in ../shared/data (NAB, MIT licence) next to it. Tests that need
/// those call <see cref="RequireNab"/>, which skips the test with a clear message on a clone without that folder.
/// </summary>
public static class RepositoryFiles
{
    /// <summary>The repository root (the folder with Shadowing.Functions.sln).</summary>
    public static string Root
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Shadowing.Functions.sln")))
            {
                directory = directory.Parent;
            }

            return directory?.FullName ?? throw new InvalidOperationException("Shadowing.Functions.sln not found above the test output.");
        }
    }

    /// <summary>
    /// The NAB folder: <c>$SHADOWING_SHARED_DATA/nab</c> when that variable is set, else ../shared/data/nab next to
    /// the repository, whether or not it exists.
    /// </summary>
    public static string NabDirectory => Environment.GetEnvironmentVariable("SHADOWING_SHARED_DATA") is { Length: > 0 } data
        ? Path.Combine(data, "nab")
        : Path.GetFullPath(Path.Combine(Root, "..", "shared", "data", "nab"));

    /// <summary>The path of a NAB file; skips the test when ../shared/data is absent.</summary>
    public static string RequireNab(string file)
    {
        var path = Path.Combine(NabDirectory, file);
        if (!File.Exists(path))
        {
            Assert.Skip($"Skipped: needs the shared NAB data at {path}, which is not present (it lives next to the repository, not in it).");
        }

        return path;
    }
}
