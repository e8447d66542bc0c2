// The model tasks end to end on the real local stack: submit → RabbitMQ queue batchvlm.process-shard.<task>.<model>
// → worker pipeline in this process (fetch, decode + preprocess, model batch, CompleteAsync) → COPY + upsert into
// PostgreSQL; embed's .npy shards, ids files and manifest go to Azurite. Each input holds generated images plus a
// truncated JPEG, which must come back as an item error while every other item gets its rows.
using System.Text;
using System.Text.Json.Nodes;
using BatchVlm.Cli.Commands;
using BatchVlm.Cli.Commands.Hosting;
using BatchVlm.Coordinator;
using BatchVlm.Fleet.Tests.Postgres;
using BatchVlm.Fleet.Tests.SystemTests;
using BatchVlm.Storage.Blobs;
using BatchVlm.Storage.Postgres;
using BatchVlm.Worker;
using BatchVlm.Worker.Tasks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace BatchVlm.Fleet.Tests.Tasks;

[Collection(FleetStackCollection.Name)]
public sealed class ModelTasksOnStackTests(FleetTestStack stack) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("batchvlm-tasks-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private const string Corrupt = "bad/truncated.jpg";

    private IReadOnlyList<string> Images(int count)
    {
        var input = Path.Combine(_root, "images");
        if (!Directory.Exists(input))
            TestImages.WriteSet(input, count, new Dictionary<string, TestImages.CorruptKind> { [Corrupt] = TestImages.CorruptKind.TruncatedJpeg });
        return Directory.GetFiles(input, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(input, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
    }

    private async Task<(JobSnapshot Job, List<JsonObject> Lines)> RunJobAsync(IConfiguration config, string task, string model, string parameters, int shardSize)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var store = await FleetHost.OpenStoreAsync(config, ct: ct);
        var request = await SubmitCommand.PrepareAsync(config, task, model, parameters, Path.Combine(_root, "images"), shardSize, ct);
        using var host = FleetHost.Build(config, new FleetRoles(Coordinator: true, Worker: [new TaskModel(task, request.Model)]), store);
        await host.StartAsync(ct);
        JobSnapshot done;
        try
        {
            var job = await host.Services.GetRequiredService<JobSubmitter>().SubmitAsync(request, ct);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromMinutes(4));
            done = await CliCommon.WaitAsync(store, job, TimeSpan.FromMilliseconds(200), progress: false, timeout.Token);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
        var lines = new List<JsonObject>();
        await foreach (var line in store.ReadResultsAsync(done.JobId, TaskRegistry.BuiltIn().Get(task).ResultTable, ct))
            lines.Add(line);
        return (done, lines);
    }

    private IConfiguration Config() => stack.Configuration(new Dictionary<string, string?>
    {
        ["Worker:LeaseRenewInterval"] = "00:00:01",
        ["Coordinator:LeaseCheckInterval"] = "00:00:01",
    });

    [Fact]
    public async Task Embed_SiglipTinyOnStack_NpyIdsManifestAndOneRowPerItem()
    {
        var ct = TestContext.Current.CancellationToken;
        var names = Images(9);
        var model = TinyModels.Build(_root, "siglip");
        var config = Config();
        var container = $"embed-tests-{Guid.NewGuid():N}"[..30];
        var output = $"az://{container}/vectors";
        var parameters = new JsonObject { ["output"] = output, ["texts"] = new JsonArray(TinyModels.Texts.Select(t => (JsonNode)t).ToArray()) };

        var (job, lines) = await RunJobAsync(config, "embed", model, parameters.ToJsonString(), shardSize: 4);

        Assert.Equal((JobStates.CompletedWithErrors, 9L, 8L, 1L), (job.State, job.Total, job.Succeeded, job.Failed));
        Assert.Equal(names, lines.Select(l => (string)l["item_key"]!));
        Assert.Equal("truncated", (string)lines.Single(l => (string)l["item_key"]! == Corrupt)["error_kind"]!);

        var blobs = BlobStores.Container(config, container, "vectors");
        var prefix = $"{job.JobId:D}/";
        var manifest = JsonNode.Parse(await blobs.ReadAllBytesAsync(prefix + "manifest.json", ct))!;
        Assert.Equal(("siglip", "float32", true, 8), ((string)manifest["family"]!, (string)manifest["dtype"]!, (bool)manifest["normalized"]!, (int)manifest["total"]!));
        int dim = (int)manifest["dim"]!;
        var shards = manifest["shards"]!.AsArray();
        Assert.Equal(3, shards.Count);                                   // 9 items in shards of 4: 4 + 4 + 1 (one corrupt)
        var seen = new Dictionary<string, (string File, int Row)>();
        foreach (var shard in shards)
        {
            var npy = NpyFormat.Read(await blobs.ReadAllBytesAsync(prefix + (string)shard!["file"]!, ct));
            var ids = Encoding.UTF8.GetString(await blobs.ReadAllBytesAsync(prefix + (string)shard["ids_file"]!, ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("<f4", npy.Descr);
            Assert.Equal([(int)shard["count"]!, dim], npy.Shape);
            Assert.Equal(ids.Length, npy.Shape[0]);
            Assert.Equal(ids.Order(StringComparer.Ordinal), ids);
            for (int r = 0; r < ids.Length; r++)
            {
                var norm = Math.Sqrt(npy.Values.Skip(r * dim).Take(dim).Sum(v => (double)v * v));
                Assert.InRange(norm, 0.999, 1.001);
                seen[ids[r]] = ((string)shard["file"]!, r);
            }
        }
        Assert.Equal(names.Where(n => n != Corrupt).Order(StringComparer.Ordinal), seen.Keys.Order(StringComparer.Ordinal));
        foreach (var line in lines.Where(l => (string)l["status"]! == "succeeded"))
        {
            var (file, row) = seen[(string)line["item_key"]!];
            Assert.EndsWith($"{job.JobId:D}/{file}", (string)line["shard_file"]!);
            Assert.Equal(row, (int)line["row_index"]!);
        }
        var texts = NpyFormat.Read(await blobs.ReadAllBytesAsync(prefix + "texts.npy", ct));
        Assert.Equal([TinyModels.Texts.Length, dim], texts.Shape);
        Assert.Equal(TinyModels.Texts, Encoding.UTF8.GetString(await blobs.ReadAllBytesAsync(prefix + "texts.txt", ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData("altclip")]
    [InlineData("clip")]
    public async Task Score_SoftmaxModelOnStack_RowPerItemAndTextWithProbabilitiesSummingToOne(string family)
    {
        var names = Images(7);
        var model = TinyModels.Build(_root, family);
        var parameters = new JsonObject { ["texts"] = new JsonArray(TinyModels.Texts.Select(t => (JsonNode)t).ToArray()) };

        var (job, lines) = await RunJobAsync(Config(), "score", model, parameters.ToJsonString(), shardSize: 3);

        Assert.Equal((JobStates.CompletedWithErrors, 7L, 6L, 1L), (job.State, job.Total, job.Succeeded, job.Failed));
        Assert.Equal("truncated", (string)lines.Single(l => (string)l["item_key"]! == Corrupt)["error_kind"]!);
        var ok = lines.Where(l => (string)l["status"]! == "succeeded").ToList();
        Assert.Equal(6 * TinyModels.Texts.Length, ok.Count);
        foreach (var item in ok.GroupBy(l => (string)l["item_key"]!))
        {
            Assert.Equal([0, 1, 2], item.Select(l => (int)l["text_index"]!).Order());
            Assert.All(item, l => Assert.Equal("softmax_over_texts", (string)l["score_kind"]!));
            Assert.All(item, l => Assert.Equal(TinyModels.Texts[(int)l["text_index"]!], (string)l["text"]!));
            Assert.InRange(item.Sum(l => (double)l["probability"]!), 1 - 1e-5, 1 + 1e-5);
            // softmax(logits) = probabilities: the raw logits are kept, not just the probabilities
            var logits = item.OrderBy(l => (int)l["text_index"]!).Select(l => (double)l["logit"]!).ToArray();
            var max = logits.Max();
            var exp = logits.Select(x => Math.Exp(x - max)).ToArray();
            foreach (var l in item)
                Assert.Equal(exp[(int)l["text_index"]!] / exp.Sum(), (double)l["probability"]!, 4);
        }
        Assert.Equal(names.Where(n => n != Corrupt), ok.Select(l => (string)l["item_key"]!).Distinct());
    }

    [Fact]
    public async Task Caption_PaliGemmaTinyOnStack_RowsWithTextTokenCountAndFinishReason()
    {
        Images(6);
        var model = TinyModels.Build(_root, "paligemma");
        var (job, lines) = await RunJobAsync(Config(), "caption", model, """{"prompt": "caption en", "max_new_tokens": 5, "batch_size": 2}""", shardSize: 3);

        Assert.Equal((JobStates.CompletedWithErrors, 6L, 5L, 1L), (job.State, job.Total, job.Succeeded, job.Failed));
        Assert.Equal("truncated", (string)lines.Single(l => (string)l["item_key"]! == Corrupt)["error_kind"]!);
        var ok = lines.Where(l => (string)l["status"]! == "succeeded").ToList();
        Assert.Equal(5, ok.Count);
        Assert.All(ok, l =>
        {
            Assert.Equal("caption en", (string)l["prompt"]!);
            Assert.InRange((int)l["token_count"]!, 1, 5);
            Assert.Contains((string)l["finish_reason"]!, new[] { "eos", "length" });
            if ((string)l["finish_reason"]! == "length") Assert.Equal(5, (int)l["token_count"]!);
            Assert.NotNull((string?)l["text"]);
            Assert.True((int)l["image_width"]! >= 8 && (int)l["image_height"]! >= 8);
            Assert.True((double)l["prefill_ms"]! > 0 && (double)l["decode_ms"]! >= 0);
        });
    }

    [Fact]
    public async Task Caption_Blip2OptTinyOnStack_RowsWithTextTokenCountAndFinishReason()
    {
        Images(6);
        var model = TinyModels.Build(_root, "blip2-opt");
        var (job, lines) = await RunJobAsync(Config(), "caption", model, """{"max_new_tokens": 6, "batch_size": 3}""", shardSize: 6);

        Assert.Equal((JobStates.CompletedWithErrors, 6L, 5L, 1L), (job.State, job.Total, job.Succeeded, job.Failed));
        Assert.Equal("truncated", (string)lines.Single(l => (string)l["item_key"]! == Corrupt)["error_kind"]!);
        var ok = lines.Where(l => (string)l["status"]! == "succeeded").ToList();
        Assert.Equal(5, ok.Count);
        Assert.All(ok, l =>
        {
            Assert.Equal("", (string)l["prompt"]!);
            Assert.InRange((int)l["token_count"]!, 1, 6);
            Assert.Contains((string)l["finish_reason"]!, new[] { "eos", "length" });
            Assert.NotNull((string?)l["text"]);
            Assert.Null(l["boxes"]);
        });
    }
}
