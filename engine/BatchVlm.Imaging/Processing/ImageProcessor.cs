// The Hugging Face image processors (transformers 4.46.1, slow/PIL path) for encoded image bytes:
//   decode (+ exif_transpose, convert("RGB")) → resize (PIL resample, reducing_gap=None) → [center crop] →
//   rescale (float64 multiply, cast to float32) → normalize ((x - mean) / std in float32) → CHW float32.
// References: models/siglip/image_processing_siglip.py, models/clip/image_processing_clip.py,
// models/blip/image_processing_blip.py, image_transforms.py (get_resize_output_image_size, center_crop, rescale,
// normalize). Rescale and normalize are fused into one 256-entry table per channel: the table entries are computed
// with exactly numpy's operations, so a lookup is bit-identical to the two array operations.
using System.Buffers;
using System.Runtime.ExceptionServices;
using BatchVlm.Imaging.Resampling;

namespace BatchVlm.Imaging.Processing;

public sealed class ImageProcessor
{
    public ImageProcessorConfig Config { get; }
    public ImageProcessorOptions Options { get; }
    private readonly float[] _lut; // 3 × 256

    public ImageProcessor(ImageProcessorConfig config, ImageProcessorOptions? options = null)
    {
        Config = config;
        Options = options ?? ImageProcessorOptions.Default;
        _lut = BuildLut(config);
    }

    /// <summary>From a preprocessor_config.json path, a model folder containing one, or the JSON text.</summary>
    public static ImageProcessor FromConfig(string pathOrJson, ImageProcessorOptions? options = null) =>
        new(ImageProcessorConfig.Load(pathOrJson), options);

    /// <summary>The output (height, width) when it does not depend on the input (resize to h×w, or a center crop), else null.</summary>
    public (int Height, int Width)? FixedOutputSize =>
        Config.DoCenterCrop && Config.CropSize is { } c ? c
        : Config.DoResize && Config.Size.Height is { } h && Config.Size.Width is { } w ? (h, w)
        : null;

    /// <summary>Size after the resize step for an (oriented) input of width × height: get_resize_output_image_size.</summary>
    public (int Height, int Width) ResizeOutputSize(int width, int height)
    {
        if (!Config.DoResize) return (height, width);
        if (Config.Size.ShortestEdge is not { } size) return (Config.Size.Height!.Value, Config.Size.Width!.Value);
        // short, long = (width, height) if width <= height else (height, width)
        // new_long = int(requested_new_short * long / short)   (Python true division, then truncation)
        bool portrait = width <= height;
        int shortSide = portrait ? width : height, longSide = portrait ? height : width;
        int newLong = (int)((double)((long)size * longSide) / shortSide);
        return portrait ? (newLong, size) : (size, newLong);
    }

    /// <summary>Final (height, width) for an (oriented) input of width × height.</summary>
    public (int Height, int Width) OutputSize(int width, int height) =>
        Config.DoCenterCrop && Config.CropSize is { } c ? c : ResizeOutputSize(width, height);

    /// <summary>Decodes and preprocesses one encoded image into a new (3, H, W) float32 array.</summary>
    /// <exception cref="ImageDecodeException">the bytes are not a decodable image</exception>
    public float[] Preprocess(ReadOnlySpan<byte> encoded)
    {
        var info = ImageDecoder.Probe(encoded);
        var (w, h) = Options.Decode.ApplyExifOrientation ? info.OrientedSize : (info.Width, info.Height);
        var (oh, ow) = OutputSize(w, h);
        var result = new float[3 * oh * ow];
        Preprocess(encoded, result);
        return result;
    }

    /// <summary>Decodes and preprocesses one image into <paramref name="destination"/> (3 × H × W floats, CHW).</summary>
    /// <returns>the output (height, width)</returns>
    public (int Height, int Width) Preprocess(ReadOnlySpan<byte> encoded, Span<float> destination) =>
        Run(encoded, destination, null);

    /// <summary>Preprocesses an already decoded RGB image into a new (3, H, W) array.</summary>
    public float[] Preprocess(RgbImage image)
    {
        var (oh, ow) = OutputSize(image.Width, image.Height);
        var result = new float[3 * oh * ow];
        RunDecoded(image.Pixels, image.Width, image.Height, result, null);
        return result;
    }

    /// <summary>
    /// Preprocesses a batch into <paramref name="destination"/> (N × 3 × H × W, FixedOutputSize required), item i at
    /// offset i·3·H·W, using up to <paramref name="maxDegreeOfParallelism"/> threads. A bad item does not stop the
    /// batch: its slot is zero-filled and its error is returned at its index (null where the item succeeded). A failure
    /// that is no item's fault (a native image library missing) is thrown as itself, not wrapped in AggregateException.
    /// </summary>
    public ImageDecodeException?[] PreprocessBatch(IReadOnlyList<ReadOnlyMemory<byte>> images, float[] destination, int maxDegreeOfParallelism = 1)
    {
        var (h, w) = FixedOutputSize ?? throw new InvalidOperationException(
            $"{Config.TypeName} without a fixed output size (no crop, shortest_edge resize) cannot fill a batch tensor");
        int per = 3 * h * w;
        if (destination.Length < (long)per * images.Count)
            throw new ArgumentException($"destination holds {destination.Length} floats, the batch needs {(long)per * images.Count}");
        var errors = new ImageDecodeException?[images.Count];
        try
        {
            Parallel.For(0, images.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, maxDegreeOfParallelism) }, i =>
            {
                var slot = destination.AsSpan(i * per, per);
                try { Run(images[i].Span, slot, null); }
                catch (ImageDecodeException e) { slot.Clear(); errors[i] = e; }
            });
        }
        catch (AggregateException e)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        return errors;
    }

    /// <summary>The uint8 stages, for parity tests: after resize (HWC) and after the center crop (HWC).</summary>
    internal sealed class Intermediates
    {
        public RgbImage? Resized;
        public RgbImage? Cropped;
    }

    internal (int Height, int Width) Run(ReadOnlySpan<byte> encoded, Span<float> destination, Intermediates? capture)
    {
        var decodeOptions = Options.Decode;
        (int Height, int Width)? resizeTo = null;
        if (Options.ShrinkOnLoad && Config.DoResize)
        {
            var info = ImageDecoder.Probe(encoded);
            var (w, h) = decodeOptions.ApplyExifOrientation ? info.OrientedSize : (info.Width, info.Height);
            // The resize target follows the full-size image (HF never sees the shrunk one), not the shrunk one's rounding.
            var (rh, rw) = ResizeOutputSize(w, h);
            resizeTo = (rh, rw);
            decodeOptions = decodeOptions with { ShrinkTarget = (rw, rh), ShrinkOversample = Options.ShrinkOversample };
        }
        byte[]? rented = null;
        var image = ImageDecoder.Decode(encoded, decodeOptions, n => rented = ArrayPool<byte>.Shared.Rent(n), out _);
        try
        {
            return RunDecoded(image.Pixels, image.Width, image.Height, destination, capture, resizeTo);
        }
        finally
        {
            // exif_transpose may have replaced the pooled buffer with its own; return the pooled one either way.
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private (int Height, int Width) RunDecoded(byte[] pixels, int width, int height, Span<float> destination, Intermediates? capture,
        (int Height, int Width)? resizeTo = null)
    {
        var (rh, rw) = resizeTo ?? ResizeOutputSize(width, height);
        byte[]? resizedRented = null;
        ReadOnlySpan<byte> cur = pixels.AsSpan(0, width * height * 3);
        int cw = width, ch = height;
        try
        {
            if (Config.DoResize && (rw != width || rh != height))
            {
                resizedRented = ArrayPool<byte>.Shared.Rent(rw * rh * 3);
                PillowResampler.Resize(cur, width, height, resizedRented, rw, rh, Config.Resample, Options.Kernel);
                cur = resizedRented.AsSpan(0, rw * rh * 3);
                cw = rw; ch = rh;
            }
            if (capture is not null) capture.Resized = new RgbImage(cw, ch, cur.ToArray());
            if (Config.DoCenterCrop && Config.CropSize is { } crop)
            {
                var (oh, ow) = crop;
                CheckDestination(destination, oh, ow);
                if (capture is not null)
                {
                    var cropped = new byte[oh * ow * 3];
                    CenterCrop(cur, cw, ch, cropped, ow, oh);
                    capture.Cropped = new RgbImage(ow, oh, cropped);
                    Normalize(cropped, ow * oh, destination);
                }
                else
                {
                    var cropped = ArrayPool<byte>.Shared.Rent(oh * ow * 3);
                    try
                    {
                        CenterCrop(cur, cw, ch, cropped, ow, oh);
                        Normalize(cropped.AsSpan(0, oh * ow * 3), ow * oh, destination);
                    }
                    finally { ArrayPool<byte>.Shared.Return(cropped); }
                }
                return (oh, ow);
            }
            CheckDestination(destination, ch, cw);
            Normalize(cur, cw * ch, destination);
            return (ch, cw);
        }
        finally
        {
            if (resizedRented is not null) ArrayPool<byte>.Shared.Return(resizedRented);
        }
    }

    private static void CheckDestination(Span<float> destination, int h, int w)
    {
        if (destination.Length < 3 * h * w)
            throw new ArgumentException($"destination holds {destination.Length} floats, the image needs 3x{h}x{w} = {3 * h * w}");
    }

    /// <summary>
    /// image_transforms.center_crop: top = (H - h) // 2, left = (W - w) // 2 (floor division); when the crop is larger
    /// than the image, the image is first zero-padded to max sizes with ceil((new - old) / 2) before it.
    /// </summary>
    internal static void CenterCrop(ReadOnlySpan<byte> src, int width, int height, Span<byte> dst, int cropWidth, int cropHeight)
    {
        int top = FloorDiv(height - cropHeight, 2), left = FloorDiv(width - cropWidth, 2);
        if (top >= 0 && top + cropHeight <= height && left >= 0 && left + cropWidth <= width)
        {
            for (int y = 0; y < cropHeight; y++)
                src.Slice(((top + y) * width + left) * 3, cropWidth * 3).CopyTo(dst.Slice(y * cropWidth * 3, cropWidth * 3));
            return;
        }
        int newH = Math.Max(cropHeight, height), newW = Math.Max(cropWidth, width);
        int topPad = (newH - height + 1) / 2, leftPad = (newW - width + 1) / 2;
        top += topPad; left += leftPad;
        int y0 = Math.Max(0, top), y1 = Math.Min(newH, top + cropHeight);
        int x0 = Math.Max(0, left), x1 = Math.Min(newW, left + cropWidth);
        // Output = padded[y0:y1, x0:x1]; with these formulas y1 - y0 == cropHeight and x1 - x0 == cropWidth.
        dst[..(cropWidth * cropHeight * 3)].Clear();
        for (int y = y0; y < y1; y++)
        {
            int sy = y - topPad;
            if (sy < 0 || sy >= height) continue;
            for (int x = x0; x < x1; x++)
            {
                int sx = x - leftPad;
                if (sx < 0 || sx >= width) continue;
                int d = ((y - y0) * cropWidth + (x - x0)) * 3, s = (sy * width + sx) * 3;
                dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2];
            }
        }
    }

    private static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);

    /// <summary>Fused rescale + normalize + HWC→CHW through the per-channel table.</summary>
    internal void Normalize(ReadOnlySpan<byte> hwc, int pixels, Span<float> chw)
    {
        var l0 = _lut.AsSpan(0, 256); var l1 = _lut.AsSpan(256, 256); var l2 = _lut.AsSpan(512, 256);
        var c0 = chw[..pixels]; var c1 = chw.Slice(pixels, pixels); var c2 = chw.Slice(2 * pixels, pixels);
        for (int i = 0; i < pixels; i++)
        {
            c0[i] = l0[hwc[3 * i]];
            c1[i] = l1[hwc[3 * i + 1]];
            c2[i] = l2[hwc[3 * i + 2]];
        }
    }

    /// <summary>The scalar twin of the table: rescale then normalize for one value, as numpy computes it.</summary>
    internal static float RescaleNormalize(ImageProcessorConfig config, int channel, byte value)
    {
        // rescale: (image.astype(np.float64) * scale).astype(np.float32)
        float x = config.DoRescale ? (float)(value * config.RescaleFactor) : value;
        // normalize: mean/std become float32 arrays; (image - mean) / std in float32
        if (config.DoNormalize) x = (x - (float)config.ImageMean[channel]) / (float)config.ImageStd[channel];
        return x;
    }

    private static float[] BuildLut(ImageProcessorConfig config)
    {
        var lut = new float[3 * 256];
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < 256; v++)
                lut[c * 256 + v] = RescaleNormalize(config, c, (byte)v);
        return lut;
    }
}
