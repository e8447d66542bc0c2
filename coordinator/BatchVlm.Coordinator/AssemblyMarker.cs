// Placeholder so the project builds; replaced as the project grows.
namespace BatchVlm.Coordinator;

internal static class AssemblyMarker { }
