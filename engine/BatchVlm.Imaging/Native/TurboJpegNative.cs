// P/Invoke declarations for the TurboJPEG API of libjpeg-turbo 2.1 (Debian libturbojpeg0), the same libjpeg-turbo
// 2.1.5 that Pillow 9.4 decodes with. Reference: turbojpeg.h of libjpeg-turbo 2.1.5.
using System.Runtime.InteropServices;

namespace BatchVlm.Imaging.Native;

internal static unsafe partial class TurboJpegNative
{
    // Pixel formats (TJPF_*).
    internal const int PixelFormatRgb = 0;
    internal const int PixelFormatGray = 6;
    internal const int PixelFormatCmyk = 11;

    // JPEG colour spaces (TJCS_*).
    internal const int ColorspaceRgb = 0;
    internal const int ColorspaceYCbCr = 1;
    internal const int ColorspaceGray = 2;
    internal const int ColorspaceCmyk = 3;
    internal const int ColorspaceYcck = 4;

    // Flags. No TJFLAG_FASTUPSAMPLE / TJFLAG_FASTDCT: Pillow leaves libjpeg's defaults (fancy upsampling, JDCT_ISLOW).
    internal const int FlagAccurateDct = 4096;
    /// <summary>TJFLAG_LIMITSCANS: refuse progressive JPEGs with more than 500 scans (a CPU-exhaustion attack).</summary>
    internal const int FlagLimitScans = 32768;

    internal const int ErrorWarning = 0;

    static TurboJpegNative() => NativeLibraries.EnsureResolver();

    internal static void Ensure() => NativeLibraries.Require(NativeLibraries.TurboJpeg);

    [LibraryImport(NativeLibraries.TurboJpeg)]
    internal static partial TurboJpegHandle tjInitDecompress();

    [LibraryImport(NativeLibraries.TurboJpeg)]
    internal static partial int tjDestroy(IntPtr handle);

    [LibraryImport(NativeLibraries.TurboJpeg)]
    internal static partial int tjDecompressHeader3(TurboJpegHandle handle, byte* jpegBuf, nuint jpegSize,
        out int width, out int height, out int jpegSubsamp, out int jpegColorspace);

    [LibraryImport(NativeLibraries.TurboJpeg)]
    internal static partial int tjDecompress2(TurboJpegHandle handle, byte* jpegBuf, nuint jpegSize, byte* dstBuf,
        int width, int pitch, int height, int pixelFormat, int flags);

    [LibraryImport(NativeLibraries.TurboJpeg)]
    private static partial IntPtr tjGetErrorStr2(TurboJpegHandle handle);

    /// <summary>tjGetErrorStr2(NULL): the last error of a call that had no handle (tjInitDecompress).</summary>
    [LibraryImport(NativeLibraries.TurboJpeg, EntryPoint = "tjGetErrorStr2")]
    private static partial IntPtr tjGetGlobalErrorStr(IntPtr none);

    [LibraryImport(NativeLibraries.TurboJpeg)]
    internal static partial int tjGetErrorCode(TurboJpegHandle handle);

    internal static string ErrorString(TurboJpegHandle handle) => Marshal.PtrToStringUTF8(tjGetErrorStr2(handle)) ?? "unknown error";

    /// <summary>A new decompressor, or an exception carrying TurboJPEG's reason.</summary>
    internal static TurboJpegHandle CreateDecompressor()
    {
        Ensure();
        var handle = tjInitDecompress();
        if (!handle.IsInvalid) return handle;
        handle.Dispose();
        throw new InvalidOperationException(
            $"tjInitDecompress failed: {Marshal.PtrToStringUTF8(tjGetGlobalErrorStr(IntPtr.Zero)) ?? "unknown error"}");
    }
}

/// <summary>
/// A TurboJPEG instance (tjhandle). A SafeHandle so that tjDestroy runs on Dispose and, for a handle cached per thread,
/// from the finalizer once that thread has ended; calls in flight keep it alive (the marshaller adds a reference).
/// </summary>
internal sealed class TurboJpegHandle : SafeHandle
{
    public TurboJpegHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    public override bool IsInvalid => handle == IntPtr.Zero;

    // tjDestroy returns -1 only for a NULL/invalid handle, which IsInvalid already excludes.
    protected override bool ReleaseHandle() => TurboJpegNative.tjDestroy(handle) == 0;
}
