// Parity cases for the CLIP-style dual encoders, `CLIPModel` (clip-tiny) and `AltCLIPModel` (altclip-tiny): the
// forward with hidden states and attention_mask, get_text_features and get_image_features, as the fixture READMEs
// list them. Both fixtures hold the same tensor names, so one case body serves both models.
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Parity;

namespace BatchVlm.Engine.Models.Parity;

public abstract class ClipStyleParity : IParityCase
{
    public abstract string Name { get; }
    public abstract bool Matches(HfConfig config);
    protected abstract ClipStyleDualEncoder Load(string directory, IBackend backend);

    public ParityOutputs Run(ModelSource source, ParityInputs inputs)
    {
        var be = CpuBackend.Default;
        using var model = Load(source.Directory, be);
        using var ids = inputs.Tensor(be, "input_ids");
        using var mask = inputs.Tensor(be, "attention_mask");
        using var pixels = inputs.Tensor(be, "pixel_values");
        var o = new ParityOutputs();

        using var text = model.ForwardText(ids, mask, outputHiddenStates: true);
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

public sealed class ClipParity : ClipStyleParity
{
    public override string Name => "clip";
    public override bool Matches(HfConfig config) => config.ModelType == "clip" || config.Architectures.Contains("CLIPModel");
    protected override ClipStyleDualEncoder Load(string directory, IBackend backend) => CLIPModel.Load(directory, backend);
}

public sealed class AltClipParity : ClipStyleParity
{
    public override string Name => "altclip";
    public override bool Matches(HfConfig config) => config.ModelType == "altclip" || config.Architectures.Contains("AltCLIPModel");
    protected override ClipStyleDualEncoder Load(string directory, IBackend backend) => AltCLIPModel.Load(directory, backend);
}
