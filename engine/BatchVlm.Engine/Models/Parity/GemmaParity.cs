// Parity case for `GemmaForCausalLM` fixtures (tests/fixtures/gemma-tiny, shared/fixtures/gemma-tiny): the plain
// forward (logits, hidden states), the forward at generate()'s positions, and greedy generation through the KV cache
// (per-step logits and ids), exactly as the fixture README's "How the expected values were computed" lists them.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Parity;

namespace BatchVlm.Engine.Models.Parity;

public sealed class GemmaParity : IParityCase
{
    public string Name => "gemma";

    public bool Matches(HfConfig config) =>
        config.ModelType == "gemma" || config.Architectures.Contains("GemmaForCausalLM");

    public ParityOutputs Run(ModelSource source, ParityInputs inputs)
    {
        var model = GemmaForCausalLM.Load(source.Directory, CpuBackend.Default);
        var ids = To2D(inputs.Int64("input_ids"), inputs.Shape("input_ids"));
        var mask = To2D(inputs.Int64("attention_mask"), inputs.Shape("attention_mask"));
        int v = model.VocabSize;
        var outputs = new ParityOutputs();

        using (var o = model.Forward(ids, mask, outputHiddenStates: true))
        {
            outputs.Add("logits", o.Logits);
            for (int i = 0; i < o.HiddenStates!.Count; i++) outputs.Add($"hidden_states.{i}", o.HiddenStates[i]);
        }
        if (inputs.Contains("position_ids_from_mask"))
        {
            var positions = To2D(inputs.Int64("position_ids_from_mask"), inputs.Shape("position_ids_from_mask"));
            using var o = model.Forward(ids, mask, positions);
            outputs.Add("logits_mask_positions", o.Logits);
        }

        // generate(input_ids, attention_mask, max_new_tokens=8, do_sample=False, num_beams=1), eos from the config.
        const int newTokens = 8;
        var options = model.GenerationDefaults.Options(newTokens) with { OutputLogits = true };
        var r = model.Generate(ids, mask, options);
        AddGeneration(outputs, "", ids, r, v, options.PadTokenId);
        return outputs;
    }

    /// <summary>Adds `{prefix}generate_logits` (steps, B, V) and `{prefix}generated_ids` (B, T + steps: prompt then new
    /// ids, pad after a row finished — HF's layout).</summary>
    internal static void AddGeneration(ParityOutputs outputs, string prefix, long[,] ids, GenerationResult r, int vocab, int pad)
    {
        int b = ids.GetLength(0), t = ids.GetLength(1), steps = r.StepLogits!.Count;
        var logits = new float[steps * b * vocab];
        for (int s = 0; s < steps; s++) r.StepLogits[s].CopyTo(logits, s * b * vocab);
        outputs.Add(prefix + "generate_logits", logits, steps, b, vocab);
        var gen = new long[b * (t + steps)];
        for (int row = 0; row < b; row++)
        {
            for (int j = 0; j < t; j++) gen[row * (t + steps) + j] = ids[row, j];
            var toks = r.Sequences[row].Tokens;
            for (int s = 0; s < steps; s++) gen[row * (t + steps) + t + s] = s < toks.Count ? toks[s] : pad;
        }
        outputs.Add(prefix + "generated_ids", gen, b, t + steps);
    }

    internal static long[,] To2D(long[] flat, int[] shape)
    {
        if (shape.Length != 2) throw new ArgumentException($"expected a 2-D input, got shape ({string.Join(", ", shape)})");
        var r = new long[shape[0], shape[1]];
        Buffer.BlockCopy(flat, 0, r, 0, flat.Length * sizeof(long));
        return r;
    }
}
