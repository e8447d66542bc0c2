// `batchvlm run` end to end, in this process: coordinator + worker on MassTransit's in-memory transport over a temp
// folder of generated images (PNG, JPEG) with corrupt files (truncated JPEG, zero bytes, a text file named .jpg).
// Checks results.jsonl (one line per item, corrupt ones failed with their kind) and job.json; no servers involved.
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using BatchVlm.Cli.Commands;
using BatchVlm.Fleet.Tests.SystemTests;

namespace BatchVlm.Fleet.Tests.Cli;

public sealed class RunCommandTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("batchvlm-run-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Run_FolderWithCorruptImages_OneLinePerItemWithReasons()
    {
        var input = Path.Combine(_root, "in");
        var corrupt = new Dictionary<string, TestImages.CorruptKind>
        {
            ["bad/truncated.jpg"] = TestImages.CorruptKind.TruncatedJpeg,
            ["bad/zero.jpg"] = TestImages.CorruptKind.ZeroBytes,
            ["bad/text.jpg"] = TestImages.CorruptKind.TextNamedJpg,
        };
        var names = TestImages.WriteSet(input, 120, corrupt);
        var output = Path.Combine(_root, "out");

        var code = await RunCommand.Create().Parse(["--task", "inspect", "--input", input, "--output", output, "--shard-size", "25"])
            .InvokeAsync(cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(0, code);
        var lines = File.ReadAllLines(Path.Combine(output, "results.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal(names, lines.Select(l => (string)l["item_key"]!));
        var byKey = lines.ToDictionary(l => (string)l["item_key"]!);
        Assert.Equal("truncated", (string)byKey["bad/truncated.jpg"]["error_kind"]!);
        Assert.Equal("zero_bytes", (string)byKey["bad/zero.jpg"]["error_kind"]!);
        Assert.Equal("not_an_image", (string)byKey["bad/text.jpg"]["error_kind"]!);
        Assert.All(corrupt.Keys, k => Assert.Contains(k, (string)byKey[k]["error"]!));
        foreach (var line in lines.Where(l => (string)l["status"]! == "succeeded"))
        {
            var bytes = File.ReadAllBytes(Path.Combine(input, (string)line["item_key"]!));
            var (w, h) = TestImages.Size(bytes);
            Assert.Equal((w, h, bytes.LongLength), ((int)line["width"]!, (int)line["height"]!, (long)line["byte_size"]!));
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), (string)line["sha256"]!);
            Assert.Equal(3, (int)line["bands"]!);
            Assert.True((double)line["decode_ms"]! >= 0);
        }
        var job = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "job.json")))!;
        Assert.Equal(("completed_with_errors", 120L, 117L, 3L),
            ((string)job["state"]!, (long)job["total"]!, (long)job["succeeded"]!, (long)job["failed"]!));
        Assert.Equal(5, (int)job["shards"]!["succeeded"]!);
    }

    [Fact]
    public async Task Run_InspectHeaderOnly_TruncatedBodyPassesAndBadHeadersStillFail()
    {
        var input = Path.Combine(_root, "in");
        var corrupt = new Dictionary<string, TestImages.CorruptKind>
        {
            ["bad/truncated.jpg"] = TestImages.CorruptKind.TruncatedJpeg,
            ["bad/zero.jpg"] = TestImages.CorruptKind.ZeroBytes,
            ["bad/text.jpg"] = TestImages.CorruptKind.TextNamedJpg,
        };
        TestImages.WriteSet(input, 20, corrupt);
        var output = Path.Combine(_root, "out");

        var code = await RunCommand.Create().Parse(["--task", "inspect", "--input", input, "--output", output, "--params", """{"decode": false}"""])
            .InvokeAsync(cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(0, code);
        var byKey = File.ReadAllLines(Path.Combine(output, "results.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject())
            .ToDictionary(l => (string)l["item_key"]!);
        Assert.Equal(20, byKey.Count);
        // The header of a truncated JPEG is intact: without a decode its body is not read, so it is not an error.
        Assert.Equal("succeeded", (string)byKey["bad/truncated.jpg"]["status"]!);
        Assert.Equal("zero_bytes", (string)byKey["bad/zero.jpg"]["error_kind"]!);
        Assert.Equal("not_an_image", (string)byKey["bad/text.jpg"]["error_kind"]!);
        Assert.All(byKey.Values.Where(l => (string)l["status"]! == "succeeded"), l => Assert.Equal(0.0, (double)l["decode_ms"]!));
    }

    [Fact]
    public async Task Run_InspectDecodeNotABoolean_ExitsWithError()
    {
        var code = await RunCommand.Create().Parse(["--task", "inspect", "--input", _root, "--output", Path.Combine(_root, "o"), "--params", """{"decode": "no"}"""])
            .InvokeAsync(cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(1, code);
    }

    [Fact]
    public async Task Run_MissingInputFolder_ExitsWithErrorNamingIt()
    {
        var missing = Path.Combine(_root, "does-not-exist");
        var code = await RunCommand.Create().Parse(["--task", "inspect", "--input", missing, "--output", Path.Combine(_root, "o")])
            .InvokeAsync(cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(1, code);
    }

    [Fact]
    public async Task Run_UnknownTask_ExitsWithError()
    {
        var code = await RunCommand.Create().Parse(["--task", "paint", "--input", _root, "--output", Path.Combine(_root, "o")])
            .InvokeAsync(cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(1, code);
    }
}
