// Header-level facts about an encoded image, read without decoding pixels (ImageDecoder.Probe).
namespace BatchVlm.Imaging;

public enum ImageFormat { Unknown, Jpeg, Png, Gif, WebP, Tiff, Bmp, Heif, Jxl, Other }

/// <param name="Format">container format sniffed from the magic bytes (the file extension is never trusted)</param>
/// <param name="Width">stored width in pixels, before the EXIF orientation is applied</param>
/// <param name="Height">stored height in pixels, before the EXIF orientation is applied</param>
/// <param name="Bands">samples per pixel as stored (1 grey/palette, 2 grey+alpha, 3 RGB/YCbCr, 4 RGBA/CMYK)</param>
/// <param name="ExifOrientation">EXIF orientation tag 1..8 (1 when absent or invalid)</param>
/// <param name="FrameCount">frames for animated formats when known from the header, else 1</param>
public sealed record ImageInfo(ImageFormat Format, int Width, int Height, int Bands, int ExifOrientation, int FrameCount = 1)
{
    /// <summary>Width and height after the EXIF orientation (5..8 swap them), i.e. the size of the decoded RGB image.</summary>
    public (int Width, int Height) OrientedSize => ExifOrientation >= 5 ? (Height, Width) : (Width, Height);
}
