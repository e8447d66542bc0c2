// One real fleet process (`dotnet batchvlm.dll coordinator`, `... worker --tasks inspect`) started by a system
// test, its stdout and stderr going straight to files (so they survive kill -9 and can be searched afterwards),
// with the signals the fault tests send: SIGKILL (crash), SIGTERM (graceful stop).
// The process is started through `/bin/sh -c 'exec ...'` so the shell is replaced by dotnet: the pid we hold is the
// fleet process itself, and the redirections are the kernel's, not a pipe we must drain.
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace BatchVlm.Fleet.Tests.SystemTests;

public sealed partial class FleetProcess : IAsyncDisposable
{
    private const int SIGKILL = 9;
    private const int SIGTERM = 15;

    private readonly Process _process;

    public string Name { get; }
    public string StdOutPath { get; }
    public string StdErrPath { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    private FleetProcess(string name, Process process, string stdout, string stderr)
    {
        Name = name;
        _process = process;
        StdOutPath = stdout;
        StdErrPath = stderr;
    }

    /// <summary>Starts <c>dotnet <paramref name="dll"/> args...</c> in <paramref name="workingDirectory"/>, logging to
    /// <c>&lt;logDir&gt;/&lt;name&gt;.stdout.log</c> and <c>.stderr.log</c> (appended: a restarted process keeps one file pair
    /// per name unless the caller picks a new name).</summary>
    public static FleetProcess Start(string name, string dll, IEnumerable<string> args, string logDir, string workingDirectory,
        IReadOnlyDictionary<string, string?> environment)
    {
        Directory.CreateDirectory(logDir);
        var stdout = Path.Combine(logDir, $"{name}.stdout.log");
        var stderr = Path.Combine(logDir, $"{name}.stderr.log");
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = workingDirectory };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec dotnet \"$@\" >>\"$BATCHVLM_TEST_STDOUT\" 2>>\"$BATCHVLM_TEST_STDERR\" </dev/null");
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add(dll);
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        psi.Environment["BATCHVLM_TEST_STDOUT"] = stdout;
        psi.Environment["BATCHVLM_TEST_STDERR"] = stderr;
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in environment)
            psi.Environment[k] = v;
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {name}");
        File.AppendAllText(Path.Combine(logDir, "processes.txt"),
            $"{DateTime.UtcNow:O} start {name} pid {process.Id}: dotnet {dll} {string.Join(' ', args)}\n");
        return new FleetProcess(name, process, stdout, stderr);
    }

    /// <summary>kill -9: the process gets no chance to clean up (a crashed or OOM-killed worker).</summary>
    public Task KillAsync() => SignalAndWait(SIGKILL, TimeSpan.FromSeconds(10));

    /// <summary>SIGTERM, then wait up to <paramref name="grace"/> for a clean exit; returns whether it exited.</summary>
    public async Task<bool> TerminateAsync(TimeSpan grace)
    {
        await SignalAndWait(SIGTERM, grace);
        return _process.HasExited;
    }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Everything the process wrote so far, stdout then stderr.</summary>
    public string ReadLogs() => ReadShared(StdOutPath) + ReadShared(StdErrPath);

    /// <summary>Waits until the process's output contains <paramref name="text"/> (or it exits, or the timeout passes).</summary>
    public async Task<bool> WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (ReadLogs().Contains(text, StringComparison.OrdinalIgnoreCase))
                return true;
            if (_process.HasExited)
                return false;
            await Task.Delay(100);
        }
        return false;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            await SignalAndWait(SIGKILL, TimeSpan.FromSeconds(10));
        _process.Dispose();
    }

    private async Task SignalAndWait(int signal, TimeSpan timeout)
    {
        if (_process.HasExited)
            return;
        if (kill(_process.Id, signal) != 0 && !_process.HasExited)
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        await WaitForExitAsync(timeout);
    }

    private static string ReadShared(string path)
    {
        if (!File.Exists(path))
            return "";
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);
}
