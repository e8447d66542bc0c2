// The parity harness behind `batchvlm parity FIXTURE_DIR [--save OUT.safetensors]`: load the fixture's model through
// its registered IParityCase, run it on inputs.safetensors, compare with every tensor of expected.safetensors.
// Tolerance (shared/fixtures/README.md, "Tolerances"): floats pass when max|ours − ref| ≤ 2e-5 · max(1, max|ref|);
// integer tensors (generated ids) must match exactly.
using System.Diagnostics;
using System.Globalization;
using BatchVlm.Engine.Loading;

namespace BatchVlm.Engine.Parity;

public enum ParityStatus { Pass, Fail, Skipped }

/// <summary>One expected tensor's verdict. RelativeError = MaxAbsDiff / max(1, max|ref|); for ids, MaxAbsDiff is the
/// largest id difference and RelativeError the fraction of ids that differ.</summary>
public sealed record ParityLine(string Name, ParityStatus Status, double MaxAbsDiff, double RelativeError, string? Detail = null);

public sealed record ParityReport(string FixtureDir, string CaseName, IReadOnlyList<ParityLine> Lines, IReadOnlyList<string> Unexpected, TimeSpan Elapsed)
{
    public int Passed => Lines.Count(l => l.Status == ParityStatus.Pass);
    public int Failed => Lines.Count(l => l.Status == ParityStatus.Fail);
    public int Skipped => Lines.Count(l => l.Status == ParityStatus.Skipped);

    /// <summary>0 when nothing failed (and, if <paramref name="strict"/>, nothing was skipped); else 1.</summary>
    public int ExitCode(bool strict = false) => Failed > 0 || (strict && Skipped > 0) ? 1 : 0;

    /// <summary>The report as printed by the CLI: one line per expected tensor, then a summary.</summary>
    public IEnumerable<string> Format()
    {
        int width = Math.Max(24, Lines.Count == 0 ? 0 : Lines.Max(l => l.Name.Length));
        yield return $"parity {FixtureDir} (case {CaseName}, tolerance {ParityRunner.Tolerance:0.0e+0} * max(1, max|ref|); ids exact)";
        yield return $"  {"tensor".PadRight(width)}  {"max_abs_diff",12}  {"rel_error",10}  result";
        foreach (var l in Lines)
        {
            string diff = l.Status == ParityStatus.Skipped || double.IsNaN(l.MaxAbsDiff) && l.Detail != null ? "-" : Sci(l.MaxAbsDiff);
            string rel = l.Status == ParityStatus.Skipped || double.IsNaN(l.RelativeError) && l.Detail != null ? "-" : Sci(l.RelativeError);
            string status = l.Status switch { ParityStatus.Pass => "PASS", ParityStatus.Fail => "FAIL", _ => "SKIPPED" };
            yield return $"  {l.Name.PadRight(width)}  {diff,12}  {rel,10}  {status}{(l.Detail is null ? "" : "  " + l.Detail)}";
        }
        foreach (var u in Unexpected)
            yield return $"  note: computed '{u}' has no expected tensor (not compared)";
        yield return $"{Passed} passed, {Failed} failed, {Skipped} skipped ({Elapsed.TotalSeconds:0.00} s)";
    }

    private static string Sci(double v) => double.IsNaN(v) ? "NaN" : v.ToString("0.00e+00", CultureInfo.InvariantCulture);
}

public static class ParityRunner
{
    /// <summary>Float tolerance factor: pass when max|ours − ref| ≤ Tolerance · max(1, max|ref|).</summary>
    public const double Tolerance = 2e-5;

    /// <summary>
    /// Runs the fixture in <paramref name="fixtureDir"/> (config.json, weights, inputs.safetensors, expected.safetensors)
    /// with the case matching its config among <paramref name="cases"/> (default: <see cref="ParityRegistry.All"/>).
    /// With <paramref name="savePath"/>, writes every computed tensor there (F32 / I64) under its expected name.
    /// Throws <see cref="ModelLoadException"/> when the fixture or case cannot be set up; a case that throws while
    /// running yields FAIL lines carrying the error.
    /// </summary>
    public static ParityReport Run(string fixtureDir, IEnumerable<IParityCase>? cases = null, string? savePath = null)
    {
        var source = ModelSource.FromDirectory(fixtureDir);
        string inputsPath = Path.Combine(source.Directory, "inputs.safetensors");
        string expectedPath = Path.Combine(source.Directory, "expected.safetensors");
        if (!File.Exists(expectedPath))
            throw new ModelLoadException($"Fixture {fixtureDir} has no expected.safetensors");
        var parityCase = ParityRegistry.Find(source.LoadConfig(), cases);

        var clock = Stopwatch.StartNew();
        ParityOutputs outputs;
        string? runError = null;
        using (var inputs = File.Exists(inputsPath)
                   ? ParityInputs.Open(inputsPath)
                   : throw new ModelLoadException($"Fixture {fixtureDir} has no inputs.safetensors"))
        {
            try
            {
                outputs = parityCase.Run(source, inputs);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                outputs = new ParityOutputs();
                runError = $"{e.GetType().Name}: {e.Message}";
            }
        }
        clock.Stop();

        var lines = new List<ParityLine>();
        using (var expected = SafetensorsFile.Open(expectedPath))
        {
            foreach (var info in expected.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
            {
                if (runError != null)
                    lines.Add(new ParityLine(info.Name, ParityStatus.Fail, double.NaN, double.NaN, "model failed: " + runError));
                else if (!outputs.Values.TryGetValue(info.Name, out var ours))
                    lines.Add(new ParityLine(info.Name, ParityStatus.Skipped, double.NaN, double.NaN));
                else
                    lines.Add(Compare(info.Name, ours, info, expected));
            }
            var unexpected = outputs.Values.Keys.Where(k => !expected.Contains(k)).Order(StringComparer.Ordinal).ToList();
            if (savePath != null && outputs.Count > 0)
                Save(outputs, savePath);
            return new ParityReport(fixtureDir, parityCase.Name, lines, unexpected, clock.Elapsed);
        }
    }

    /// <summary>
    /// What `batchvlm parity` does: runs, prints the report to <paramref name="stdout"/>, and returns the exit code:
    /// 0 all compared tensors pass (with <paramref name="strict"/>: and none skipped), 1 a FAIL (or a SKIPPED when
    /// strict), 2 the fixture or model could not be set up (message on <paramref name="stderr"/>).
    /// </summary>
    public static int RunAndPrint(string fixtureDir, string? savePath, bool strict, TextWriter stdout, TextWriter stderr,
        IEnumerable<IParityCase>? cases = null)
    {
        ParityReport report;
        try
        {
            report = Run(fixtureDir, cases, savePath);
        }
        catch (ModelLoadException e)
        {
            stderr.WriteLine($"parity: {e.Message}");
            return 2;
        }
        foreach (string line in report.Format()) stdout.WriteLine(line);
        if (savePath != null) stdout.WriteLine($"saved computed tensors to {savePath}");
        return report.ExitCode(strict);
    }

    /// <summary>Compares one computed tensor with the reference tensor <paramref name="info"/> of <paramref name="expected"/>.</summary>
    public static ParityLine Compare(string name, ParityValue ours, SafetensorsTensorInfo info, SafetensorsFile expected)
    {
        if (!ours.Shape.SequenceEqual(info.Shape))
            return new ParityLine(name, ParityStatus.Fail, double.NaN, double.NaN,
                $"shape {SafetensorsTensorInfo.FormatShape(ours.Shape)}, expected {info.ShapeText}");
        if (!info.Dtype.IsFloat())
        {
            if (!ours.IsInteger)
                return new ParityLine(name, ParityStatus.Fail, double.NaN, double.NaN, $"computed floats, expected integer {info.Dtype.ToHeaderName()} (compared exactly)");
            return CompareIds(name, ours.Ints!, expected.ReadInt64(info.Name));
        }
        float[] reference = expected.ReadFloat32(info.Name);
        float[] mine = ours.Floats ?? ours.Ints!.Select(v => (float)v).ToArray();
        return CompareFloats(name, mine, reference);
    }

    public static ParityLine CompareFloats(string name, ReadOnlySpan<float> ours, ReadOnlySpan<float> reference)
    {
        if (ours.Length != reference.Length)
            return new ParityLine(name, ParityStatus.Fail, double.NaN, double.NaN, $"{ours.Length} values, expected {reference.Length}");
        double maxDiff = 0, maxRef = 0;
        long nonFinite = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            double r = reference[i], o = ours[i];
            if (!double.IsFinite(o) || !double.IsFinite(r))
            {
                if (!o.Equals(r)) nonFinite++; // NaN/inf must match exactly
                continue;
            }
            maxRef = Math.Max(maxRef, Math.Abs(r));
            maxDiff = Math.Max(maxDiff, Math.Abs(o - r));
        }
        if (nonFinite > 0)
            return new ParityLine(name, ParityStatus.Fail, double.NaN, double.NaN, $"{nonFinite} non-finite value(s) differ from the reference");
        double rel = maxDiff / Math.Max(1.0, maxRef);
        return new ParityLine(name, rel <= Tolerance ? ParityStatus.Pass : ParityStatus.Fail, maxDiff, rel);
    }

    public static ParityLine CompareIds(string name, ReadOnlySpan<long> ours, ReadOnlySpan<long> reference)
    {
        if (ours.Length != reference.Length)
            return new ParityLine(name, ParityStatus.Fail, double.NaN, double.NaN, $"{ours.Length} ids, expected {reference.Length}");
        long maxDiff = 0, differ = 0;
        int first = -1;
        for (int i = 0; i < reference.Length; i++)
        {
            if (ours[i] == reference[i]) continue;
            differ++;
            if (first < 0) first = i;
            maxDiff = Math.Max(maxDiff, Math.Abs(ours[i] - reference[i]));
        }
        return differ == 0
            ? new ParityLine(name, ParityStatus.Pass, 0, 0)
            : new ParityLine(name, ParityStatus.Fail, maxDiff, (double)differ / reference.Length,
                $"{differ} of {reference.Length} ids differ (first at flat index {first}: {ours[first]} vs {reference[first]})");
    }

    /// <summary>Writes computed tensors: floats as F32, ids as I64, under their expected names.</summary>
    public static void Save(ParityOutputs outputs, string path)
    {
        var writer = new SafetensorsWriter();
        foreach (var (name, v) in outputs.Values)
        {
            if (v.IsInteger) writer.Add(name, v.Ints!, v.Shape);
            else writer.Add(name, v.Floats!, v.Shape);
        }
        writer.Save(path);
    }
}
