// Gemma against the Hugging Face reference numbers in tests/fixtures/gemma-tiny (transformers 4.46.1): full forward
// (logits, every hidden state), generate()'s positions, and greedy generation through the KV cache compared step by
// step (generate_logits) and by ids. Tolerance from the fixture README: max|ours − ref| ≤ 2e-5 · max(1, max|ref|).
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Models;

namespace BatchVlm.Engine.Tests.Models;

public sealed class GemmaTests
{
    internal static readonly IBackend Backend = ReferenceBackend.Instance;

    private static readonly Lazy<GemmaForCausalLM> Model = new(() => GemmaForCausalLM.Load(GemmaFixture.Dir("gemma-tiny"), Backend));

    [Fact]
    public void Forward_GemmaTiny_MatchesLogitsAndHiddenStates()
    {
        var f = GemmaFixture.Open("gemma-tiny");
        var ids = f.InputIds2D("input_ids");
        var mask = f.InputIds2D("attention_mask");
        using var o = Model.Value.Forward(ids, mask, outputHiddenStates: true);
        f.AssertClose("logits", o.Logits.ToFloatArray());
        Assert.Equal(3, o.HiddenStates!.Count);
        for (int i = 0; i < 3; i++)
            f.AssertClose($"hidden_states.{i}", o.HiddenStates[i].ToFloatArray());
    }

    [Fact]
    public void Forward_PositionsFromMask_MatchesLogitsMaskPositions()
    {
        var f = GemmaFixture.Open("gemma-tiny");
        using var o = Model.Value.Forward(f.InputIds2D("input_ids"), f.InputIds2D("attention_mask"), f.InputIds2D("position_ids_from_mask"));
        f.AssertClose("logits_mask_positions", o.Logits.ToFloatArray());
    }

    [Fact]
    public void Generate_Greedy_MatchesStepLogitsAndIds()
    {
        var f = GemmaFixture.Open("gemma-tiny");
        var ids = f.InputIds2D("input_ids");
        var r = Model.Value.Generate(ids, f.InputIds2D("attention_mask"),
            new GenerationOptions { MaxNewTokens = 8, EosTokenIds = [1], OutputLogits = true });
        Assert.Equal(8, r.StepLogits!.Count);
        f.AssertClose("generate_logits", r.StepLogits.SelectMany(s => s).ToArray());
        var expected = f.Expected2D("generated_ids");
        int t = ids.GetLength(1);
        for (int b = 0; b < 2; b++)
        {
            var want = Enumerable.Range(t, expected.GetLength(1) - t).Select(j => (int)expected[b, j]).ToArray();
            Assert.Equal(want, r.Sequences[b].Tokens);
            Assert.Equal(FinishReason.Length, r.Sequences[b].Finish);
        }
    }

    [Fact]
    public void DecodeState_Rewind_ReplaysTheSameLogits()
    {
        var model = Model.Value;
        var ids = new long[,] { { 2, 17, 300, 41 } };
        var p = model.Prefill(ids, null, 4);
        p.LastLogits.Dispose();
        var state = (CausalLmDecoderState)p.State;
        var first = model.DecodeStep(state, [7]).ToFloatArray();
        model.DecodeStep(state, [9]).Dispose();
        state.Rewind(4);
        Assert.Equal(4, state.Cache.Length);
        var again = model.DecodeStep(state, [7]).ToFloatArray();
        Assert.Equal(first, again);
        state.Dispose();
    }
}
