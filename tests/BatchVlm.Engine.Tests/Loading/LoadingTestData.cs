// Shared helpers of the loading tests: where the fixture copies live, and throw-away temp folders.
namespace BatchVlm.Engine.Tests.Loading;

internal static class LoadingTestData
{
    /// <summary>tests/BatchVlm.Engine.Tests/Loading/Fixtures/siglip-tiny, found from the test binary's folder.</summary>
    public static string SiglipTinyDir => Path.Combine(FixturesDir, "siglip-tiny");

    public static string FixturesDir
    {
        get
        {
            // From the test binary's folder (bin/...), else from the working directory (tests run from the repo).
            foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
                for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
                {
                    string candidate = Path.Combine(d.FullName, "tests", "BatchVlm.Engine.Tests", "Loading", "Fixtures");
                    if (Directory.Exists(candidate)) return candidate;
                }
            throw new DirectoryNotFoundException($"tests/BatchVlm.Engine.Tests/Loading/Fixtures not found above {AppContext.BaseDirectory}");
        }
    }
}

/// <summary>A temp folder deleted at dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir(string tag = "batchvlm-loading")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{tag}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
