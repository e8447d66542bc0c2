// `batchvlm parity tests/fixtures/paligemma-tiny` as a unit test (Loading/README.md convention): vision hidden states,
// image features, prefix logits and hidden states, cached generation, training-mask logits and loss — all computed
// (no SKIPPED) and within tolerance.
using BatchVlm.Engine.Parity;

namespace BatchVlm.Engine.Tests.Models;

public sealed class PaliGemmaParityTests
{
    [Fact]
    public void Run_PaliGemmaTiny_AllTensorsPass()
    {
        var report = ParityRunner.Run(GemmaFixture.Dir("paligemma-tiny"));
        Assert.True(report.Failed == 0 && report.Skipped == 0, string.Join("\n", report.Format()));
        Assert.Equal(14, report.Passed);
    }
}
