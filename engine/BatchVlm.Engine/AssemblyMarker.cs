// Placeholder so the project builds; replaced as the project grows.
namespace BatchVlm.Engine;

internal static class AssemblyMarker { }
