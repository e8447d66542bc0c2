// A decoded 8-bit RGB image, rows top to bottom, pixels interleaved R,G,B (HWC) — numpy's view of a PIL "RGB" image.
namespace BatchVlm.Imaging;

/// <param name="Pixels">Height × Width × 3 bytes, row stride Width × 3</param>
public sealed record RgbImage(int Width, int Height, byte[] Pixels)
{
    public int Stride => Width * 3;

    public Span<byte> Row(int y) => Pixels.AsSpan(y * Stride, Stride);
}
