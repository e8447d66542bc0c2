// Timing helpers shared by the engine benchmark areas: warm-up ≥ 0.3 s, then samples of ≥ minSampleSeconds
// each (as many back-to-back calls as fill it), median (min–max) of the per-call time — the method of
// shared/research/baselines.md, so figures compare with the references measured the same way.
using System.Diagnostics;

namespace BatchVlm.Bench.Engine;

internal sealed class Samples
{
    public List<double> PerCallSeconds { get; } = [];
    public double Median => Percentile(0.5);
    public double Min => PerCallSeconds.Min();
    public double Max => PerCallSeconds.Max();

    private double Percentile(double q)
    {
        var s = PerCallSeconds.OrderBy(x => x).ToArray();
        if (s.Length == 0) return double.NaN;
        double pos = q * (s.Length - 1);
        int lo = (int)Math.Floor(pos), hi = (int)Math.Ceiling(pos);
        return s[lo] + (s[hi] - s[lo]) * (pos - lo);
    }
}

internal static class BenchTiming
{
    public static void WarmUp(Action call, double seconds = 0.3)
    {
        var sw = Stopwatch.StartNew();
        do call(); while (sw.Elapsed.TotalSeconds < seconds);
    }

    /// <summary>One sample: calls until <paramref name="minSeconds"/> have passed; returns seconds per call.</summary>
    public static double Sample(Action call, double minSeconds)
    {
        int calls = 0;
        var sw = Stopwatch.StartNew();
        do
        {
            call();
            calls++;
        } while (sw.Elapsed.TotalSeconds < minSeconds);
        return sw.Elapsed.TotalSeconds / calls;
    }

    /// <summary>Like <see cref="Interleaved"/> for contenders that time themselves (e.g. a reference process):
    /// each entry is (warm up, take one sample → seconds per call).</summary>
    public static Samples[] InterleavedSelfTimed(IReadOnlyList<(Action WarmUp, Func<double> Sample)> contenders, int samples)
    {
        foreach (var c in contenders) c.WarmUp();
        var result = contenders.Select(_ => new Samples()).ToArray();
        for (int s = 0; s < samples; s++)
            for (int i = 0; i < contenders.Count; i++)
                result[i].PerCallSeconds.Add(contenders[i].Sample());
        return result;
    }

    /// <summary>Warms every contender up, then takes <paramref name="samples"/> rounds, each contender once per
    /// round (interleaved, so background load hits them alike).</summary>
    public static Samples[] Interleaved(IReadOnlyList<Action> contenders, int samples, double minSampleSeconds)
    {
        foreach (var c in contenders) WarmUp(c);
        var result = contenders.Select(_ => new Samples()).ToArray();
        for (int s = 0; s < samples; s++)
            for (int i = 0; i < contenders.Count; i++)
                result[i].PerCallSeconds.Add(Sample(contenders[i], minSampleSeconds));
        return result;
    }

    public static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    public static string RepoRoot()
    {
        if (File.Exists(Path.Combine(Directory.GetCurrentDirectory(), "BatchVlm.sln"))) return Directory.GetCurrentDirectory();
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "BatchVlm.sln"))) dir = dir.Parent;
        return dir?.FullName ?? Directory.GetCurrentDirectory();
    }

    /// <summary>Debian's python3 (which has torch) with the reference settings of baselines.md: OpenBLAS at its
    /// AVX-512 best (OPENBLAS_CORETYPE removed), every thread knob pinned to <paramref name="threads"/>, libgomp passive.</summary>
    public static ProcessStartInfo PythonStartInfo(string script, string arguments, int threads, bool stdin = false)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3", $"{script} {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin,
            UseShellExecute = false,
        };
        psi.Environment.Remove("OPENBLAS_CORETYPE");
        foreach (var v in new[] { "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS" })
            psi.Environment[v] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        return psi;
    }

    /// <summary>A reference script running as a line-oriented server (see scripts/bench/*_torch.py).</summary>
    public sealed class PythonServer : IDisposable
    {
        private readonly Process _p;

        public PythonServer(string script, string arguments, int threads)
        {
            _p = Process.Start(PythonStartInfo(script, arguments, threads, stdin: true)) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
            Banner = _p.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"{script}: {_p.StandardError.ReadToEnd()}");
        }

        public string Banner { get; }

        public string Ask(string command)
        {
            _p.StandardInput.WriteLine(command);
            _p.StandardInput.Flush();
            return _p.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"reference process stopped: {_p.StandardError.ReadToEnd()}");
        }

        public double AskSeconds(string command) => double.Parse(Ask(command), System.Globalization.CultureInfo.InvariantCulture);

        public void Dispose()
        {
            try
            {
                _p.StandardInput.WriteLine("quit");
                _p.StandardInput.Flush();
                if (!_p.WaitForExit(5000)) _p.Kill();
            }
            catch (IOException)
            {
            }
            _p.Dispose();
        }
    }

    /// <summary>Runs a reference script and returns its stdout lines.</summary>
    public static List<string> RunPython(string script, string arguments, int threads)
    {
        using var p = Process.Start(PythonStartInfo(script, arguments, threads)) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
        var stderr = p.StandardError.ReadToEndAsync();
        var lines = new List<string>();
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null) lines.Add(line);
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{script} exited with {p.ExitCode}: {stderr.Result}");
        return lines;
    }
}
