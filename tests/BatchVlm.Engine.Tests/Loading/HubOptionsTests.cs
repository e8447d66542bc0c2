// Tests of the hub environment variables (huggingface_hub 0.26.2 constants.py semantics) and cache lookups.
using BatchVlm.Engine.Loading;

namespace BatchVlm.Engine.Tests.Loading;

public sealed class HubOptionsTests
{
    [Fact]
    public void FromEnvironment_Variables_FollowHuggingfaceHubPrecedence()
    {
        using var tmp = new TempDir();
        var env = new Dictionary<string, string?> { ["HF_HOME"] = tmp["home"] };
        Assert.Equal(Path.Combine(tmp["home"], "hub"), HubOptions.FromEnvironment(env).CacheDir);
        env["HF_HUB_CACHE"] = tmp["cache"];
        Assert.Equal(tmp["cache"], HubOptions.FromEnvironment(env).CacheDir);
        Assert.Equal(Path.Combine(tmp["xdg"], "huggingface", "hub"),
            HubOptions.FromEnvironment(new Dictionary<string, string?> { ["XDG_CACHE_HOME"] = tmp["xdg"] }).CacheDir);

        var o = HubOptions.FromEnvironment(new Dictionary<string, string?>
        {
            ["HF_ENDPOINT"] = "http://mirror.local:8080/", ["HF_TOKEN"] = "hf_abc", ["HF_HUB_OFFLINE"] = "1", ["HF_HUB_ETAG_TIMEOUT"] = "3",
        });
        Assert.Equal("http://mirror.local:8080", o.Endpoint);
        Assert.Equal("hf_abc", o.Token);
        Assert.True(o.Offline);
        Assert.Equal(TimeSpan.FromSeconds(3), o.MetadataTimeout);
        var d = HubOptions.FromEnvironment(new Dictionary<string, string?> { ["HF_HOME"] = tmp["empty"] });
        Assert.Equal("https://huggingface.co", d.Endpoint);
        Assert.False(d.Offline);
        Assert.Null(d.Token);
    }

    [Fact]
    public void FromEnvironment_NoHfToken_ReadsTokenFileUnderHfHome()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp["home"]);
        File.WriteAllText(Path.Combine(tmp["home"], "token"), "hf_fromfile\n");
        Assert.Equal("hf_fromfile", HubOptions.FromEnvironment(new Dictionary<string, string?> { ["HF_HOME"] = tmp["home"] }).Token);
    }

    [Fact]
    public void TryGetCachedFile_PythonStyleCache_FollowsRefsAndSymlinks()
    {
        // A cache as huggingface_hub writes it: refs/main -> commit, snapshot links into blobs/.
        using var tmp = new TempDir();
        string commit = new('a', 40);
        string repo = Path.Combine(tmp.Path, "models--google--siglip-so400m");
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        Directory.CreateDirectory(Path.Combine(repo, "blobs"));
        Directory.CreateDirectory(Path.Combine(repo, "snapshots", commit));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), commit);
        File.WriteAllText(Path.Combine(repo, "blobs", "abc123"), "{\"model_type\":\"siglip\"}");
        File.CreateSymbolicLink(Path.Combine(repo, "snapshots", commit, "config.json"), "../../blobs/abc123");

        Assert.Equal(commit, HubCache.TryResolveCommit(tmp.Path, "google/siglip-so400m", "main"));
        string? file = HubCache.TryGetCachedFile(tmp.Path, "google/siglip-so400m", "main", "config.json");
        Assert.NotNull(file);
        Assert.Equal("siglip", HfConfig.Load(file).ModelType);
        var source = ModelSource.FromCache("google/siglip-so400m", "main", new HubOptions { CacheDir = tmp.Path });
        Assert.Equal(commit, source.CommitHash);
        Assert.Null(HubCache.TryGetCachedFile(tmp.Path, "google/siglip-so400m", "dev", "config.json"));

        File.Delete(Path.Combine(repo, "blobs", "abc123")); // dangling link = not cached
        Assert.Null(HubCache.TryGetCachedFile(tmp.Path, "google/siglip-so400m", "main", "config.json"));
    }

    [Theory]
    [InlineData("google/siglip-base-patch16-224", true)]
    [InlineData("gpt2", true)]
    [InlineData("a/b/c", false)]
    [InlineData("../etc", false)]
    [InlineData("org/na--me", false)]
    public void IsValidRepoId_Cases(string id, bool valid) => Assert.Equal(valid, HubCache.IsValidRepoId(id));
}
