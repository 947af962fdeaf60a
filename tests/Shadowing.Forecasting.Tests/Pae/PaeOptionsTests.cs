using Shadowing.Forecasting.Models;
using Shadowing.Forecasting.Pae;

namespace Shadowing.Forecasting.Tests.Pae;

public sealed class PaeOptionsTests
{
    [Theory]
    [InlineData(2, 0.5, 1)]
    [InlineData(8, 0.5, 4)]
    [InlineData(1, 0.5, 1)]
    [InlineData(4, 0.01, 1)]
    [InlineData(4, 1.0, 4)]
    public void TrainingThreads_NotSet_IsTheShareOfTheCores_AtLeastOne(int cores, double share, int expected)
    {
        var options = new PaeOptions { TrainingCoreShare = share };

        Assert.Equal(expected, options.TrainingThreads(cores));
    }

    [Fact]
    public void TrainingThreads_Set_WinsOverTheShare()
    {
        var options = new PaeOptions { TrainingCoreShare = 0.5, Forecaster = new ForecasterOptions { Threads = 3 } };

        Assert.Equal(3, options.TrainingThreads(16));
    }
}
