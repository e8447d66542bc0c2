// EmbedTask at the session level (no pipeline): a redelivered shard rewrites the same files with the same bytes and
// the same rows (idempotent names and key-sorted rows whatever order the items arrive in); the rest of a handed-back
// shard gets its own part name; a model referenced by a hub repo id resolves from the Hugging Face cache layout.
using System.Text.Json.Nodes;
using BatchVlm.Fleet.Tests.SystemTests;
using BatchVlm.Storage.Blobs;
using BatchVlm.Storage.Postgres;
using BatchVlm.Worker.Pipeline;
using BatchVlm.Worker.Tasks;

namespace BatchVlm.Fleet.Tests.Tasks;

public sealed class EmbedTaskTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("batchvlm-embed-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private sealed class Folders : IInputStores
    {
        public IBlobStore Open(string inputAddress) => new LocalFolderStore(inputAddress);
    }

    private static async Task<(List<IResultRow> Rows, List<ItemError> Errors)> RunShard(TaskRequest request, IReadOnlyList<(string Key, byte[] Bytes)> items)
    {
        var ct = TestContext.Current.CancellationToken;
        var task = new EmbedTask();
        await using var session = await task.OpenAsync(request, ct);
        var rows = new List<IResultRow>();
        var errors = new List<ItemError>();
        var prepared = new List<PreparedItem>();
        foreach (var (key, bytes) in items)
        {
            try
            {
                prepared.Add(session.Prepare(new FetchedItem(key, bytes), ct));
            }
            catch (Exception ex) when (ShardProcessor.ItemErrorOf(key, ex) is { } error)
            {
                errors.Add(error);
            }
        }
        foreach (var chunk in prepared.Chunk(2))
            rows.AddRange((await session.RunBatchAsync(chunk, ct)).Rows);
        rows.AddRange((await session.CompleteAsync(ct)).Rows);
        return (rows, errors);
    }

    private List<(string Key, byte[] Bytes)> Items()
    {
        var dir = Path.Combine(_root, "images");
        var names = TestImages.WriteSet(dir, 5, new Dictionary<string, TestImages.CorruptKind> { ["bad.jpg"] = TestImages.CorruptKind.TextNamedJpg });
        return names.Select(n => (n, File.ReadAllBytes(Path.Combine(dir, n)))).ToList();
    }

    [Fact]
    public async Task CompleteAsync_RedeliveredShardInOtherOrder_SameFilesSameBytesSameRows()
    {
        var model = TinyModels.Build(_root, "clip");
        var output = Path.Combine(_root, "vectors");
        var request = new TaskRequest(model, $$"""{"output": {{System.Text.Json.JsonSerializer.Serialize(output)}}}""")
        {
            JobId = Guid.NewGuid(), ShardIndex = 7, Attempt = 1, Stores = new Folders(),
        };
        var items = Items();

        var (first, errors) = await RunShard(request, items);
        var jobDir = Path.Combine(output, request.JobId.ToString("D"));
        var files = Directory.GetFiles(jobDir).Order().ToList();
        var bytes = files.Select(File.ReadAllBytes).ToList();
        var (second, _) = await RunShard(request with { Attempt = 2 }, Enumerable.Reverse(items).ToList());

        Assert.Equal("not_an_image", Assert.Single(errors).Kind);
        Assert.Equal(["manifest.json", "shard-00007.ids.txt", "shard-00007.json", "shard-00007.npy"], files.Select(Path.GetFileName));
        Assert.Equal(files, Directory.GetFiles(jobDir).Order());
        for (int i = 0; i < files.Count; i++)
            Assert.True(bytes[i].AsSpan().SequenceEqual(File.ReadAllBytes(files[i])), $"{files[i]} changed on redelivery");
        Assert.Equal(first.Cast<EmbedResult>().OrderBy(r => r.ItemKey, StringComparer.Ordinal), second.Cast<EmbedResult>().OrderBy(r => r.ItemKey, StringComparer.Ordinal));
        Assert.Equal(Enumerable.Range(0, 4), first.Cast<EmbedResult>().OrderBy(r => r.ItemKey, StringComparer.Ordinal).Select(r => r.RowIndex));
    }

    [Fact]
    public async Task CompleteAsync_RestOfHandedBackShard_OwnPartAndManifestListsBoth()
    {
        var model = TinyModels.Build(_root, "siglip");
        var output = Path.Combine(_root, "vectors");
        var request = new TaskRequest(model, $$"""{"output": {{System.Text.Json.JsonSerializer.Serialize(output)}}}""")
        {
            JobId = Guid.NewGuid(), ShardIndex = 0, Attempt = 1, Stores = new Folders(),
        };
        var items = Items().Where(i => i.Key != "bad.jpg").ToList();

        await RunShard(request, items[..2]);
        var (rest, _) = await RunShard(request with { DoneItems = 2 }, items[2..]);

        Assert.All(rest.Cast<EmbedResult>(), r => Assert.EndsWith("shard-00000-from-00002.npy", r.ShardFile));
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(output, request.JobId.ToString("D"), "manifest.json")))!;
        Assert.Equal(4, (int)manifest["total"]!);
        Assert.Equal(["shard-00000.npy", "shard-00000-from-00002.npy"], manifest["shards"]!.AsArray().Select(s => (string)s!["file"]!));
    }

    [Fact]
    public async Task OpenAsync_HubRepoIdInOfflineCache_ResolvesAndLoadsOnce()
    {
        // The Hugging Face cache layout: models--ORG--NAME/refs/main holds the commit, snapshots/<commit>/ the files.
        var cache = Path.Combine(_root, "hf-cache");
        var repo = $"batchvlm-tests/siglip-tiny-{Guid.NewGuid():N}"[..40];
        var commit = "0123456789abcdef0123456789abcdef01234567";
        var repoDir = Path.Combine(cache, "models--" + repo.Replace("/", "--"));
        var snapshot = Path.Combine(repoDir, "snapshots", commit);
        Directory.CreateDirectory(Path.Combine(repoDir, "refs"));
        File.WriteAllText(Path.Combine(repoDir, "refs", "main"), commit);
        Directory.CreateDirectory(snapshot);
        foreach (var f in Directory.GetFiles(TinyModels.Build(_root, "siglip")))
            File.Copy(f, Path.Combine(snapshot, Path.GetFileName(f)));
        var saved = (Environment.GetEnvironmentVariable("HF_HUB_CACHE"), Environment.GetEnvironmentVariable("HF_HUB_OFFLINE"));
        Environment.SetEnvironmentVariable("HF_HUB_CACHE", cache);
        Environment.SetEnvironmentVariable("HF_HUB_OFFLINE", "1");
        try
        {
            var before = BatchVlm.Worker.Models.ModelCache.Count;
            var request = new TaskRequest(repo, """{"texts": ["it is a", "on the"]}""");
            await using (var s1 = await new ScoreTask().OpenAsync(request, TestContext.Current.CancellationToken))
            await using (var s2 = await new ScoreTask().OpenAsync(request, TestContext.Current.CancellationToken))
                Assert.Equal((16, 16), (s1.BatchSize, s2.BatchSize));
            Assert.Same(BatchVlm.Worker.Models.ContrastiveModel.Get(repo), BatchVlm.Worker.Models.ContrastiveModel.Get(repo));
            Assert.True(BatchVlm.Worker.Models.ModelCache.Count >= before + 1);
            Assert.Equal(Path.GetFullPath(snapshot).TrimEnd('/'), Path.GetFullPath(BatchVlm.Worker.Models.ContrastiveModel.Get(repo).Directory).TrimEnd('/'));
        }
        finally
        {
            Environment.SetEnvironmentVariable("HF_HUB_CACHE", saved.Item1);
            Environment.SetEnvironmentVariable("HF_HUB_OFFLINE", saved.Item2);
        }
    }
}
