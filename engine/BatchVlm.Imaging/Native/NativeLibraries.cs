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
