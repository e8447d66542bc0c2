// Parity case for `PaliGemmaForConditionalGeneration` fixtures (tests/fixtures/paligemma-tiny): the SigLIP tower's
// hidden states, the image features, the prefix forward (logits, Gemma hidden states) and greedy generation through
// the KV cache, and the prefix+suffix forward with labels (training prefix-LM mask, loss) and without labels — the
// calls listed in the fixture README's "How the expected values were computed".
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Parity;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Models.Parity;

public sealed class PaliGemmaParity : IParityCase
{
    public string Name => "paligemma";

    public bool Matches(HfConfig config) =>
        config.ModelType == "paligemma" || config.Architectures.Contains("PaliGemmaForConditionalGeneration");

    public ParityOutputs Run(ModelSource source, ParityInputs inputs)
    {
        var be = CpuBackend.Default;
        var model = PaliGemmaForConditionalGeneration.Load(source.Directory, be);
        var outputs = new ParityOutputs();
        using var pixels = inputs.Tensor(be, "pixel_values");

        var vision = new List<Tensor>();
        using (var features = model.GetImageFeatures(pixels, vision))
        {
            outputs.Add("image_features", features);
            for (int i = 0; i < vision.Count - 1; i++) outputs.Add($"vision_hidden_states.{i}", vision[i]);
            outputs.Add("vision_last_hidden_state", vision[^1]);
        }
        foreach (var v in vision) v.Dispose();

        var ids = Ids(inputs, "prefix.input_ids");
        var mask = Ids(inputs, "prefix.attention_mask");
        using (var o = model.Forward(ids, pixels, mask, Ids(inputs, "prefix.token_type_ids"), outputHiddenStates: true))
        {
            outputs.Add("prefix.logits", o.Logits);
            for (int i = 0; i < o.HiddenStates!.Count; i++) outputs.Add($"prefix.hidden_states.{i}", o.HiddenStates[i]);
        }
        var options = model.DefaultOptions(8) with { OutputLogits = true };
        var r = model.Generate(ids, mask, pixels, options);
        GemmaParity.AddGeneration(outputs, "prefix.", ids, r, model.VocabSize, options.PadTokenId);

        var sIds = Ids(inputs, "suffix.input_ids");
        var sMask = Ids(inputs, "suffix.attention_mask");
        var sTypes = Ids(inputs, "suffix.token_type_ids");
        using (var o = model.Forward(sIds, pixels, sMask, sTypes, Ids(inputs, "suffix.labels")))
        {
            outputs.Add("suffix.logits", o.Logits);
            outputs.Add("suffix.loss", [o.Loss!.Value], 1);
        }
        using (var o = model.Forward(sIds, pixels, sMask, sTypes))
            outputs.Add("suffix.logits_no_labels", o.Logits);
        return outputs;
    }

    private static long[,] Ids(ParityInputs inputs, string name) => GemmaParity.To2D(inputs.Int64(name), inputs.Shape(name));
}
