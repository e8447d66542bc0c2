// The model behind the `embed` and `score` tasks, whatever its family: SigLIP, CLIP and AltCLIP through
// IImageTextModel, BLIP-2 through Blip2ForImageTextRetrieval (contrastive ITC embeddings, ITM matching) — with the
// checkpoint's tokenizer and image processor. Texts are laid out as each family's HF processor does:
//   SigLIP  padding="max_length" to the text tower's length, no attention mask (it pools the last position);
//   CLIP / AltCLIP / BLIP-2 (BERT)  padding to the longest text, with an attention mask.
// Text ids are checked against the text tower's vocab_size (a tokenizer/model mismatch fails at session open,
// naming the text), and truncated to the tower's max_position_embeddings.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Models;
using BatchVlm.Imaging.Processing;
using BatchVlm.Tokenizers;

namespace BatchVlm.Worker.Models;

public sealed class ContrastiveModel
{
    /// <summary>siglip, clip, altclip or blip-2.</summary>
    public required string Family { get; init; }
    public required string ModelId { get; init; }
    public required string Directory { get; init; }
    /// <summary>SigLIP / CLIP / AltCLIP; null for BLIP-2.</summary>
    public IImageTextModel? ImageText { get; init; }
    /// <summary>BLIP-2 retrieval checkpoint; null otherwise.</summary>
    public Blip2ForImageTextRetrieval? Blip2 { get; init; }
    public required Tokenizer Tokenizer { get; init; }
    public required ImageProcessor Processor { get; init; }
    public required int ImageSize { get; init; }
    /// <summary>Width of one embedding vector.</summary>
    public required int EmbeddingDim { get; init; }
    public required int TextVocabSize { get; init; }
    public required int TextMaxLength { get; init; }

    public bool IsBlip2 => Blip2 is not null;

    /// <summary>The worker-wide instance for a model id (loaded once).</summary>
    public static ContrastiveModel Get(string modelId) => ModelCache.Get("contrastive", modelId, Load);

    public static ContrastiveModel Load(string modelId)
    {
        var dir = ModelFolders.Resolve(modelId);
        var config = ModelFolders.Config(dir);
        var type = ModelFolders.ModelType(config);
        var backend = CpuBackend.Default;
        Tokenizer tokenizer;
        try
        {
            tokenizer = Tokenizer.FromFile(dir);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or InvalidOperationException or TokenizerFormatException)
        {
            throw new ModelLoadException($"{dir}: no usable tokenizer ({ex.Message})");
        }
        switch (type)
        {
            case "siglip" or "clip" or "altclip":
            {
                IImageTextModel model = type switch
                {
                    "siglip" => SiglipModel.Load(dir, backend),
                    "clip" => CLIPModel.Load(dir, backend),
                    _ => AltCLIPModel.Load(dir, backend),
                };
                var defaults = type == "siglip" ? ModelFolders.SiglipDefaults(model.ImageSize) : ModelFolders.ClipDefaults(model.ImageSize);
                return new ContrastiveModel
                {
                    Family = type, ModelId = modelId, Directory = dir, ImageText = model, Tokenizer = tokenizer,
                    Processor = ModelFolders.Processor(dir, defaults, model.ImageSize), ImageSize = model.ImageSize,
                    EmbeddingDim = model.EmbeddingDim,
                    TextVocabSize = ModelFolders.Int(config, "text_config.vocab_size", int.MaxValue),
                    // XLM-R positions start after padding_idx + 1, so AltCLIP holds two fewer tokens than its table.
                    TextMaxLength = type == "altclip"
                        ? ModelFolders.Int(config, "text_config.max_position_embeddings", 514) - 2
                        : ModelFolders.Int(config, "text_config.max_position_embeddings", type == "siglip" ? 64 : 77),
                };
            }
            case "blip-2":
            {
                var model = Blip2ForImageTextRetrieval.Load(dir, backend);
                return new ContrastiveModel
                {
                    Family = type, ModelId = modelId, Directory = dir, Blip2 = model, Tokenizer = tokenizer,
                    Processor = ModelFolders.Processor(dir, ModelFolders.BlipDefaults(model.ImageSize), model.ImageSize),
                    ImageSize = model.ImageSize, EmbeddingDim = model.EmbeddingDim,
                    TextVocabSize = ModelFolders.Int(config, "qformer_config.vocab_size", 30522),
                    TextMaxLength = ModelFolders.Int(config, "qformer_config.max_position_embeddings", 512),
                };
            }
            default:
                throw new ModelLoadException(
                    $"{dir}: model_type '{type}' has no image-text embeddings here (embed and score take siglip, clip, altclip, blip-2)");
        }
    }

    /// <summary>Token ids (T, L) and mask (T, L) of the texts as the family's processor lays them out (see header).</summary>
    public (long[,] Ids, long[,]? Mask) EncodeTexts(IReadOnlyList<string> texts)
    {
        var encoded = new int[texts.Count][];
        for (int i = 0; i < texts.Count; i++)
        {
            var ids = Tokenizer.Encode(texts[i]);
            if (ids.Length > TextMaxLength)
            {
                // Keep the closing special token (eos / [SEP] / </s>) as HF truncation does.
                var end = ids[^1];
                ids = [.. ids.AsSpan(0, TextMaxLength - 1), end];
            }
            foreach (var id in ids)
            {
                if (id < 0 || id >= TextVocabSize)
                    throw new ArgumentException(
                        $"text {i} '{texts[i]}' has token id {id}, outside the text tower's vocab_size {TextVocabSize} (tokenizer and model do not match)");
            }
            encoded[i] = ids;
        }
        int pad = Tokenizer.PadTokenId ?? 0;
        bool maxLength = Family == "siglip";
        int len = maxLength ? TextMaxLength : Math.Max(1, encoded.Max(e => e.Length));
        var idsOut = new long[texts.Count, len];
        var mask = new long[texts.Count, len];
        for (int i = 0; i < texts.Count; i++)
        {
            for (int j = 0; j < len; j++)
            {
                bool real = j < encoded[i].Length;
                idsOut[i, j] = real ? encoded[i][j] : pad;
                mask[i, j] = real ? 1 : 0;
            }
        }
        return (idsOut, maxLength ? null : mask);
    }
}
