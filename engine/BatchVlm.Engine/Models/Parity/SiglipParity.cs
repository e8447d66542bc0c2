// Parity case for `SiglipModel` fixtures (shared/fixtures/siglip-tiny, tests/fixtures/siglip-tiny): the model's
// forward with hidden states, get_text_features and get_image_features, as the fixture README lists them.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Parity;

namespace BatchVlm.Engine.Models.Parity;

public sealed class SiglipParity : IParityCase
{
    public string Name => "siglip";

    public bool Matches(HfConfig config) =>
        config.ModelType == "siglip" || config.Architectures.Contains("SiglipModel");

    public ParityOutputs Run(ModelSource source, ParityInputs inputs)
    {
        var be = CpuBackend.Default;
        using var model = SiglipModel.Load(source.Directory, be);
        using var ids = inputs.Tensor(be, "input_ids");
        using var pixels = inputs.Tensor(be, "pixel_values");
        var o = new ParityOutputs();

        // model(input_ids, pixel_values, output_hidden_states=True); the SigLIP processor passes no attention_mask.
        using var text = model.TextModel.Forward(ids, null, outputHiddenStates: true);
        using var vision = model.VisionModel.Forward(pixels, outputHiddenStates: true);
        for (int i = 0; i < text.HiddenStates!.Count; i++) o.Add($"text_hidden_states.{i}", text.HiddenStates[i]);
        for (int i = 0; i < vision.HiddenStates!.Count; i++) o.Add($"vision_hidden_states.{i}", vision.HiddenStates[i]);
        o.Add("text_last_hidden_state", text.LastHiddenState);
        o.Add("vision_last_hidden_state", vision.LastHiddenState);
        using var textEmbeds = text.PooledOutput!.L2Normalize();
        using var imageEmbeds = vision.PooledOutput!.L2Normalize();
        o.Add("text_embeds", textEmbeds);
        o.Add("image_embeds", imageEmbeds);
        using var perText = model.LogitsPerText(textEmbeds, imageEmbeds);
        using var perImage = perText.Transpose(0, 1);
        o.Add("logits_per_text", perText);
        o.Add("logits_per_image", perImage);

        // get_text_features / get_image_features: separate calls, as the fixture computed them
        using var tf = model.GetTextFeatures(ids);
        using var imf = model.GetImageFeatures(pixels);
        o.Add("text_features", tf);
        o.Add("image_features", imf);
        return o;
    }
}
