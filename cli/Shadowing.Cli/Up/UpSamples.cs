using System.ComponentModel.DataAnnotations;
using Shadowing.Cli.Samples;
using System.Globalization;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.State;
using Shadowing.Embedded.Provisioning;

namespace Shadowing.Cli.Up;

/// <summary>Reads and checks the <c>Samples</c> section of the <c>up</c> configuration, and turns running samples into routing tables.</summary>
internal static class UpSamples
{
    public const string Section = "Samples";

    /// <summary>Binds <c>Samples</c>; every problem names the configuration key to fix.</summary>
    /// <exception cref="InvalidOperationException">The section is invalid.</exception>
    public static IReadOnlyDictionary<string, SampleServiceOptions> Read(IConfiguration configuration)
    {
        var services = configuration.GetSection(Section).Get<Dictionary<string, SampleServiceOptions>>() ?? [];
        var problems = new List<string>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (service, options) in services)
        {
            var prefix = $"{Section}:{service}";
            if (!ServiceNames.IsValid(service) || ServiceNames.IsReserved(service))
            {
                problems.Add($"{prefix}: '{service}' is not a usable service name ({ServiceNames.Rule}; not {string.Join(", ", ServiceNames.Reserved)})");
            }

            Check(prefix, options, problems);
            if (options.Production.Count == 0)
            {
                problems.Add($"{prefix}:Production: give at least one production endpoint");
            }

            for (var i = 0; i < options.Production.Count; i++)
            {
                CheckEndpoint($"{prefix}:Production:{i}", options.Production[i], ids, problems);
            }

            if (options.Default is { } fallback)
            {
                CheckEndpoint($"{prefix}:Default", fallback, ids, problems);
            }
        }

        return problems.Count == 0
            ? services
            : throw new InvalidOperationException("The up configuration is invalid:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", problems));
    }

    /// <summary>The routing table of one sample service, given where each of its endpoints (by id) listens.</summary>
    public static RoutingTable ToRoutingTable(string service, SampleServiceOptions options, Func<string, Uri> address)
    {
        Uri AddressOf(SampleEndpointOptions endpoint) => address(endpoint.Id);

        return new RoutingTable
        {
            Service = service,
            Production = options.Production.Select(p => new ProductionEndpoint
            {
                Id = p.Id,
                Address = AddressOf(p).ToString().TrimEnd('/'),
                MaxConcurrency = p.MaxConcurrency ?? p.Capacity,
                MaxLatencyMs = options.MaxLatencyMs,
            }).ToArray(),
            Default = options.Default is { } d ? new DefaultEndpoint { Id = d.Id, Address = AddressOf(d).ToString().TrimEnd('/') } : null,

            // Off until the first shadow's workflow turns it on; the sample's answers name the endpoint that served and
            // count requests, which differ between any two copies and are no sign of a bad shadow.
            Mirror = new MirrorPolicy { Enabled = false, IgnoreFields = ["endpoint", "served"] },
        };
    }

    /// <summary>
    /// How the local-process provisioner runs a shadow of a sample service: this executable's <c>sample-endpoint</c> with
    /// the first production endpoint's capacity and latency (multiplied and raised by the shadow's size and injected
    /// faults through the environment).
    /// </summary>
    public static LocalServiceTemplate ShadowTemplate(string service, SampleServiceOptions options, string? dataState = null)
    {
        var model = options.Production[0];
        List<string> template =
        [
            "sample-endpoint", "--service", service, "--id", "{shadowId}", "--port", "{port}",
            "--capacity", model.Capacity.ToString(CultureInfo.InvariantCulture),
            "--latency-ms", model.LatencyMs.ToString(CultureInfo.InvariantCulture),
            "--error-rate", model.ErrorRate.ToString(CultureInfo.InvariantCulture),
            "--exit-with-parent",
        ];
        if (dataState is not null)
        {
            // The shadow's data API works on its own copy (what data sync writes), never on production's records.
            template.AddRange(["--data-state", dataState, "--data-prefix", StateKeys.ShadowData(service, "{shadowId}")]);
        }

        var (command, arguments) = SampleProcess.SelfCommand(template);
        return new LocalServiceTemplate { Command = command, Arguments = arguments };
    }

    private static void CheckEndpoint(string prefix, SampleEndpointOptions endpoint, HashSet<string> ids, List<string> problems)
    {
        Check(prefix, endpoint, problems);
        if (!ServiceNames.IsValid(endpoint.Id))
        {
            problems.Add($"{prefix}:Id: '{endpoint.Id}' is not a valid endpoint id ({ServiceNames.Rule})");
        }
        else if (!ids.Add(endpoint.Id))
        {
            problems.Add($"{prefix}:Id: '{endpoint.Id}' is used twice");
        }
    }

    private static void Check(string prefix, object value, List<string> problems)
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(value, new ValidationContext(value), results, validateAllProperties: true))
        {
            problems.AddRange(results.Select(r => $"{prefix}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage}"));
        }
    }
}
