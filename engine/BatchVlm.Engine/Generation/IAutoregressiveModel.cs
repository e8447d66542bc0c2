// The contract between the generation loop (Generator) and a decoder model. A model runs its own prefill (prompt,
// images, encoder, masks: all model-specific) and returns a decoder state holding its KV cache, positions and key
// masks; the loop then feeds one token per row and reads next-token logits. Beam search reorders rows through
// SelectRows. Follows the split of HF's GenerationMixin (prepare_inputs_for_generation / forward /
// _reorder_cache), with the cache owned by the state instead of passed around.
namespace BatchVlm.Engine.Generation;

using BatchVlm.Engine.Tensors;

/// <summary>Everything a decoder carries between steps for a batch of rows: KV cache, per-row positions and key
/// masks, and for encoder-decoders the encoder output. Rows are independent.</summary>
public interface IDecoderState : IDisposable
{
    /// <summary>Rows currently held.</summary>
    int BatchSize { get; }

    /// <summary>Replaces the rows: new row i is old row <paramref name="sourceRows"/>[i]. A source row may repeat (beam
    /// expansion) or be dropped (finished sequences, beam pruning).</summary>
    void SelectRows(ReadOnlySpan<int> sourceRows);
}

/// <summary>A model the generation loop can drive one token at a time.</summary>
public interface IAutoregressiveModel
{
    int VocabSize { get; }

    /// <summary>Appends one token per row of <paramref name="state"/> (cache, positions and masks advance by one) and
    /// returns the logits for the next token, shape (B, V), f32.</summary>
    Tensor DecodeStep(IDecoderState state, ReadOnlySpan<int> tokens);
}

/// <summary>The result of a model's prefill: the state after the prompt and the logits of each row's last prompt
/// token, shape (B, V).</summary>
public sealed record Prefilled(IDecoderState State, Tensor LastLogits);
