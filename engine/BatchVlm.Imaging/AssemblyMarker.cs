// Placeholder so the project builds; replaced as the project grows.
namespace BatchVlm.Imaging;

internal static class AssemblyMarker { }
