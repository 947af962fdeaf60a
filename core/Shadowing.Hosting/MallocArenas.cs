using System.Runtime.InteropServices;

namespace Shadowing.Hosting;

/// <summary>
/// Caps glibc's malloc arenas for the process at <see cref="Max"/>, as <c>MALLOC_ARENA_MAX=2</c> in its environment
/// would. With glibc's default (up to eight arenas per core) a long-running app's resident memory grew more outside the
/// GC heap (README, "Reliability"). glibc reads the variable only when a process starts, and by the time <c>Main</c>
/// runs the runtime's own threads have made about eight arenas, which a later <c>mallopt</c> cannot take back. So a
/// long-running app starts itself again (<c>execv</c>: the same process id, arguments, environment, descriptors and
/// parent) with the variable set; where that is not wanted or fails, <c>mallopt</c> at least stops further arenas.
/// </summary>
public static unsafe partial class MallocArenas
{
    /// <summary>The cap: the process's threads share at most this many arenas.</summary>
    public const int Max = 2;

    /// <summary>The variable glibc reads at start; when it is set (even empty), it is the operator's choice and left alone.</summary>
    public const string EnvironmentVariable = "MALLOC_ARENA_MAX";

    // glibc's malloc.h: M_ARENA_MAX.
    private const int ArenaMaxParameter = -8;

    /// <summary>What <see cref="Apply(bool, string?)"/> did.</summary>
    public enum Outcome
    {
        /// <summary>Nothing: not Linux with glibc, or the operator set <see cref="EnvironmentVariable"/>.</summary>
        LeftAlone,

        /// <summary>Further arenas capped with <c>mallopt</c>; those made before stay.</summary>
        Capped,
    }

    /// <summary>
    /// Call first thing in <c>Main</c>. Unless <paramref name="environmentValue"/> (the variable's value) is set, or this
    /// is not Linux with glibc: when <paramref name="restart"/>, starts the program again with the variable set (and does
    /// not return); otherwise, or when that fails, caps further arenas with <c>mallopt</c>.
    /// </summary>
    public static Outcome Apply(bool restart, string? environmentValue)
    {
        if (!OperatingSystem.IsLinux() || environmentValue is not null)
        {
            return Outcome.LeftAlone;
        }

        try
        {
            if (restart)
            {
                StartAgainCapped(); // returns only when execv failed
            }

            return Mallopt(ArenaMaxParameter, Max) == 1 ? Outcome.Capped : Outcome.LeftAlone;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or IOException or UnauthorizedAccessException)
        {
            return Outcome.LeftAlone; // a C library without these (musl), or no /proc
        }
    }

    /// <summary><see cref="Apply(bool, string?)"/> with this process's <see cref="EnvironmentVariable"/>.</summary>
    public static Outcome Apply(bool restart) => Apply(restart, Environment.GetEnvironmentVariable(EnvironmentVariable));

    private static void StartAgainCapped()
    {
        // The arguments as the kernel keeps them, bytes each ended by a NUL (never re-encoded); the program is
        // /proc/self/exe (dotnet or the apphost). setenv then execv passes the C environment on untouched, plus the cap;
        // the restarted process sees the variable set, so it never restarts again.
        var cmdline = File.ReadAllBytes("/proc/self/cmdline");
        if (cmdline.Length == 0 || cmdline[^1] != 0 || Setenv(EnvironmentVariable, Max.ToString(System.Globalization.CultureInfo.InvariantCulture), overwrite: 1) != 0)
        {
            return;
        }

        // The runtime's diagnostics socket is named by process id and start time, which execv keeps, and the restarted
        // runtime does not bind over a file left there: remove it, or dotnet-counters, -trace and -dump could not attach.
        var directory = Environment.GetEnvironmentVariable("TMPDIR") is { Length: > 0 } tmp ? tmp : "/tmp";
        foreach (var socket in Directory.EnumerateFiles(directory, $"dotnet-diagnostic-{Environment.ProcessId}-*-socket"))
        {
            File.Delete(socket);
        }

        var count = cmdline.Count(b => b == 0);
        var arguments = new nint[count + 1];
        fixed (byte* start = cmdline)
        {
            for (int i = 0, at = 0; i < count; i++)
            {
                arguments[i] = (nint)(start + at);
                at = Array.IndexOf(cmdline, (byte)0, at) + 1;
            }

            fixed (byte* path = "/proc/self/exe\0"u8)
            fixed (nint* argv = arguments)
            {
                Execv(path, argv);
            }
        }
    }

    // libc.so.6, not "libc": on Debian libc.so is a linker script that dlopen cannot load.
    [LibraryImport("libc.so.6", EntryPoint = "mallopt")]
    private static partial int Mallopt(int parameter, int value);

    [LibraryImport("libc.so.6", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Setenv(string name, string value, int overwrite);

    [LibraryImport("libc.so.6", EntryPoint = "execv")]
    private static partial int Execv(byte* path, nint* arguments);
}
