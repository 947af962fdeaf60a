using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NSubstitute;
using Shadowing.Router.Hosting;
using Shadowing.Router.Mirroring;

namespace Shadowing.Router.Tests.Hosting;

public sealed class RouterServiceCollectionExtensionsTests
{
    [Fact]
    public void OutcomeRecorder_StopsAfterTheMirrorSenders_SoItsFinalFlushHoldsTheLastCopiesOutcomes()
    {
        var services = new ServiceCollection();
        services.AddShadowingRouter(new ConfigurationBuilder().Build());

        var order = services.Where(d => d.ServiceType == typeof(IHostedService)).Select(HostedType).ToList();

        // The host stops its hosted services in the reverse order of their registration.
        var recorder = order.IndexOf(typeof(OutcomeRecorder));
        Assert.InRange(recorder, 0, order.IndexOf(typeof(MirrorDispatcher)) - 1);
        Assert.InRange(recorder, 0, order.IndexOf(typeof(MirrorReplayer)) - 1);
    }

    /// <summary>The service a hosted-service registration resolves: its factories forward to a singleton by type.</summary>
    private static Type? HostedType(ServiceDescriptor descriptor)
    {
        if (descriptor.ImplementationType is { } type)
        {
            return type;
        }

        var provider = Substitute.For<IServiceProvider>();
        try
        {
            descriptor.ImplementationFactory?.Invoke(provider);
        }
        catch (InvalidOperationException)
        {
            // The substitute resolves nothing; the type it was asked for is what matters.
        }

        return provider.ReceivedCalls().Select(call => call.GetArguments()[0] as Type).FirstOrDefault();
    }
}
