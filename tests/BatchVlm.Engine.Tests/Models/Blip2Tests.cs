// BLIP-2 parity against tests/fixtures/blip2-{opt,t5,itm}-tiny (HF transformers 4.46.1 outputs: every tensor, hidden
// states, per-step generation logits and generated ids) and the high-level API the worker tasks call.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Models;
using BatchVlm.Engine.Parity;

namespace BatchVlm.Engine.Tests.Models;

public class Blip2Tests
{
    internal static long[,] To2D(long[] flat, int[] shape)
    {
        var r = new long[shape[0], shape[1]];
        Buffer.BlockCopy(flat, 0, r, 0, flat.Length * sizeof(long));
        return r;
    }

    [Fact]
    public void Parity_Blip2OptTiny_EveryTensorPasses()
    {
        var report = ParityRunner.Run(SiglipTests.FixtureDir("blip2-opt-tiny"));
        Assert.Equal("blip2", report.CaseName);
        SiglipTests.AssertAllPass(report, 17);
    }

    [Fact]
    public void Parity_Blip2T5Tiny_EveryTensorPasses()
    {
        var report = ParityRunner.Run(SiglipTests.FixtureDir("blip2-t5-tiny"));
        Assert.Equal("blip2", report.CaseName);
        SiglipTests.AssertAllPass(report, 14);
    }

    [Fact]
    public void Parity_Blip2ItmTiny_EveryTensorPasses()
    {
        var report = ParityRunner.Run(SiglipTests.FixtureDir("blip2-itm-tiny"));
        Assert.Equal("blip2-itm", report.CaseName);
        SiglipTests.AssertAllPass(report, 9);
    }
}
