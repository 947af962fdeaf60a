using Microsoft.Extensions.DependencyInjection;
using PuppeteerSharp;
using Shadowing.Cli.Tests.Up;
using Shadowing.Cli.Up;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;

namespace Shadowing.Cli.Tests.Ui;

/// <summary>
/// The dashboard in a real headless browser (the system's chromium; <c>.ci/run</c> installs Debian's): served on the
/// admin port of the embedded host, it shows the service's shadow with its phase and follows the phase when it changes,
/// without a script or policy error. The page's screenshot is attached to the test result.
/// </summary>
public sealed class DashboardTests
{
    private const string ShadowId = "orders-shadow-ui";
    private static readonly string[] Browsers = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Dashboard_ShowsTheShadowAndItsPhase_AndFollowsAPhaseChange()
    {
        var browserPath = Environment.GetEnvironmentVariable("SHADOWING_CHROMIUM") is { Length: > 0 } configured ? configured : Browsers.FirstOrDefault(File.Exists);
        if (browserPath is null)
        {
            Assert.Skip($"No chromium at {string.Join(", ", Browsers)} (or SHADOWING_CHROMIUM): install Debian's chromium (.ci/run does) to run the dashboard test.");
        }

        var folder = Directory.CreateTempSubdirectory("ui-").FullName;
        await using var host = await SepHost.StartAsync(folder, SepHost.Table(new Uri("http://127.0.0.1:9")), new Dictionary<string, string?>(), metrics: null, Ct);
        await using var admin = await UpAdmin.StartAsync(host.App.Services, "http://127.0.0.1:0", Ct);
        var now = TimeProvider.System.GetUtcNow();
        await host.Tables.AddShadowAsync("orders", new ShadowEndpoint { Id = ShadowId, Address = "http://127.0.0.1:9", State = ShadowState.WarmingUp, StateChangedAt = now }, now.AddDays(-1), Ct);

        await using var browser = await Puppeteer.LaunchAsync(new LaunchOptions { ExecutablePath = browserPath, Headless = true, Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
        await using var page = await browser.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, e) =>
        {
            if (e.Message.Type == ConsoleType.Error)
            {
                lock (errors)
                {
                    errors.Add($"{e.Message.Text} ({e.Message.Location?.URL})");
                }
            }
        };
        page.PageError += (_, e) =>
        {
            lock (errors)
            {
                errors.Add(e.Message);
            }
        };
        await page.SetViewportAsync(new ViewPortOptions { Width = 1400, Height = 900 });
        await page.GoToAsync(UpAdmin.AddressOf(admin) + "/ui");

        const string phase = $"tr[data-shadow='{ShadowId}'] [data-testid=phase]";
        await page.WaitForSelectorAsync(phase, new WaitForSelectorOptions { Timeout = 30_000 });
        Assert.Equal("WarmingUp", await page.EvaluateExpressionAsync<string>($"document.querySelector(\"{phase}\").textContent"));
        Assert.Contains("orders-1", await page.EvaluateExpressionAsync<string>("document.querySelector('[data-testid=endpoints]').textContent"), StringComparison.Ordinal);

        await host.Tables.MoveShadowAsync("orders", ShadowId, ShadowState.PreWarmed, TimeProvider.System.GetUtcNow(), Ct);
        await page.WaitForFunctionAsync($"() => document.querySelector(\"{phase}\")?.textContent === 'PreWarmed'", new WaitForFunctionOptions { Timeout = 30_000 });

        var screenshot = await page.ScreenshotDataAsync(new ScreenshotOptions { FullPage = true });
        TestContext.Current.AddAttachment("dashboard.png", screenshot, "image/png");
        lock (errors)
        {
            Assert.True(errors.Count == 0, "console errors: " + string.Join(" | ", errors));
        }

        Directory.Delete(folder, recursive: true);
    }
}
