// Pillow's resampling filters and their coefficient tables, ported from Pillow 9.4.0 src/libImaging/Resample.c
// (precompute_coeffs, normalize_coeffs_8bpc). Doubles throughout, same operation order, so the fixed-point
// coefficients are identical to Pillow's; sin/cos go to the same glibc libm through Math.Sin/Math.Cos.
namespace BatchVlm.Imaging.Resampling;

/// <summary>PIL.Image.Resampling values as used in preprocessor_config.json "resample" (NEAREST = 0 is not a filter here).</summary>
public enum ResampleFilter
{
    Lanczos = 1,
    Bilinear = 2,
    Bicubic = 3,
    Box = 4,
    Hamming = 5,
}

/// <summary>Per-output-pixel source window and fixed-point weights for one axis.</summary>
internal sealed class ResampleCoefficients
{
    /// <summary>Pillow: PRECISION_BITS = 32 - 8 - 2.</summary>
    internal const int PrecisionBits = 32 - 8 - 2;

    internal int OutSize { get; }
    /// <summary>Stride of <see cref="Weights"/> per output pixel (Pillow's ksize).</summary>
    internal int KSize { get; }
    /// <summary>(first source index, tap count) per output pixel.</summary>
    internal int[] Bounds { get; }
    /// <summary>OutSize × KSize weights in 2^-22 units, zero beyond each pixel's tap count.</summary>
    internal int[] Weights { get; }

    private ResampleCoefficients(int outSize, int ksize, int[] bounds, int[] weights)
    {
        OutSize = outSize; KSize = ksize; Bounds = bounds; Weights = weights;
    }

    internal static double Support(ResampleFilter f) => f switch
    {
        ResampleFilter.Box => 0.5,
        ResampleFilter.Bilinear => 1.0,
        ResampleFilter.Hamming => 1.0,
        ResampleFilter.Bicubic => 2.0,
        ResampleFilter.Lanczos => 3.0,
        _ => throw new ArgumentOutOfRangeException(nameof(f), f, "unknown resample filter"),
    };

    internal static double Evaluate(ResampleFilter f, double x)
    {
        switch (f)
        {
            case ResampleFilter.Box:
                return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
            case ResampleFilter.Bilinear:
                if (x < 0.0) x = -x;
                return x < 1.0 ? 1.0 - x : 0.0;
            case ResampleFilter.Hamming:
                if (x < 0.0) x = -x;
                if (x == 0.0) return 1.0;
                if (x >= 1.0) return 0.0;
                x *= Math.PI;
                return Math.Sin(x) / x * (0.54 + 0.46 * Math.Cos(x));
            case ResampleFilter.Bicubic:
                // a = -0.5 (Resample.c: "#define a -0.5"), written out as the C preprocessor expands it.
                if (x < 0.0) x = -x;
                if (x < 1.0) return ((-0.5 + 2.0) * x - (-0.5 + 3.0)) * x * x + 1;
                if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * -0.5;
                return 0.0;
            case ResampleFilter.Lanczos:
                return -3.0 <= x && x < 3.0 ? Sinc(x) * Sinc(x / 3) : 0.0;
            default:
                throw new ArgumentOutOfRangeException(nameof(f), f, "unknown resample filter");
        }
    }

    private static double Sinc(double x)
    {
        if (x == 0.0) return 1.0;
        x *= Math.PI;
        return Math.Sin(x) / x;
    }

    /// <summary>precompute_coeffs + normalize_coeffs_8bpc for the box [in0, in1) of an axis of length inSize.</summary>
    internal static ResampleCoefficients Compute(int inSize, float in0, float in1, int outSize, ResampleFilter filter)
    {
        double support, scale, filterscale;
        filterscale = scale = (double)(in1 - in0) / outSize;
        if (filterscale < 1.0) filterscale = 1.0;
        support = Support(filter) * filterscale;
        int ksize = (int)Math.Ceiling(support) * 2 + 1;
        var kk = new double[outSize * ksize];
        var bounds = new int[outSize * 2];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = in0 + (xx + 0.5) * scale;
            double ww = 0.0;
            double ss = 1.0 / filterscale;
            int xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            int k = xx * ksize;
            for (int x = 0; x < xmax; x++)
            {
                double w = Evaluate(filter, (x + xmin - center + 0.5) * ss);
                kk[k + x] = w;
                ww += w;
            }
            for (int x = 0; x < xmax; x++)
                if (ww != 0.0) kk[k + x] /= ww;
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        var weights = new int[kk.Length];
        for (int i = 0; i < kk.Length; i++)
            weights[i] = kk[i] < 0 ? (int)(-0.5 + kk[i] * (1 << PrecisionBits)) : (int)(0.5 + kk[i] * (1 << PrecisionBits));
        return new ResampleCoefficients(outSize, ksize, bounds, weights);
    }
}
