// Loads the native image libraries once (libturbojpeg.so.0 for JPEG, libvips.so.42 for the other formats) and
// turns a missing library into one clear error with the install hint. All P/Invoke declarations resolve through
// the resolver registered here, so a missing .so surfaces as ImagingNativeLibraryException, not DllNotFoundException.
using System.Reflection;
using System.Runtime.InteropServices;

namespace BatchVlm.Imaging.Native;

/// <summary>A native image library could not be loaded. Permanent for this machine: install it.</summary>
public sealed class ImagingNativeLibraryException(string library, string reason)
    : Exception($"Native library '{library}' could not be loaded: {reason}. Install it with: {InstallHint}")
{
    public const string InstallHint = "apt-get install libvips42 libturbojpeg0";
    public string Library { get; } = library;
}

internal static class NativeLibraries
{
    internal const string TurboJpeg = "libturbojpeg.so.0";
    internal const string Vips = "libvips.so.42";
    internal const string GObject = "libgobject-2.0.so.0";
    internal const string GLib = "libglib-2.0.so.0";

    private static readonly Dictionary<string, Lazy<IntPtr>> Handles = new()
    {
        [TurboJpeg] = new(() => Load(TurboJpeg)),
        [Vips] = new(() => Load(Vips)),
        [GObject] = new(() => Load(GObject)),
        [GLib] = new(() => Load(GLib)),
    };

    private static int _registered;

    /// <summary>
    /// The C-environment settings the native libraries read, written once before any of them is used. setenv is not
    /// safe against a concurrent getenv in glibc (it may free the environ array being read): libvips' setup used to
    /// set VIPS_WARNING on one decode thread while another created its first TurboJPEG handle, whose SIMD setup calls
    /// getenv — a segfault in getenv, seen in a worker. Every native entry point calls this first, so the one write
    /// happens before any native reader runs (Lazy blocks the other threads until it is done).
    /// </summary>
    private static readonly Lazy<bool> EnvironmentPrepared = new(() =>
    {
        // libvips logs decode warnings to stderr unless VIPS_WARNING is set (read by vips_init); failures reach us
        // through its error buffer instead. .NET's Environment does not write the C environment.
        if (setenv("VIPS_WARNING", "0", 0) != 0)
            throw new InvalidOperationException("setenv(VIPS_WARNING) failed");
        return true;
    });

    /// <summary>Writes the C-environment settings once; see <see cref="EnvironmentPrepared"/>.</summary>
    internal static void PrepareEnvironment() => _ = EnvironmentPrepared.Value;

    [DllImport("libc", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int setenv(string name, string value, int overwrite);

    /// <summary>Registers the DllImport resolver (idempotent). Called from every native wrapper's static constructor.</summary>
    internal static void EnsureResolver()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 0)
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path) =>
        Handles.TryGetValue(name, out var handle) ? handle.Value : IntPtr.Zero;

    /// <summary>Loads <paramref name="name"/> now, throwing <see cref="ImagingNativeLibraryException"/> when it is missing.</summary>
    internal static IntPtr Require(string name)
    {
        EnsureResolver();
        return Handles[name].Value;
    }

    private static IntPtr Load(string name)
    {
        // One attempt: its DllNotFoundException carries the loader's reason (dlerror), which TryLoad would discard.
        try { return NativeLibrary.Load(name, typeof(NativeLibraries).Assembly, null); }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            throw new ImagingNativeLibraryException(name, e.Message);
        }
    }
}
