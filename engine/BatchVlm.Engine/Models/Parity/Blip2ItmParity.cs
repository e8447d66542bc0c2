// Parity case for `Blip2ForImageTextRetrieval` fixtures (tests/fixtures/blip2-itm-tiny): the vision tower, the ITM
// pass (Q-Former on [queries; text], itm_head averaged over queries, softmax) on the first two texts, and the ITC
// pass (query-only and text-only Q-Former passes, projections, max-over-queries similarity) on all texts.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Parity;

namespace BatchVlm.Engine.Models.Parity;

public sealed class Blip2ItmParity : IParityCase
{
    public string Name => "blip2-itm";

    public bool Matches(HfConfig config) => config.Architectures.Contains("Blip2ForImageTextRetrieval");

    public ParityOutputs Run(ModelSource source, ParityInputs inputs)
    {
        var be = CpuBackend.Default;
        using var model = Blip2ForImageTextRetrieval.Load(source.Directory, be);
        using var pixels = inputs.Tensor(be, "pixel_values");
        using var ids = inputs.Tensor(be, "input_ids");
        using var mask = inputs.Tensor(be, "attention_mask");
        var o = new ParityOutputs();

        using var query = model.Front.Forward(pixels);
        o.Add("vision_last_hidden_state", query.Vision.LastHiddenState);

        // itm: input_ids[:2] paired with the two images
        using (var ids2 = ids.Narrow(0, 0, 2))
        using (var mask2 = mask.Narrow(0, 0, 2))
        {
            var (h, logits) = model.Match(query.Vision.LastHiddenState, ids2, mask2);
            using (h)
            using (logits)
            using (var probs = logits.Softmax())
            {
                o.Add("itm.qformer_last_hidden_state", h);
                o.Add("itm.logits_per_image", logits);
                o.Add("itm.probs", probs);
            }
        }

        using var imageEmbeds = model.ImageEmbeds(query.QFormerLastHiddenState);
        var (th, textEmbeds) = model.TextEmbeds(ids, mask);
        using (th)
        using (textEmbeds)
        using (var perImage = model.LogitsPerImage(imageEmbeds, textEmbeds))
        using (var perText = perImage.Transpose(0, 1))
        {
            o.Add("itc.image_embeds", imageEmbeds);
            o.Add("itc.text_embeds", textEmbeds);
            o.Add("itc.text_qformer_last_hidden_state", th);
            o.Add("itc.logits_per_image", perImage);
            o.Add("itc.logits_per_text", perText);
        }
        return o;
    }
}
