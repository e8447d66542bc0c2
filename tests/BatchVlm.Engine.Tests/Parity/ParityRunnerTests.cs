// Tests of the parity harness itself with a synthetic fixture and test-double cases: one tensor computed right, one
// wrong, ids exact, one not computed → PASS / FAIL / SKIPPED lines and the exit codes `batchvlm parity` returns.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Nn;
using BatchVlm.Engine.Parity;
using BatchVlm.Engine.Tests.Loading;

namespace BatchVlm.Engine.Tests.Parity;

/// <summary>A "model" y = scale · x (scale from model.safetensors, through VarBuilder and engine tensors), z = x + 1 + Error,
/// ids copied; it does not compute "w".</summary>
public class ParityTestDoubleCase : IParityCase
{
    protected virtual float Error => 0f;
    protected virtual long IdShift => 0;
    public virtual string Name => "test-double";
    public bool Matches(HfConfig config) => config.ModelType == "parity-test-double";

    public ParityOutputs Run(ModelSource source, ParityInputs inputs)
    {
        var be = CpuBackend.Default;
        using var ckpt = source.OpenCheckpoint();
        var vb = new VarBuilder(ckpt);
        using var scale = vb.Tensor(be, "scale", 1);
        using var x = inputs.Tensor(be, "x");                         // (2, 3)
        using var y = x * scale;
        var xs = inputs.Floats("x");
        var ids = inputs.Int64("ids").Select(v => v + IdShift).ToArray();
        vb.ThrowIfUnused();
        return new ParityOutputs()
            .Add("y", y)
            .Add("z", xs.Select(v => v + 1f + Error).ToArray(), 2, 3)
            .Add("ids", ids, inputs.Shape("ids"))
            .Add("extra", [1f], 1);
    }
}

/// <summary>The same model with z off by 1e-3 (relative 1e-3 / max(1, 4) = 2.5e-4 > 2e-5).</summary>
public sealed class ParityTestDoubleWrongCase : ParityTestDoubleCase
{
    protected override float Error => 1e-3f;
    public override string Name => "test-double-wrong";
}

/// <summary>z off by 1e-5 absolute: 2.5e-6 relative, inside the tolerance.</summary>
public sealed class ParityTestDoubleNoiseCase : ParityTestDoubleCase
{
    protected override float Error => 1e-5f;
    public override string Name => "test-double-noise";
}

public sealed class ParityTestDoubleIdsCase : ParityTestDoubleCase
{
    protected override long IdShift => 1;
    public override string Name => "test-double-ids";
}

public sealed class ParityRunnerTests
{
    private static readonly float[] X = [0.5f, -1f, 2f, 3f, -0.25f, 1.5f];

    private static void WriteFixture(string dir)
    {
        File.WriteAllText(Path.Combine(dir, "config.json"), """{"architectures":["ParityTestDouble"],"model_type":"parity-test-double"}""");
        new SafetensorsWriter().Add("scale", [2f], [1]).Save(Path.Combine(dir, "model.safetensors"));
        new SafetensorsWriter().Add("x", X, [2, 3]).Add("ids", [5L, 7L, 11L, 13L], [2, 2]).Save(Path.Combine(dir, "inputs.safetensors"));
        new SafetensorsWriter()
            .Add("y", X.Select(v => 2 * v).ToArray(), [2, 3])
            .Add("z", X.Select(v => v + 1).ToArray(), [2, 3])
            .Add("ids", [5L, 7L, 11L, 13L], [2, 2])
            .Add("w", [0f, 0f], [2])
            .Save(Path.Combine(dir, "expected.safetensors"));
    }

    private static (int Code, string Out, string Err) Run(string dir, IParityCase c, string? save = null, bool strict = false)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = ParityRunner.RunAndPrint(dir, save, strict, stdout, stderr, [c]);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string LineOf(string output, string tensor) =>
        output.Split('\n').Single(l => l.TrimStart().StartsWith(tensor + " ", StringComparison.Ordinal));

    [Fact]
    public void RunAndPrint_OneTensorWrong_PrintsFailLineAndExits1()
    {
        using var tmp = new TempDir();
        WriteFixture(tmp.Path);
        var (code, output, _) = Run(tmp.Path, new ParityTestDoubleWrongCase());
        Assert.Equal(1, code);
        Assert.EndsWith("PASS", LineOf(output, "y").TrimEnd());
        Assert.EndsWith("PASS", LineOf(output, "ids").TrimEnd());
        string z = LineOf(output, "z");
        Assert.EndsWith("FAIL", z.TrimEnd());
        Assert.Contains("1.00e-03", z);  // max abs diff
        Assert.Contains("2.50e-04", z);  // relative: 1e-3 / max(1, max|ref| = 4)
        Assert.EndsWith("SKIPPED", LineOf(output, "w").TrimEnd());
        Assert.Contains("note: computed 'extra' has no expected tensor", output);
        Assert.Contains("2 passed, 1 failed, 1 skipped", output);
    }

    [Fact]
    public void RunAndPrint_AllComputedRight_Exits0UnlessStrictWithSkipped()
    {
        using var tmp = new TempDir();
        WriteFixture(tmp.Path);
        var (code, output, _) = Run(tmp.Path, new ParityTestDoubleCase());
        Assert.Equal(0, code);
        Assert.Contains("3 passed, 0 failed, 1 skipped", output);
        Assert.Equal(1, Run(tmp.Path, new ParityTestDoubleCase(), strict: true).Code);
    }

    [Fact]
    public void RunAndPrint_DiffInsideTolerance_Passes()
    {
        using var tmp = new TempDir();
        WriteFixture(tmp.Path);
        var (code, output, _) = Run(tmp.Path, new ParityTestDoubleNoiseCase());
        Assert.Equal(0, code);
        Assert.EndsWith("PASS", LineOf(output, "z").TrimEnd());
    }

    [Fact]
    public void RunAndPrint_IdsOffByOne_FailsExactComparison()
    {
        using var tmp = new TempDir();
        WriteFixture(tmp.Path);
        var (code, output, _) = Run(tmp.Path, new ParityTestDoubleIdsCase());
        Assert.Equal(1, code);
        string ids = LineOf(output, "ids");
        Assert.Contains("FAIL", ids);
        Assert.Contains("4 of 4 ids differ (first at flat index 0: 6 vs 5)", ids);
    }

    [Fact]
    public void Run_WithSave_WritesEveryComputedTensorUnderItsName()
    {
        using var tmp = new TempDir();
        WriteFixture(tmp.Path);
        string saved = tmp["ours.safetensors"];
        Assert.Equal(0, Run(tmp.Path, new ParityTestDoubleCase(), save: saved).Code);
        using var f = SafetensorsFile.Open(saved);
        Assert.Equal(["extra", "ids", "y", "z"], f.Tensors.Select(t => t.Name).Order());
        Assert.Equal(X.Select(v => 2 * v), f.ReadFloat32("y"));
        Assert.Equal(SafetensorsDtype.I64, f.GetInfo("ids").Dtype);
        Assert.Equal([2, 2], f.GetInfo("ids").Shape);
        // The saved file is itself a valid "expected": comparing against it passes.
        File.Copy(saved, tmp["expected.safetensors"], overwrite: true);
        var (code, output, _) = Run(tmp.Path, new ParityTestDoubleCase());
        Assert.Equal(0, code);
        Assert.Contains("4 passed, 0 failed, 0 skipped", output);
    }

    [Fact]
    public void RunAndPrint_NoMatchingCase_Exits2NamingModelType()
    {
        using var tmp = new TempDir();
        WriteFixture(tmp.Path);
        File.WriteAllText(tmp["config.json"], """{"model_type":"unknown-family","architectures":["UnknownModel"]}""");
        var (code, _, err) = Run(tmp.Path, new ParityTestDoubleCase());
        Assert.Equal(2, code);
        Assert.Contains("No parity case for model_type 'unknown-family' (architectures [UnknownModel])", err);
        Assert.Contains("registered: test-double", err);
    }

    [Fact]
    public void Run_CaseThrows_EveryTensorFailsWithTheError()
    {
        using var tmp = new TempDir();
        WriteFixture(tmp.Path);
        new SafetensorsWriter().Add("scale", [2f, 3f], [2]).Save(tmp["model.safetensors"]); // wrong shape: load error
        var report = ParityRunner.Run(tmp.Path, [new ParityTestDoubleCase()]);
        Assert.Equal(4, report.Failed);
        Assert.All(report.Lines, l => Assert.Contains("Shape mismatch loading 'scale' from model.safetensors: expected (1,), got (2,)", l.Detail));
        Assert.Equal(1, report.ExitCode());
    }

    [Fact]
    public void Compare_ShapeMismatchOrNonFinite_Fails()
    {
        Assert.Equal(ParityStatus.Fail, ParityRunner.CompareFloats("a", [float.NaN, 1f], [0f, 1f]).Status);
        Assert.Equal(ParityStatus.Pass, ParityRunner.CompareFloats("a", [float.NegativeInfinity, 1f], [float.NegativeInfinity, 1f]).Status);
        Assert.Equal(ParityStatus.Fail, ParityRunner.CompareFloats("a", [0f, 1f], [float.PositiveInfinity, 1f]).Status);
        // 100 · 2e-5 = 2e-3 allowed for a reference of magnitude 100.
        Assert.Equal(ParityStatus.Pass, ParityRunner.CompareFloats("a", [100.0019f], [100f]).Status);
        Assert.Equal(ParityStatus.Fail, ParityRunner.CompareFloats("a", [100.0021f], [100f]).Status);
        using var tmp = new TempDir();
        WriteFixture(tmp.Path);
        using var expected = SafetensorsFile.Open(tmp["expected.safetensors"]);
        var line = ParityRunner.Compare("y", new ParityValue([3, 2], new float[6], null), expected.GetInfo("y"), expected);
        Assert.Equal(ParityStatus.Fail, line.Status);
        Assert.Equal("shape (3, 2), expected (2, 3)", line.Detail);
    }

    [Fact]
    public void Registry_Discover_FindsCasesAndFindMatchesByConfig()
    {
        var cases = ParityRegistry.Discover(typeof(ParityRunnerTests).Assembly);
        Assert.Contains(cases, c => c.Name == "test-double");
        var config = HfConfig.Parse("""{"model_type":"parity-test-double"}""");
        var e = Assert.Throws<ModelLoadException>(() => ParityRegistry.Find(config, cases));
        Assert.Contains("Several parity cases match", e.Message); // the test doubles all match the same model_type
        Assert.Equal("test-double", ParityRegistry.Find(config, [new ParityTestDoubleCase()]).Name);
        Assert.DoesNotContain(ParityRegistry.All, c => c.Name.StartsWith("test-double", StringComparison.Ordinal));
    }
}
