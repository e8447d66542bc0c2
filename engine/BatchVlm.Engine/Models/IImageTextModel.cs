// The high-level face of the contrastive image-text models (SigLIP, CLIP, AltCLIP, BLIP-2 ITC) for the worker's
// `embed` and `score` tasks: host arrays in, host arrays out; no tensors or backends in sight.
namespace BatchVlm.Engine.Models;

/// <summary>How scores turn into probabilities: SigLIP scores each pair independently (sigmoid), CLIP compares the
/// texts against each other (softmax over the texts for each image).</summary>
public enum ScoreKind
{
    Sigmoid,
    SoftmaxOverTexts,
}

/// <summary>logits[image, text] and probabilities[image, text].</summary>
public sealed record ImageTextScores(float[,] Logits, float[,] Probabilities);

public interface IImageTextModel : IDisposable
{
    /// <summary>"siglip", "clip", ...</summary>
    string Family { get; }
    /// <summary>Length of one embedding.</summary>
    int EmbeddingDim { get; }
    /// <summary>Pixel size (square) the vision tower expects.</summary>
    int ImageSize { get; }
    ScoreKind ScoreKind { get; }

    /// <summary>pixelValues: <paramref name="batch"/> preprocessed images, (B, 3, S, S) row-major (the image
    /// processor's pixel_values) → (B, E), L2-normalised unless <paramref name="normalize"/> is false.</summary>
    float[,] EmbedImages(float[] pixelValues, int batch, bool normalize = true);

    /// <summary>ids (B, T) as the model's tokenizer lays them out; attentionMask (B, T) 1/0 or null → (B, E),
    /// L2-normalised unless <paramref name="normalize"/> is false.</summary>
    float[,] EmbedTexts(long[,] ids, long[,]? attentionMask = null, bool normalize = true);

    /// <summary>Scores normalised image embeddings (I, E) against normalised text embeddings (T, E) the way the
    /// model's forward does (scale, bias), plus the probabilities of <see cref="ScoreKind"/>.</summary>
    ImageTextScores Score(float[,] imageEmbeds, float[,] textEmbeds);
}
