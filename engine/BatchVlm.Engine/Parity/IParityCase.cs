// The contract between the parity harness (`batchvlm parity FIXTURE_DIR`) and a model family: each family adds ONE
// file, engine/BatchVlm.Engine/Models/Parity/<Family>Parity.cs, with a class implementing IParityCase and a public
// parameterless constructor; ParityRegistry finds it by reflection. See Loading/README.md for the convention.
using BatchVlm.Engine.Loading;

namespace BatchVlm.Engine.Parity;

/// <summary>Runs one model family on a fixture's inputs and returns what it computed, under the expected names.</summary>
public interface IParityCase
{
    /// <summary>Short name printed in the report ("siglip", "clip").</summary>
    string Name { get; }

    /// <summary>True when this case runs the model <paramref name="config"/> describes (its <c>model_type</c> and/or
    /// <c>architectures</c>). Exactly one registered case may match a fixture.</summary>
    bool Matches(HfConfig config);

    /// <summary>
    /// Loads the model from <paramref name="source"/> (config.json + weights), runs it on <paramref name="inputs"/>
    /// as the fixture's README describes, and returns every tensor it computes under the names used in
    /// expected.safetensors. A tensor it does not compute is simply left out (reported SKIPPED).
    /// </summary>
    ParityOutputs Run(ModelSource source, ParityInputs inputs);
}
