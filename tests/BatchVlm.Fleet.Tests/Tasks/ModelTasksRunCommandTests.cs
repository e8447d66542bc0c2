// `batchvlm run` (coordinator + worker in this process, in-memory transport, no servers) with the model tasks:
// embed writes <output>/embeddings/<job id>/ (.npy shards, ids, manifest) and results.jsonl; caption and score write
// results.jsonl. The corrupt image is a failed line with its kind in each.
using System.Text;
using System.Text.Json.Nodes;
using BatchVlm.Cli.Commands;
using BatchVlm.Fleet.Tests.SystemTests;
using BatchVlm.Worker.Tasks;

namespace BatchVlm.Fleet.Tests.Tasks;

public sealed class ModelTasksRunCommandTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("batchvlm-run-tasks-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private const string Corrupt = "bad/zero.jpg";

    private string Input()
    {
        var input = Path.Combine(_root, "in");
        TestImages.WriteSet(input, 6, new Dictionary<string, TestImages.CorruptKind> { [Corrupt] = TestImages.CorruptKind.ZeroBytes });
        return input;
    }

    private static async Task<(int Code, List<JsonObject> Lines, JsonNode Job)> Run(string output, params string[] args)
    {
        var code = await RunCommand.Create().Parse([.. args, "--output", output]).InvokeAsync(cancellationToken: TestContext.Current.CancellationToken);
        var lines = File.Exists(Path.Combine(output, "results.jsonl"))
            ? File.ReadAllLines(Path.Combine(output, "results.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToList()
            : [];
        var job = File.Exists(Path.Combine(output, "job.json")) ? JsonNode.Parse(File.ReadAllText(Path.Combine(output, "job.json")))! : new JsonObject();
        return (code, lines, job);
    }

    [Fact]
    public async Task Run_EmbedSiglipTinyWithTextsFile_NpyShardsManifestAndResults()
    {
        var input = Input();
        var model = TinyModels.Build(_root, "siglip");
        var textsFile = Path.Combine(_root, "texts.txt");
        File.WriteAllLines(textsFile, TinyModels.Texts);
        var output = Path.Combine(_root, "out");

        var (code, lines, job) = await Run(output, "--task", "embed", "--model", model, "--input", input, "--texts", textsFile,
            "--params", """{"dtype": "float16"}""", "--shard-size", "2");

        Assert.Equal(0, code);
        Assert.Equal(("completed_with_errors", 5L, 1L), ((string)job["state"]!, (long)job["succeeded"]!, (long)job["failed"]!));
        Assert.Equal("zero_bytes", (string)lines.Single(l => (string)l["item_key"]! == Corrupt)["error_kind"]!);
        var jobDir = Path.Combine(output, "embeddings", (string)job["job_id"]!);
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(jobDir, "manifest.json")))!;
        Assert.Equal(("float16", 5), ((string)manifest["dtype"]!, (int)manifest["total"]!));
        int dim = (int)manifest["dim"]!;
        foreach (var line in lines.Where(l => (string)l["status"]! == "succeeded"))
        {
            var file = (string)line["shard_file"]!;
            Assert.StartsWith(jobDir, file);
            var npy = NpyFormat.Read(File.ReadAllBytes(file));
            Assert.Equal("<f2", npy.Descr);
            int row = (int)line["row_index"]!;
            var ids = File.ReadAllLines(Path.ChangeExtension(file, null) + ".ids.txt");
            Assert.Equal((string)line["item_key"]!, ids[row]);
            var norm = Math.Sqrt(npy.Values.Skip(row * dim).Take(dim).Sum(v => (double)v * v));
            Assert.InRange(norm, 0.99, 1.01);                             // float16 rounding
        }
        Assert.Equal([3, dim], NpyFormat.Read(File.ReadAllBytes(Path.Combine(jobDir, "texts.npy"))).Shape);
    }

    [Fact]
    public async Task Run_CaptionBlip2OptTinyAndPaliGemmaTiny_OneLinePerItem()
    {
        var input = Input();
        foreach (var (name, extra) in new[] { ("blip2-opt", new[] { "--max-new-tokens", "4" }), ("paligemma", new[] { "--prompt", "caption en", "--max-new-tokens", "4" }) })
        {
            var output = Path.Combine(_root, "out-" + name);
            var (code, lines, job) = await Run(output, ["--task", "caption", "--model", TinyModels.Build(_root, name), "--input", input, .. extra]);
            Assert.Equal(0, code);
            Assert.Equal(("completed_with_errors", 5L, 1L), ((string)job["state"]!, (long)job["succeeded"]!, (long)job["failed"]!));
            Assert.Equal("zero_bytes", (string)lines.Single(l => (string)l["item_key"]! == Corrupt)["error_kind"]!);
            Assert.All(lines.Where(l => (string)l["status"]! == "succeeded"), l =>
            {
                Assert.InRange((int)l["token_count"]!, 1, 4);
                Assert.Contains((string)l["finish_reason"]!, new[] { "eos", "length" });
                Assert.NotNull((string?)l["text"]);
            });
        }
    }

    [Fact]
    public async Task Run_ScoreSiglipTiny_SigmoidOfLogitPerPair()
    {
        var input = Input();
        var textsFile = Path.Combine(_root, "texts.txt");
        File.WriteAllLines(textsFile, TinyModels.Texts);
        var (code, lines, job) = await Run(Path.Combine(_root, "out"), "--task", "score", "--model", TinyModels.Build(_root, "siglip"),
            "--input", input, "--texts", textsFile);
        Assert.Equal(0, code);
        Assert.Equal(("completed_with_errors", 5L, 1L), ((string)job["state"]!, (long)job["succeeded"]!, (long)job["failed"]!));
        var ok = lines.Where(l => (string)l["status"]! == "succeeded").ToList();
        Assert.Equal(5 * 3, ok.Count);
        Assert.All(ok, l =>
        {
            Assert.Equal("sigmoid", (string)l["score_kind"]!);
            Assert.Equal(1 / (1 + Math.Exp(-(double)l["logit"]!)), (double)l["probability"]!, 4);
        });
    }

    [Fact]
    public async Task Run_EmbedWithoutOutputAndScoreWithoutTexts_Refused()
    {
        var input = Input();
        var model = TinyModels.Build(_root, "siglip");
        Assert.Throws<ArgumentException>(() => new EmbedTask().ValidateParameters(model, "{}"));
        var (code, _, _) = await Run(Path.Combine(_root, "o"), "--task", "score", "--model", model, "--input", input);
        Assert.Equal(1, code);
    }
}
