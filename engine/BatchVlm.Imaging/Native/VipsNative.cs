// P/Invoke declarations for libvips 8.14 (Debian libvips42), verified in research/infra-probe.md §5. Only
// non-varargs entry points plus vips_image_new_from_buffer, whose option string carries the loader options and
// whose varargs list is just the NULL terminator (passed as an explicit trailing pointer, x86-64 SysV).
using System.Runtime.InteropServices;

namespace BatchVlm.Imaging.Native;

internal static unsafe partial class VipsNative
{
    // VipsBandFormat
    internal const int FormatUChar = 0;
    internal const int FormatChar = 1;
    internal const int FormatUShort = 2;
    internal const int FormatShort = 3;
    internal const int FormatUInt = 4;
    internal const int FormatInt = 5;
    internal const int FormatFloat = 6;
    internal const int FormatDouble = 8;

    // VipsInterpretation (subset)
    internal const int InterpretationBW = 1;
    internal const int InterpretationCmyk = 15;
    internal const int InterpretationGrey16 = 26;
    internal const int InterpretationRgb16 = 25;

    static VipsNative() => NativeLibraries.EnsureResolver();

    private static readonly Lazy<bool> Initialised = new(() =>
    {
        NativeLibraries.Require(NativeLibraries.GLib);
        NativeLibraries.Require(NativeLibraries.GObject);
        NativeLibraries.Require(NativeLibraries.Vips);
        if (vips_init("batchvlm") != 0)
            throw new ImagingNativeLibraryException(NativeLibraries.Vips, "vips_init failed: " + TakeError());
        // Decode warnings would go to stderr; failures reach us through vips' error buffer instead. This is what
        // vips_init does when VIPS_WARNING is set, without writing the C environment: glibc's setenv may free the
        // environ array under a concurrent getenv on any other thread (ICU, libjpeg-turbo's SIMD setup, ...), which
        // segfaulted worker and test processes.
        g_log_set_handler("VIPS", GLogLevelWarning, &DropLogMessage, IntPtr.Zero);
        // Never load through ImageMagick / poppler & co. (vips "untrusted" loaders) from archive bytes.
        vips_block_untrusted_set(1);
        // One image at a time per caller thread; parallelism comes from our own workers.
        vips_concurrency_set(1);
        vips_cache_set_max(0);
        return true;
    });

    internal static void Ensure() => _ = Initialised.Value;

    private const int GLogLevelWarning = 1 << 4;

    [UnmanagedCallersOnly]
    private static void DropLogMessage(IntPtr domain, int level, IntPtr message, IntPtr userData) { }

    [LibraryImport(NativeLibraries.GLib, StringMarshalling = StringMarshalling.Utf8)]
    private static partial uint g_log_set_handler(string domain, int levels,
        delegate* unmanaged<IntPtr, int, IntPtr, IntPtr, void> handler, IntPtr userData);

    [LibraryImport(NativeLibraries.Vips, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int vips_init(string argv0);

    [LibraryImport(NativeLibraries.Vips)]
    private static partial void vips_block_untrusted_set(int state);

    [LibraryImport(NativeLibraries.Vips)]
    private static partial void vips_concurrency_set(int concurrency);

    [LibraryImport(NativeLibraries.Vips)]
    private static partial void vips_cache_set_max(int max);

    [LibraryImport(NativeLibraries.Vips)]
    internal static partial IntPtr vips_foreign_find_load_buffer(byte* data, nuint size);

    [LibraryImport(NativeLibraries.Vips, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr vips_image_new_from_buffer(byte* buf, nuint len, string optionString, IntPtr nullTerminator);

    [LibraryImport(NativeLibraries.Vips)]
    internal static partial int vips_image_get_width(IntPtr image);

    [LibraryImport(NativeLibraries.Vips)]
    internal static partial int vips_image_get_height(IntPtr image);

    [LibraryImport(NativeLibraries.Vips)]
    internal static partial int vips_image_get_bands(IntPtr image);

    [LibraryImport(NativeLibraries.Vips)]
    internal static partial int vips_image_get_format(IntPtr image);

    [LibraryImport(NativeLibraries.Vips)]
    internal static partial int vips_image_get_interpretation(IntPtr image);

    [LibraryImport(NativeLibraries.Vips)]
    internal static partial int vips_image_get_orientation(IntPtr image);

    [LibraryImport(NativeLibraries.Vips, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int vips_image_get_int(IntPtr image, string name, out int value);

    [LibraryImport(NativeLibraries.Vips, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nuint vips_image_get_typeof(IntPtr image, string name);

    [LibraryImport(NativeLibraries.Vips)]
    internal static partial IntPtr vips_image_write_to_memory(IntPtr image, out nuint size);

    [LibraryImport(NativeLibraries.Vips)]
    private static partial IntPtr vips_error_buffer_copy();

    [LibraryImport(NativeLibraries.GObject)]
    internal static partial void g_object_unref(IntPtr obj);

    [LibraryImport(NativeLibraries.GLib)]
    internal static partial void g_free(IntPtr mem);

    /// <summary>
    /// Takes the libvips error buffer (trimmed) and clears it. libvips keeps one process-wide buffer:
    /// vips_error_buffer_copy copies and clears it under libvips' own lock, where reading with vips_error_buffer and
    /// then calling vips_error_clear would race with other threads' decodes. A concurrent failure's text may still be
    /// in the same buffer; it only adds words to the message.
    /// </summary>
    internal static string TakeError()
    {
        var copy = vips_error_buffer_copy();
        if (copy == IntPtr.Zero) return "";
        try { return (Marshal.PtrToStringUTF8(copy) ?? "").Trim(); }
        finally { g_free(copy); }
    }
}
