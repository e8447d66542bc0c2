// The one exception type for a model that cannot be loaded: bad file, missing weight, wrong shape, bad config,
// download failure. Permanent unless IsTransient says otherwise (network errors, 5xx/429 from the hub).
namespace BatchVlm.Engine.Loading;

/// <summary>A model, checkpoint, config or download could not be loaded. The message names the item and the reason.</summary>
public sealed class ModelLoadException : Exception
{
    public ModelLoadException(string message, Exception? inner = null, bool isTransient = false)
        : base(message, inner) => IsTransient = isTransient;

    /// <summary>True when retrying later may succeed (network failure, hub 5xx/429); false for bad files and keys.</summary>
    public bool IsTransient { get; }
}
