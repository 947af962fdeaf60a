namespace Shadowing.Hosting.Tests;

public sealed class MallocArenasTests
{
    [Fact]
    public void Apply_OnLinuxGlibc_CapsFurtherArenas_UnlessTheOperatorSetTheVariable()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && (File.Exists("/lib/x86_64-linux-gnu/libc.so.6") || File.Exists("/lib/aarch64-linux-gnu/libc.so.6")), "mallopt is glibc's");

        Assert.Equal(MallocArenas.Outcome.Capped, MallocArenas.Apply(restart: false, environmentValue: null));
        Assert.Equal(MallocArenas.Outcome.LeftAlone, MallocArenas.Apply(restart: true, environmentValue: "8")); // glibc applied the operator's choice at start
        Assert.Equal(MallocArenas.Outcome.LeftAlone, MallocArenas.Apply(restart: true, environmentValue: "")); // set, even empty: never a restart loop
    }
}
