// `batchvlm parity tests/fixtures/gemma-tiny` as a unit test (Loading/README.md convention): every expected tensor
// computed (no SKIPPED) and within tolerance.
using BatchVlm.Engine.Parity;

namespace BatchVlm.Engine.Tests.Models;

public sealed class GemmaParityTests
{
    [Fact]
    public void Run_GemmaTiny_AllTensorsPass()
    {
        var report = ParityRunner.Run(GemmaFixture.Dir("gemma-tiny"));
        Assert.True(report.Failed == 0 && report.Skipped == 0, string.Join("\n", report.Format()));
        Assert.Equal(7, report.Passed);
    }
}
