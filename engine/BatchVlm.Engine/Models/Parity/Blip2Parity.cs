// Parity case for `Blip2ForConditionalGeneration` fixtures (tests/fixtures/blip2-opt-tiny, blip2-t5-tiny): vision
// tower and Q-Former outputs, the language projection, the teacher-forced forward (OPT: logits and decoder hidden
// states over the merged sequence; T5: encoder and decoder hidden states, logits) and greedy generation through the
// KV cache (per-step logits, `start + new` ids) — the calls listed in the fixture READMEs.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Parity;

namespace BatchVlm.Engine.Models.Parity;

public sealed class Blip2Parity : IParityCase
{
    public string Name => "blip2";

    public bool Matches(HfConfig config) =>
        config.Architectures.Contains("Blip2ForConditionalGeneration")
        || (config.ModelType == "blip-2" && !config.Architectures.Contains("Blip2ForImageTextRetrieval"));

    public ParityOutputs Run(ModelSource source, ParityInputs inputs)
    {
        var be = CpuBackend.Default;
        using var model = Blip2ForConditionalGeneration.Load(source.Directory, be);
        using var pixels = inputs.Tensor(be, "pixel_values");
        var ids = GemmaParity.To2D(inputs.Int64("input_ids"), inputs.Shape("input_ids"));
        var mask = GemmaParity.To2D(inputs.Int64("attention_mask"), inputs.Shape("attention_mask"));
        var o = new ParityOutputs();

        long[,]? decIds = null, decMask = null;
        if (model.IsEncoderDecoder)
        {
            decIds = GemmaParity.To2D(inputs.Int64("decoder_input_ids"), inputs.Shape("decoder_input_ids"));
            decMask = GemmaParity.To2D(inputs.Int64("decoder_attention_mask"), inputs.Shape("decoder_attention_mask"));
        }
        using (var f = model.Forward(pixels, ids, mask, decIds, decMask, outputHiddenStates: true))
        {
            var v = f.Query.Vision;
            for (int i = 0; i < v.HiddenStates!.Count; i++) o.Add($"vision_hidden_states.{i}", v.HiddenStates[i]);
            o.Add("vision_last_hidden_state", v.LastHiddenState);
            o.Add("vision_pooler_output", v.PooledOutput!);
            var q = f.Query.QFormerHiddenStates!;
            for (int i = 0; i < q.Count; i++) o.Add($"qformer_hidden_states.{i}", q[i]);
            o.Add("qformer_last_hidden_state", f.Query.QFormerLastHiddenState);
            using (var pooled = f.Query.QFormerLastHiddenState.Select(1, 0)) o.Add("qformer_pooler_output", pooled);
            o.Add("language_projection_output", f.LanguageProjection);
            o.Add("logits", f.Logits);
            if (f.T5 is { } t5)
            {
                for (int i = 0; i < t5.EncoderHiddenStates!.Count; i++) o.Add($"encoder_hidden_states.{i}", t5.EncoderHiddenStates[i]);
                for (int i = 0; i < t5.DecoderHiddenStates!.Count; i++) o.Add($"decoder_hidden_states.{i}", t5.DecoderHiddenStates[i]);
                o.Add("encoder_last_hidden_state", t5.EncoderLastHiddenState);
            }
            else
            {
                for (int i = 0; i < f.LanguageModelHiddenStates!.Count; i++) o.Add($"lm_hidden_states.{i}", f.LanguageModelHiddenStates[i]);
            }
        }

        // generate(pixel_values, input_ids, attention_mask, max_new_tokens=8, do_sample=False, num_beams=1)
        var r = model.Generate(pixels, ids, mask, model.DefaultOptions(8) with { OutputLogits = true });
        AddGeneration(o, r, ids.GetLength(0), model.VocabSize, model.StartTokenId, model.PadTokenId);
        return o;
    }

    /// <summary>`generate_logits` (steps, B, V) and `generated_ids` (B, 1 + steps): the start token (OPT bos /
    /// T5 decoder_start) then the new ids, pad after a row finished — what BLIP-2's generate() returns.</summary>
    internal static void AddGeneration(ParityOutputs outputs, GenerationResult r, int b, int vocab, int start, int pad)
    {
        int steps = r.StepLogits!.Count;
        var logits = new float[steps * b * vocab];
        for (int s = 0; s < steps; s++) r.StepLogits[s].CopyTo(logits, s * b * vocab);
        outputs.Add("generate_logits", logits, steps, b, vocab);
        var gen = new long[b * (1 + steps)];
        for (int row = 0; row < b; row++)
        {
            gen[row * (1 + steps)] = start;
            var toks = r.Sequences[row].Tokens;
            for (int s = 0; s < steps; s++) gen[row * (1 + steps) + 1 + s] = s < toks.Count ? toks[s] : pad;
        }
        outputs.Add("generated_ids", gen, b, 1 + steps);
    }
}
