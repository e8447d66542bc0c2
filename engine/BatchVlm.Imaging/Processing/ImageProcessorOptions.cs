// Engine-side options for ImageProcessor (what the preprocessor_config.json does not say): shrink-on-load,
// decode limits, resize kernel. Bound from the "ImageProcessor" configuration section by callers that use it.
using BatchVlm.Imaging.Resampling;

namespace BatchVlm.Imaging.Processing;

public sealed record ImageProcessorOptions
{
    public static readonly ImageProcessorOptions Default = new();

    /// <summary>
    /// JPEG shrink-on-load (DCT scaling 1/2, 1/4, 1/8 before the exact resize). Default false: the output is then
    /// bit-identical to the Hugging Face processor with Pillow, which is what the models were evaluated with. Turn it on
    /// for archives of large photos where throughput matters more than exact parity (see ShrinkOversample and the
    /// deviation measured in bench/BatchVlm.Bench/Imaging).
    /// </summary>
    public bool ShrinkOnLoad { get; init; }

    /// <summary>
    /// With ShrinkOnLoad: keep the decoded image at least this many times the resize target in both directions.
    /// 1.0 is Pillow's draft() rule; the default 2.0 leaves the antialiasing resize at least a 2× reduction, which
    /// keeps the result much closer to the exact path at a modest cost (see the benchmark's deviation figures).
    /// </summary>
    public double ShrinkOversample { get; init; } = 2.0;

    /// <summary>Decoder limits (pixel limit, maximum dimension, EXIF orientation).</summary>
    public DecodeOptions Decode { get; init; } = DecodeOptions.Default;

    /// <summary>Resize kernel (Auto = the widest SIMD this CPU has; all kernels give identical bytes).</summary>
    public ResampleKernel Kernel { get; init; } = ResampleKernel.Auto;
}
