// The decoder state of decoder-only models between steps: next positions advance per row, prompt padding stays
// masked in every later step's key padding, and the key padding disappears once no held row has any (rows dropped or
// reordered through SelectRows).
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Generation;

namespace BatchVlm.Engine.Tests.Generation;

public sealed class CausalLmDecoderStateTests
{
    private const int Vocab = 10;

    private static CausalLmDecoderState State(long[,] mask, long[] next) =>
        new(new KvCache(CpuBackend.Default, layers: 1, batchSize: mask.GetLength(0), capacity: 8, kvHeads: 1, headDim: 2), mask, next);

    [Fact]
    public void Advance_NoPadding_ReturnsPositionsAndNoKeyPadding()
    {
        using var s = State(new long[,] { { 1, 1 }, { 1, 1 } }, [2, 5]);
        var (_, positions, pad) = s.Advance([3, 4], Vocab);
        Assert.Equal(new long[,] { { 2 }, { 5 } }, positions);
        Assert.Null(pad);
        (_, positions, _) = s.Advance([3, 4], Vocab);
        Assert.Equal(new long[,] { { 3 }, { 6 } }, positions);
    }

    [Fact]
    public void Advance_LeftPaddedRow_KeepsPromptPaddingMasked()
    {
        using var s = State(new long[,] { { 0, 1, 1 }, { 1, 1, 1 } }, [2, 3]);
        s.Advance([3, 4], Vocab);
        var (_, _, pad) = s.Advance([3, 4], Vocab);
        Assert.Equal(new long[] { 0, 1, 1, 1, 1, 1, 1, 1, 1, 1 }, pad);
    }

    [Fact]
    public void SelectRows_PaddedRowDropped_NoKeyPadding()
    {
        using var s = State(new long[,] { { 0, 1 }, { 1, 1 } }, [1, 2]);
        s.SelectRows([1, 1]);
        var (_, positions, pad) = s.Advance([3, 4], Vocab);
        Assert.Equal(2, s.BatchSize);
        Assert.Equal(new long[,] { { 2 }, { 2 } }, positions);
        Assert.Null(pad);
    }

    [Fact]
    public void Advance_TokenOutsideVocabulary_ThrowsBeforeAdvancing()
    {
        using var s = State(new long[,] { { 1, 1 }, { 1, 1 } }, [2, 5]);
        var e = Assert.Throws<ArgumentException>(() => s.Advance([3, Vocab], Vocab));
        Assert.Contains($"token {Vocab} of row 1", e.Message);
        var (ids, positions, _) = s.Advance([3, 4], Vocab);
        Assert.Equal(new long[,] { { 3 }, { 4 } }, ids);
        Assert.Equal(new long[,] { { 2 }, { 5 } }, positions);
    }

    [Fact]
    public void Constructor_NextPositionsForOtherBatch_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => State(new long[,] { { 1 }, { 1 } }, [0]));
        Assert.Contains("1 next positions", e.Message);
    }
}
