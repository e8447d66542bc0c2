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

    [Theory]
    [InlineData("clip", "{}", "pooled_projected", 2)]
    [InlineData("altclip", "{}", "pooled_projected", 2)]
    [InlineData("altclip", """{"normalize": false}""", "pooled_projected", 2)]
    [InlineData("blip2-itm", "{}", "blip2_itc_queries", 3)]
    [InlineData("blip2-itm", """{"blip2_image_embedding": "mean"}""", "blip2_itc_mean", 2)]
    public async Task Run_EmbedOtherFamilies_ShapeAndNormsAsManifestSays(string family, string parameters, string kind, int rank)
    {
        var input = Input();
        var output = Path.Combine(_root, "out");
        var (code, lines, job) = await Run(output, "--task", "embed", "--model", TinyModels.Build(_root, family), "--input", input, "--params", parameters);
        Assert.Equal(0, code);
        Assert.Equal(("completed_with_errors", 5L, 1L), ((string)job["state"]!, (long)job["succeeded"]!, (long)job["failed"]!));
        var jobDir = Path.Combine(output, "embeddings", (string)job["job_id"]!);
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(jobDir, "manifest.json")))!;
        Assert.Equal(kind, (string)manifest["image_embedding"]!);
        var itemShape = manifest["item_shape"]!.AsArray().Select(n => (int)n!).ToArray();
        var shard = manifest["shards"]!.AsArray().Single()!;
        var npy = NpyFormat.Read(File.ReadAllBytes(Path.Combine(jobDir, (string)shard["file"]!)));
        Assert.Equal(rank, npy.Shape.Length);
        Assert.Equal([5, .. itemShape], npy.Shape);
        int dim = npy.Shape[^1];
        bool normalized = (bool)manifest["normalized"]!;
        for (int v = 0; v < npy.Values.Length / dim; v++)                  // every vector (every query for BLIP-2 queries)
        {
            var norm = Math.Sqrt(npy.Values.Skip(v * dim).Take(dim).Sum(x => (double)x * x));
            if (normalized) Assert.InRange(norm, 0.999, 1.001);
            else Assert.True(norm > 0 && Math.Abs(norm - 1) > 1e-3, $"raw vector {v} has norm {norm}");
        }
        Assert.Equal(5, lines.Count(l => (string)l["status"]! == "succeeded"));
    }

    [Theory]
    [InlineData("itm", "blip2_itm")]
    [InlineData("itc", "blip2_itc")]
    public async Task Run_ScoreBlip2ItmTiny_RowPerPair(string mode, string kind)
    {
        var input = Input();
        // BERT word ids all exceed the tiny Q-Former's vocab_size 512: an unknown character ([UNK] 100) and [MASK] (103) fit.
        var parameters = $$"""{"texts": ["☃", "[MASK]"], "blip2_score": "{{mode}}"}""";
        var (code, lines, job) = await Run(Path.Combine(_root, "out"), "--task", "score", "--model", TinyModels.Build(_root, "blip2-itm"),
            "--input", input, "--params", parameters);
        Assert.Equal(0, code);
        Assert.Equal(("completed_with_errors", 5L, 1L), ((string)job["state"]!, (long)job["succeeded"]!, (long)job["failed"]!));
        var ok = lines.Where(l => (string)l["status"]! == "succeeded").ToList();
        Assert.Equal(10, ok.Count);
        Assert.All(ok, l =>
        {
            Assert.Equal(kind, (string)l["score_kind"]!);
            if (mode == "itm") Assert.InRange((double)l["probability"]!, 0, 1);
            else
            {
                Assert.Null(l["probability"]);
                Assert.InRange((double)l["logit"]!, -1.0001, 1.0001);             // a cosine
            }
        });
    }

    [Fact]
    public async Task Run_CaptionBlip2T5TinyAndPaliGemmaDetect_RowsPerItem()
    {
        var input = Input();
        var (code, lines, _) = await Run(Path.Combine(_root, "t5"), "--task", "caption", "--model", TinyModels.Build(_root, "blip2-t5"),
            "--input", input, "--max-new-tokens", "3");
        Assert.Equal(0, code);
        Assert.Equal(5, lines.Count(l => (string)l["status"]! == "succeeded" && (int)l["token_count"]! is >= 1 and <= 3));

        (code, lines, _) = await Run(Path.Combine(_root, "detect"), "--task", "caption", "--model", TinyModels.Build(_root, "paligemma"),
            "--input", input, "--prompt", "detect a", "--max-new-tokens", "3");
        Assert.Equal(0, code);
        var ok = lines.Where(l => (string)l["status"]! == "succeeded").ToList();
        Assert.Equal(5, ok.Count);
        // The tiny random model emits no <locNNNN> tokens, so the parsed box list is empty — but present and JSON.
        Assert.All(ok, l => Assert.IsType<JsonArray>(JsonNode.Parse((string)l["boxes"]! is var b ? b : "null")));
    }

    [Fact]
    public async Task Run_EmbedNpyFiles_NumpyLoadsThem()
    {
        const string python = "/usr/bin/python3";
        if (!File.Exists(python) || System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(python, ["-c", "import numpy"])
                { RedirectStandardError = true }) is not { } probe || !probe.WaitForExit(30_000) || probe.ExitCode != 0)
            Assert.Skip("needs /usr/bin/python3 with numpy");
        var output = Path.Combine(_root, "out");
        var (code, _, job) = await Run(output, "--task", "embed", "--model", TinyModels.Build(_root, "blip2-itm"), "--input", Input(),
            "--params", """{"dtype": "float16"}""");
        Assert.Equal(0, code);
        var jobDir = Path.Combine(output, "embeddings", (string)job["job_id"]!);
        var script = """
            import json, sys, numpy as np
            root = sys.argv[1]; m = json.load(open(root + "/manifest.json"))
            X = np.concatenate([np.load(root + "/" + s["file"]) for s in m["shards"]])
            ids = [k for s in m["shards"] for k in open(root + "/" + s["ids_file"]).read().splitlines()]
            assert X.dtype == np.float16 and X.shape == (m["total"], *m["item_shape"]) and len(ids) == X.shape[0], (X.dtype, X.shape)
            n = np.linalg.norm(X.astype(np.float32), axis=-1); assert abs(n - 1).max() < 1e-2, n
            print("ok", X.shape)
            """;
        var psi = new System.Diagnostics.ProcessStartInfo(python, ["-c", script, jobDir]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = await p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = await p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await p.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(p.ExitCode == 0, stderr);
        Assert.StartsWith("ok (5, ", stdout);
    }

    [Theory]
    [InlineData("blip2-t5", "it is {question}", "it is ")]
    [InlineData("paligemma", "answer en", "answer en ")]
    public async Task Run_CaptionWithPerItemQuestions_PromptPerItemAndMissingQuestionIsItemError(string family, string prompt, string expectedStart)
    {
        var input = Input();
        var keys = Directory.GetFiles(input, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(input, f).Replace('\\', '/'))
            .Where(k => k != Corrupt).Order(StringComparer.Ordinal).ToList();
        var questions = new JsonObject();
        foreach (var (key, i) in keys.Skip(1).Select((k, i) => (k, i)))
            questions[key] = i % 2 == 0 ? "a" : "the";
        var questionsFile = Path.Combine(_root, "questions.json");
        File.WriteAllText(questionsFile, questions.ToJsonString());

        var (code, lines, _) = await Run(Path.Combine(_root, "out"), "--task", "caption", "--model", TinyModels.Build(_root, family),
            "--input", input, "--prompt", prompt, "--questions", questionsFile, "--max-new-tokens", "2");

        Assert.Equal(0, code);
        var byKey = lines.ToDictionary(l => (string)l["item_key"]!);
        Assert.Equal("no_question", (string)byKey[keys[0]]["error_kind"]!);
        foreach (var key in keys.Skip(1))
            Assert.Equal(expectedStart + (string)questions[key]!, (string)byKey[key]["prompt"]!);
    }
}
