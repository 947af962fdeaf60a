using System.Collections;
using System.Runtime.InteropServices;

namespace Shadowing.Hosting;

/// <summary>
/// Caps glibc's malloc arenas for the process at <see cref="Max"/>, as <c>MALLOC_ARENA_MAX=2</c> in its environment
/// would. With glibc's default (up to eight arenas per core) a long-running app's resident memory kept growing outside
/// the GC heap: +28 % over a 30-minute soak of <c>shadowing up</c>, against +4.65 % with the cap (README,
/// "Reliability"). glibc reads the variable only when a process starts, and by the time <c>Main</c> runs the runtime's
/// own threads have made about eight arenas, which a later <c>mallopt</c> cannot take back. So a long-running app
/// starts itself again (<c>execve</c>: the same process id, arguments, descriptors and parent) with the variable set;
/// where that is not wanted or fails, <c>mallopt</c> at least stops further arenas.
/// </summary>
public static partial class MallocArenas
{
    /// <summary>The cap: the process's threads share at most this many arenas.</summary>
    public const int Max = 2;

    /// <summary>The variable glibc reads at start; when it is set, glibc has applied it and it is left alone.</summary>
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
    /// Call first thing in <c>Main</c>. Unless <paramref name="environmentValue"/> (the variable's value) says the operator
    /// chose, or this is not Linux with glibc: when <paramref name="restart"/>, starts the program again with the variable
    /// set (and does not return); otherwise, or when that fails, caps further arenas with <c>mallopt</c>.
    /// </summary>
    public static Outcome Apply(bool restart, string? environmentValue)
    {
        if (!OperatingSystem.IsLinux() || !string.IsNullOrEmpty(environmentValue))
        {
            return Outcome.LeftAlone;
        }

        try
        {
            if (restart)
            {
                StartAgainCapped(); // returns only when execve failed
            }

            return Mallopt(ArenaMaxParameter, Max) == 1 ? Outcome.Capped : Outcome.LeftAlone;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or IOException)
        {
            return Outcome.LeftAlone; // a C library without these (musl), or no /proc
        }
    }

    /// <summary><see cref="Apply(bool, string?)"/> with this process's <see cref="EnvironmentVariable"/>.</summary>
    public static Outcome Apply(bool restart) => Apply(restart, Environment.GetEnvironmentVariable(EnvironmentVariable));

    private static void StartAgainCapped()
    {
        // /proc/self/cmdline is every argument, each ended by a NUL; the program is /proc/self/exe (dotnet or the apphost).
        var cmdline = File.ReadAllText("/proc/self/cmdline");
        var arguments = cmdline.Length == 0 ? [] : cmdline[..^1].Split('\0');
        var environment = new List<string?>();
        foreach (DictionaryEntry variable in Environment.GetEnvironmentVariables())
        {
            environment.Add($"{variable.Key}={variable.Value}");
        }

        environment.Add($"{EnvironmentVariable}={Max}");
        environment.Add(null);
        Execve("/proc/self/exe", [.. arguments, null], [.. environment]);
    }

    // libc.so.6, not "libc": on Debian libc.so is a linker script that dlopen cannot load.
    [LibraryImport("libc.so.6", EntryPoint = "mallopt")]
    private static partial int Mallopt(int parameter, int value);

    [LibraryImport("libc.so.6", EntryPoint = "execve", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Execve(string path, string?[] arguments, string?[] environment);
}
