// Placeholder so the project builds; replaced as the project grows.
namespace BatchVlm.Worker;

internal static class AssemblyMarker { }
