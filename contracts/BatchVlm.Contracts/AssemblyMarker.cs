// Placeholder so the project builds; replaced as the project grows.
namespace BatchVlm.Contracts;

internal static class AssemblyMarker { }
