// Parity case for `AltCLIPModel` fixtures (shared/fixtures/altclip-tiny, tests/fixtures/altclip-tiny): the forward with
// hidden states and attention_mask, get_text_features and get_image_features, as the fixture README lists them.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Parity;

namespace BatchVlm.Engine.Models.Parity;

public sealed class AltClipParity : IParityCase
{
    public string Name => "altclip";

    public bool Matches(HfConfig config) =>
        config.ModelType == "altclip" || config.Architectures.Contains("AltCLIPModel");

    public ParityOutputs Run(ModelSource source, ParityInputs inputs)
    {
        var be = CpuBackend.Default;
        using var model = AltCLIPModel.Load(source.Directory, be);
        using var ids = inputs.Tensor(be, "input_ids");
        using var mask = inputs.Tensor(be, "attention_mask");
        using var pixels = inputs.Tensor(be, "pixel_values");
        var o = new ParityOutputs();

        using var text = model.TextModel.Forward(ids, mask, outputHiddenStates: true);
        using var vision = model.VisionModel.Forward(pixels, outputHiddenStates: true);
        for (int i = 0; i < text.HiddenStates!.Count; i++) o.Add($"text_hidden_states.{i}", text.HiddenStates[i]);
        for (int i = 0; i < vision.HiddenStates!.Count; i++) o.Add($"vision_hidden_states.{i}", vision.HiddenStates[i]);
        o.Add("text_last_hidden_state", text.LastHiddenState);
        o.Add("vision_last_hidden_state", vision.LastHiddenState);
        o.Add("text_pooler_output", text.PooledOutput!);
        o.Add("vision_pooler_output", vision.PooledOutput!);
        using var ti = model.ProjectText(text.PooledOutput!);
        using var ii = model.ProjectImage(vision.PooledOutput!);
        using var textEmbeds = ti.L2Normalize();
        using var imageEmbeds = ii.L2Normalize();
        o.Add("text_embeds", textEmbeds);
        o.Add("image_embeds", imageEmbeds);
        using var perText = model.LogitsPerText(textEmbeds, imageEmbeds);
        using var perImage = perText.Transpose(0, 1);
        o.Add("logits_per_text", perText);
        o.Add("logits_per_image", perImage);

        using var tf = model.GetTextFeatures(ids, mask);
        using var imf = model.GetImageFeatures(pixels);
        o.Add("text_features", tf);
        o.Add("image_features", imf);
        return o;
    }
}
