// The native image libraries are used from many threads at once, and glibc's setenv may free the environ array under
// a concurrent getenv on any thread (a segfault in getenv, seen in worker and test processes): the imaging code must
// never write the C environment, so it silences libvips' warnings through GLib's log handler instead of VIPS_WARNING.
using System.Runtime.InteropServices;

namespace BatchVlm.Imaging.Tests;

public sealed partial class NativeLibrariesTests
{
    [LibraryImport("libc", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr CGetEnv(string name);

    [Fact]
    public void Decoders_AfterJpegAndVipsDecodes_CEnvironmentUnchanged()
    {
        // .NET's Environment is the snapshot taken at process start; libc's getenv sees later setenv calls.
        Assert.SkipWhen(Environment.GetEnvironmentVariable("VIPS_WARNING") is not null, "VIPS_WARNING is set for this process");
        ImageDecoder.DecodeRgb(Fixtures.Bytes("pil", "rgb_q90.jpg"));
        ImageDecoder.DecodeRgb(Fixtures.Bytes("pil", Directory.GetFiles(Fixtures.Path_("pil"), "*.png").Select(Path.GetFileName).Order().First()!));
        Assert.Equal(IntPtr.Zero, CGetEnv("VIPS_WARNING"));
    }
}
