// Options and results of autoregressive generation (greedy, seeded sampling, beam search), shared by every decoder
// model (Gemma/PaliGemma now, BLIP-2's OPT and T5 later). Names and defaults follow Hugging Face's GenerationConfig
// (transformers 4.46.1, generation/configuration_utils.py) except where stated; see REFERENCE.md in this folder.
namespace BatchVlm.Engine.Generation;

/// <summary>When beam search stops (HF <c>early_stopping</c>).</summary>
public enum BeamEarlyStopping
{
    /// <summary>HF <c>False</c> (its default): stop when no live beam can beat the worst kept hypothesis, estimated at the current length.</summary>
    Heuristic,
    /// <summary>HF <c>True</c>: stop as soon as <c>NumBeams</c> finished hypotheses exist.</summary>
    Always,
    /// <summary>HF <c>"never"</c>: canonical beam search, stop only when no better candidate can exist.</summary>
    Never,
}

/// <summary>Why a sequence stopped.</summary>
public enum FinishReason
{
    /// <summary>It produced one of the end-of-sequence ids (the id is the last token).</summary>
    Eos,
    /// <summary>It reached <see cref="GenerationOptions.MaxNewTokens"/>.</summary>
    Length,
}

public sealed record GenerationOptions
{
    /// <summary>Most new tokens per sequence (HF <c>max_new_tokens</c>). Default 20 (HF's default <c>max_length</c>).</summary>
    public int MaxNewTokens { get; init; } = 20;

    /// <summary>Ids that end a sequence (HF <c>eos_token_id</c>, usually from generation_config.json). Default: none.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    /// <summary>Id written after a sequence finished while others go on (HF <c>pad_token_id</c>). Default 0 (Gemma's pad).</summary>
    public int PadTokenId { get; init; }

    /// <summary>Beam width (HF <c>num_beams</c>). Default 1 = greedy or sampling.</summary>
    public int NumBeams { get; init; } = 1;

    /// <summary>Beam score = sum of log-probs / generated_length ^ LengthPenalty (HF <c>length_penalty</c>). Default 1.0.</summary>
    public float LengthPenalty { get; init; } = 1.0f;

    /// <summary>Beam stopping rule (HF <c>early_stopping</c>). Default <see cref="BeamEarlyStopping.Heuristic"/> (HF False).</summary>
    public BeamEarlyStopping EarlyStopping { get; init; } = BeamEarlyStopping.Heuristic;

    /// <summary>Sample instead of taking the arg-max (HF <c>do_sample</c>). Default false. Not combined with beams.</summary>
    public bool DoSample { get; init; }

    /// <summary>Logits are divided by this before top-k/top-p (HF <c>temperature</c>). Default 1.0. Must be &gt; 0.</summary>
    public float Temperature { get; init; } = 1.0f;

    /// <summary>Keep only the k most likely tokens when sampling; 0 disables (HF <c>top_k</c>). Default 50, as HF.</summary>
    public int TopK { get; init; } = 50;

    /// <summary>Nucleus sampling: keep the smallest set of tokens whose probability sum exceeds TopP (HF <c>top_p</c>).
    /// Default 1.0 (off).</summary>
    public float TopP { get; init; } = 1.0f;

    /// <summary>Seed of the sampler. Row r of a batch draws from its own stream seeded by (Seed, r), so a row's tokens do
    /// not depend on the other rows. Default 0. (The stream is ours, not torch's: samples are reproducible against this
    /// engine only.)</summary>
    public ulong Seed { get; init; }

    /// <summary>Keep the raw logits of every step (HF <c>output_logits</c>); costs batch × vocab floats per step.
    /// Default false.</summary>
    public bool OutputLogits { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate(int vocabSize)
    {
        if (MaxNewTokens < 1) throw new ArgumentException($"MaxNewTokens must be at least 1, got {MaxNewTokens}");
        if (NumBeams < 1) throw new ArgumentException($"NumBeams must be at least 1, got {NumBeams}");
        if (NumBeams > 1 && DoSample)
            throw new ArgumentException("beam sampling (NumBeams > 1 with DoSample) is not supported: choose beams or sampling");
        if (!(Temperature > 0) || float.IsInfinity(Temperature))
            throw new ArgumentException($"Temperature must be a positive finite number, got {Temperature}");
        if (TopK < 0) throw new ArgumentException($"TopK must be >= 0 (0 disables it), got {TopK}");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"TopP must be in (0, 1], got {TopP}");
        if (float.IsNaN(LengthPenalty)) throw new ArgumentException("LengthPenalty is NaN");
        if (PadTokenId < 0 || PadTokenId >= vocabSize)
            throw new ArgumentException($"PadTokenId {PadTokenId} is outside the vocabulary [0, {vocabSize})");
        foreach (var e in EosTokenIds)
            if (e < 0 || e >= vocabSize)
                throw new ArgumentException($"EosTokenId {e} is outside the vocabulary [0, {vocabSize})");
        if (NumBeams > 1 && EosTokenIds.Count == 0)
            throw new ArgumentException("beam search needs at least one EosTokenId");
    }
}

/// <summary>One generated sequence: the new tokens only (the prompt is not echoed), the eos id included when it
/// stopped on one.</summary>
/// <param name="Score">Beam search: the length-penalised log-probability HF reports as <c>sequences_scores</c>;
/// greedy/sampling: the sum of log-probabilities of the chosen tokens under the processed distribution.</param>
public sealed record GeneratedSequence(IReadOnlyList<int> Tokens, FinishReason Finish, double Score);

/// <summary>Results in input row order.</summary>
/// <param name="StepLogits">When <see cref="GenerationOptions.OutputLogits"/>: for each step, the raw logits
/// (rows × vocab, row-major) of the rows still running at that step; finished rows are NaN. Beam search: per step,
/// the logits of every beam (rows × beams × vocab). Null otherwise.</param>
/// <param name="Steps">Decoder steps run (forward calls after the prefill).</param>
public sealed record GenerationResult(IReadOnlyList<GeneratedSequence> Sequences, IReadOnlyList<float[]>? StepLogits, int Steps);
