// Tests of hub downloads against a local server that answers like the hub's resolve endpoint (LocalHubServer):
// a full download into the cache layout, a resumed transfer, corrupted transfers and cache blobs, offline reuse,
// token handling, sharded checkpoints and missing repos/files.
using BatchVlm.Engine.Loading;

namespace BatchVlm.Engine.Tests.Loading;

public sealed class HubClientTests : IDisposable
{
    private const string Repo = "test-org/siglip-tiny";
    private readonly TempDir _tmp = new("batchvlm-hub");
    private readonly LocalHubServer _server = new();
    private readonly string _commit;

    public HubClientTests() => _commit = _server.AddRepo(Repo, LoadingTestData.SiglipTinyDir);

    public void Dispose()
    {
        _server.Dispose();
        _tmp.Dispose();
    }

    private HubOptions Options(bool offline = false) => new()
    {
        Endpoint = _server.Endpoint,
        CacheDir = _tmp["hub"],
        Offline = offline,
        ReadTimeout = TimeSpan.FromSeconds(5),
        MetadataTimeout = TimeSpan.FromSeconds(5),
    };

    private static string Fixture(string name) => Path.Combine(LoadingTestData.SiglipTinyDir, name);

    [Fact]
    public async Task DownloadModel_FromLocalHub_WritesHubCacheLayoutAndLoads()
    {
        var source = await ModelSource.FromHubAsync(Repo, options: Options(), ct: TestContext.Current.CancellationToken);

        string repoDir = Path.Combine(_tmp["hub"], "models--test-org--siglip-tiny");
        Assert.Equal(Path.Combine(repoDir, "snapshots", _commit), source.Directory);
        Assert.Equal(_commit, File.ReadAllText(Path.Combine(repoDir, "refs", "main")));
        string sha = LocalHubServer.Sha256(Fixture("model.safetensors"));
        string gitSha = LocalHubServer.GitBlobSha1(Fixture("config.json"));
        Assert.Equal(File.ReadAllBytes(Fixture("model.safetensors")), File.ReadAllBytes(Path.Combine(repoDir, "blobs", sha)));
        Assert.True(File.Exists(Path.Combine(repoDir, "blobs", gitSha)));
        var link = new FileInfo(Path.Combine(source.Directory, "model.safetensors"));
        Assert.Equal(Path.Combine("..", "..", "blobs", sha), link.LinkTarget);
        Assert.Equal(Path.Combine("..", "..", "blobs", gitSha), new FileInfo(Path.Combine(source.Directory, "config.json")).LinkTarget);
        // Optional files the repo lacks are remembered as missing, like huggingface_hub's .no_exist markers.
        Assert.True(File.Exists(Path.Combine(repoDir, ".no_exist", _commit, "tokenizer.json")));
        Assert.DoesNotContain(Directory.GetFiles(Path.Combine(repoDir, "blobs")), f => f.EndsWith(".incomplete", StringComparison.Ordinal));

        Assert.Equal("siglip", source.LoadConfig().ModelType);
        using var ckpt = source.OpenCheckpoint();
        using var reference = SafetensorsFile.Open(Fixture("model.safetensors"));
        Assert.Equal(reference.Tensors.Count, ckpt.Keys.Count);
        Assert.True(reference.GetBytes("logit_bias").SequenceEqual(ckpt.Files[0].GetBytes("logit_bias")));
    }

    [Fact]
    public async Task DownloadFile_InterruptedTransfer_ResumesWithRangeRequest()
    {
        _server.CutAfterBytes = 100_000;
        _server.CutTransfers = 1;
        using var client = new HubClient(Options());
        string path = (await client.DownloadFileAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken))!;

        Assert.Equal(File.ReadAllBytes(Fixture("model.safetensors")), File.ReadAllBytes(path));
        var cdnGets = _server.Requests.Where(r => r.Origin == "cdn" && r.Method == "GET").ToList();
        Assert.Equal(2, cdnGets.Count);
        Assert.Null(cdnGets[0].Range);
        Assert.Equal("bytes=100000-", cdnGets[1].Range); // resumed where the cut left the .incomplete file
    }

    [Fact]
    public async Task DownloadFile_PartialFileFromEarlierRun_IsResumed()
    {
        // A previous process died mid-download and left blobs/<sha>.incomplete behind.
        string sha = LocalHubServer.Sha256(Fixture("model.safetensors"));
        string blobs = Path.Combine(_tmp["hub"], "models--test-org--siglip-tiny", "blobs");
        Directory.CreateDirectory(blobs);
        File.WriteAllBytes(Path.Combine(blobs, sha + ".incomplete"), File.ReadAllBytes(Fixture("model.safetensors"))[..300_000]);
        using var client = new HubClient(Options());
        string path = (await client.DownloadFileAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken))!;
        Assert.Equal(File.ReadAllBytes(Fixture("model.safetensors")), File.ReadAllBytes(path));
        Assert.Equal(["bytes=300000-"], _server.Requests.Where(r => r.Origin == "cdn").Select(r => r.Range));
    }

    [Fact]
    public async Task DownloadFile_CorruptedTransferOnce_DetectedAndRedownloaded()
    {
        _server.CorruptTransfers = 1;
        using var client = new HubClient(Options());
        string path = (await client.DownloadFileAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken))!;
        Assert.Equal(File.ReadAllBytes(Fixture("model.safetensors")), File.ReadAllBytes(path));
        var gets = _server.Requests.Where(r => r.Origin == "cdn" && r.Method == "GET").ToList();
        Assert.Equal(2, gets.Count);
        Assert.All(gets, g => Assert.Null(g.Range)); // a corrupt file is fetched again from byte 0, not resumed
    }

    [Fact]
    public async Task DownloadFile_AlwaysCorrupted_FailsNamingTheHashes()
    {
        _server.CorruptTransfers = 100;
        using var client = new HubClient(Options() with { MaxAttempts = 2 });
        var e = await Assert.ThrowsAsync<ModelLoadException>(() =>
            client.DownloadFileAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken));
        string sha = LocalHubServer.Sha256(Fixture("model.safetensors"));
        Assert.Contains("failed verification: sha256 ", e.Message);
        Assert.Contains($"expected {sha}", e.Message);
        Assert.Contains("after 2 attempts", e.Message);
        Assert.False(e.IsTransient);
        Assert.Null(HubCache.TryGetCachedFile(_tmp["hub"], Repo, "main", "model.safetensors"));
        Assert.Empty(Directory.GetFiles(Path.Combine(_tmp["hub"], "models--test-org--siglip-tiny", "blobs")));
    }

    [Fact]
    public async Task DownloadFile_CorruptedBlobInCache_DetectedAndRedownloaded()
    {
        using var client = new HubClient(Options());
        string path = (await client.DownloadFileAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken))!;
        string blob = Path.Combine(Path.GetDirectoryName(path)!, new FileInfo(path).LinkTarget!);
        File.WriteAllBytes(blob, File.ReadAllBytes(blob)[..1000]); // truncated on disk

        string again = (await client.DownloadFileAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken))!;
        Assert.Equal(path, again);
        Assert.Equal(File.ReadAllBytes(Fixture("model.safetensors")), File.ReadAllBytes(again));
        Assert.Equal(2, _server.CountRequests("cdn", "GET", ""));

        // Same size, one byte flipped: only a content check catches it (VerifyCachedFiles).
        var bytes = File.ReadAllBytes(blob);
        bytes[5000] ^= 1;
        File.WriteAllBytes(blob, bytes);
        using var verifying = new HubClient(Options() with { VerifyCachedFiles = true });
        await verifying.DownloadFileAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken);
        Assert.Equal(File.ReadAllBytes(Fixture("model.safetensors")), File.ReadAllBytes(again));
        Assert.Equal(3, _server.CountRequests("cdn", "GET", ""));
    }

    [Fact]
    public async Task SecondLoad_CacheReusedWithoutNetwork()
    {
        await ModelSource.FromHubAsync(Repo, options: Options(), ct: TestContext.Current.CancellationToken);
        int cdnAfterFirst = _server.CountRequests("cdn", "GET", "");
        Assert.Equal(1, cdnAfterFirst);

        // Online again: metadata only, no second transfer.
        await ModelSource.FromHubAsync(Repo, options: Options(), ct: TestContext.Current.CancellationToken);
        Assert.Equal(1, _server.CountRequests("cdn", "GET", ""));

        // Offline (HF_HUB_OFFLINE=1): no request at all, even by repo id through Resolve.
        int before = _server.Requests.Count;
        var offline = ModelSource.Resolve(Repo, Options(offline: true), TestContext.Current.CancellationToken);
        Assert.Equal(before, _server.Requests.Count);
        Assert.Equal(_commit, offline.CommitHash);
        using (var ckpt = offline.OpenCheckpoint()) Assert.NotEmpty(ckpt.Keys);

        // Hub unreachable: falls back to the cached snapshot.
        _server.Dispose();
        var fallback = await ModelSource.FromHubAsync(Repo, options: Options() with { MetadataTimeout = TimeSpan.FromSeconds(2) },
            ct: TestContext.Current.CancellationToken);
        Assert.Equal(offline.Directory, fallback.Directory);
    }

    [Fact]
    public void Offline_NotCached_FailsNamingRepoAndCache()
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelSource.Resolve(Repo, Options(offline: true), TestContext.Current.CancellationToken));
        Assert.Contains(Repo, e.Message);
        Assert.Contains(_tmp["hub"], e.Message);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task Token_SentToHubButNotToCdn()
    {
        _server.RequiredToken = "hf_secret";
        using (var anonymous = new HubClient(Options()))
        {
            var e = await Assert.ThrowsAsync<ModelLoadException>(() =>
                anonymous.DownloadFileAsync(Repo, "config.json", ct: TestContext.Current.CancellationToken));
            Assert.Contains("HF_TOKEN", e.Message);
        }
        using var client = new HubClient(Options() with { Token = "hf_secret" });
        string path = (await client.DownloadFileAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken))!;
        Assert.True(File.Exists(path));
        Assert.All(_server.Requests.Where(r => r.Origin == "cdn"), r => Assert.False(r.HasAuthorization));
        Assert.Contains(_server.Requests, r => r.Origin == "hub" && r.HasAuthorization);
    }

    [Fact]
    public async Task DownloadModel_ShardedCheckpoint_FetchesIndexAndEveryShard()
    {
        string sharded = _tmp["sharded-src"];
        Directory.CreateDirectory(sharded);
        SafetensorsCheckpointTests.ShardFixture(sharded, 200_000);
        _server.AddRepo("test-org/siglip-sharded", sharded);

        var source = await ModelSource.FromHubAsync("test-org/siglip-sharded", options: Options(), ct: TestContext.Current.CancellationToken);
        using var ckpt = source.OpenCheckpoint();
        Assert.Equal(4, ckpt.Files.Count);
        Assert.EndsWith(SafetensorsCheckpoint.IndexFileName, ckpt.Source);
        Assert.Equal(4, _server.CountRequests("cdn", "GET", ""));
        Assert.Equal(0, _server.CountRequests("hub", "HEAD", "/model.safetensors"));
    }

    [Fact]
    public async Task DownloadModel_IndexWithNonStringShard_FailsNamingTheKey()
    {
        string bad = _tmp["bad-index-src"];
        Directory.CreateDirectory(bad);
        File.Copy(Fixture("config.json"), Path.Combine(bad, "config.json"));
        File.WriteAllText(Path.Combine(bad, SafetensorsCheckpoint.IndexFileName),
            """{"metadata": {}, "weight_map": {"logit_bias": 3}}""");
        _server.AddRepo("test-org/bad-index", bad);

        var e = await Assert.ThrowsAsync<ModelLoadException>(() =>
            ModelSource.FromHubAsync("test-org/bad-index", options: Options(), ct: TestContext.Current.CancellationToken));
        Assert.Contains("weight_map[\"logit_bias\"] is not a file name", e.Message);
    }

    [Fact]
    public async Task Download_MissingRepoFileOrRevision_FailsClearly()
    {
        using var client = new HubClient(Options());
        var ct = TestContext.Current.CancellationToken;
        var repo = await Assert.ThrowsAsync<ModelLoadException>(() => client.DownloadFileAsync("test-org/nope", "config.json", ct: ct));
        Assert.Contains("Repository test-org/nope not found", repo.Message);
        var file = await Assert.ThrowsAsync<ModelLoadException>(() => client.DownloadFileAsync(Repo, "missing.bin", ct: ct));
        Assert.Contains("File missing.bin not found in test-org/siglip-tiny", file.Message);
        Assert.Null(await client.DownloadFileAsync(Repo, "missing.bin", optional: true, ct: ct));
        var rev = await Assert.ThrowsAsync<ModelLoadException>(() => client.DownloadFileAsync(Repo, "config.json", "v9", ct: ct));
        Assert.Contains("Revision 'v9' not found", rev.Message);
        Assert.Throws<ModelLoadException>(() => ModelSource.Resolve("not a repo id!", Options(), ct));
    }

    [Fact]
    public async Task DownloadFile_ConcurrentCallers_TransferOnce()
    {
        using var a = new HubClient(Options());
        using var b = new HubClient(Options());
        var ct = TestContext.Current.CancellationToken;
        var paths = await Task.WhenAll(
            a.DownloadFileAsync(Repo, "model.safetensors", ct: ct),
            b.DownloadFileAsync(Repo, "model.safetensors", ct: ct),
            a.DownloadFileAsync(Repo, "model.safetensors", ct: ct));
        Assert.Single(paths.Distinct());
        Assert.Equal(1, _server.CountRequests("cdn", "GET", "")); // the blob lock serialises them; later callers find it cached
        Assert.Equal(File.ReadAllBytes(Fixture("model.safetensors")), File.ReadAllBytes(paths[0]!));
    }

    [Theory]
    [InlineData("../escape.json", "main")]
    [InlineData("config.json", "../../x")]
    public async Task Download_PathTraversal_Refused(string file, string revision)
    {
        using var client = new HubClient(Options());
        await Assert.ThrowsAsync<ModelLoadException>(() => client.DownloadFileAsync(Repo, file, revision, ct: TestContext.Current.CancellationToken));
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task DownloadFile_ByCommitHash_DoesNotWriteRef()
    {
        using var client = new HubClient(Options());
        string path = (await client.DownloadFileAsync(Repo, "config.json", _commit, ct: TestContext.Current.CancellationToken))!;
        Assert.Contains(_commit, path);
        Assert.False(Directory.Exists(Path.Combine(_tmp["hub"], "models--test-org--siglip-tiny", "refs")));
        Assert.Equal(path, HubCache.TryGetCachedFile(_tmp["hub"], Repo, _commit, "config.json"));
    }
}
