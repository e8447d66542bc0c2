// Placeholder so the project builds; replaced as the project grows.
namespace BatchVlm.Tokenizers;

internal static class AssemblyMarker { }
