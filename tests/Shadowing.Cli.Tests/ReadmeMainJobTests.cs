using System.Net;
using System.Text.RegularExpressions;

namespace Shadowing.Cli.Tests;

/// <summary>The README's first command (the main job on the embedded default) starts, and the router answers.</summary>
public sealed partial class ReadmeMainJobTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ReadmeMainJobCommand_Starts_AndARequestThroughTheRouterIsAnswered()
    {
        var readme = await File.ReadAllTextAsync(Path.Combine(CliProcess.RepositoryRoot, "README.md"), Ct);
        var command = MainJob().Match(readme);
        Assert.True(command.Success, "README.md shows `dotnet run --project cli/Shadowing.Cli -- up` in its first code block");
        var state = Directory.CreateTempSubdirectory("shadowing-readme-").FullName;
        try
        {
            // Exactly the README's command, from the repository root, with only the state file moved out of the tree.
            await using var up = CliProcess.Start("bash", ["-c", command.Value + " --state " + Path.Combine(state, "state.db")], CliProcess.RepositoryRoot);
            var router = await up.RouterAddressAsync(TimeSpan.FromMinutes(3), Ct);
            using var http = new HttpClient { BaseAddress = router };

            using var response = await http.GetAsync(new Uri("/orders/hello", UriKind.Relative), Ct);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("\"service\":\"orders\"", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [GeneratedRegex(@"dotnet run --project cli/Shadowing\.Cli -- up\b[^\n`]*")]
    private static partial Regex MainJob();
}
