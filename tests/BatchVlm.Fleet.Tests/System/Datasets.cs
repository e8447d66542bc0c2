// Image sets the system tests run jobs over: generated once per test run (TestImages), uploaded once to their own
// Azurite container with `batchvlm upload`, and shared by every test that asks for the same set, so the fault
// tests each pay for a job, not for an upload. Each set knows what the inspect task must report for each file.
namespace BatchVlm.Fleet.Tests.SystemTests;

/// <summary>An uploaded image set. Names are relative to <see cref="Address"/>; Expected holds, per valid image,
/// what inspect must find (its generator's size, the bytes' length and SHA-256); Corrupt maps the corrupt files to
/// the item_errors.kind the schema documents for them.</summary>
public sealed record Dataset(
    string Container,
    string Prefix,
    string LocalFolder,
    IReadOnlyList<string> Names,
    IReadOnlyDictionary<string, Dataset.Image> Expected,
    IReadOnlyDictionary<string, string> Corrupt)
{
    public sealed record Image(string Format, int Width, int Height, long ByteSize, string Sha256);

    public string Address => $"az://{Container}/{Prefix}";
    public int Count => Names.Count;
}

public sealed partial class FleetStack
{
    private readonly Dictionary<string, Dataset> _datasets = [];
    private readonly SemaphoreSlim _datasetLock = new(1, 1);

    /// <summary>The corrupt files every standard set holds, with the item_errors.kind the schema names for each
    /// (storage/BatchVlm.Storage/Postgres/Migrations/0001_jobs_shards_item_errors.sql).</summary>
    public static IReadOnlyDictionary<string, (TestImages.CorruptKind Kind, string ExpectedKind)> StandardCorrupt { get; } =
        new Dictionary<string, (TestImages.CorruptKind, string)>
        {
            ["bad/truncated-1.jpg"] = (TestImages.CorruptKind.TruncatedJpeg, "truncated"),
            ["bad/truncated-2.jpg"] = (TestImages.CorruptKind.TruncatedJpeg, "truncated"),
            ["bad/zero-bytes.jpg"] = (TestImages.CorruptKind.ZeroBytes, "zero_bytes"),
            ["bad/text-named.jpg"] = (TestImages.CorruptKind.TextNamedJpg, "not_an_image"),
        };

    /// <summary>A set of <paramref name="count"/> images including <see cref="StandardCorrupt"/>, uploaded once per
    /// test run (the first caller's FleetRun does the upload and keeps its log).</summary>
    public async Task<Dataset> StandardDataset(FleetRun uploader, int count)
    {
        await _datasetLock.WaitAsync();
        try
        {
            var name = $"std{count}";
            if (_datasets.TryGetValue(name, out var existing))
                return existing;

            var folder = Path.Combine(LogRoot, "datasets", name);
            var corrupt = StandardCorrupt.ToDictionary(kv => kv.Key, kv => kv.Value.Kind);
            var names = TestImages.WriteSet(folder, count, corrupt);
            var expected = new Dictionary<string, Dataset.Image>(StringComparer.Ordinal);
            foreach (var n in names.Where(n => !corrupt.ContainsKey(n)))
            {
                var bytes = await File.ReadAllBytesAsync(Path.Combine(folder, n));
                var (w, h) = TestImages.Size(bytes);
                expected[n] = new Dataset.Image(n.EndsWith(".png", StringComparison.Ordinal) ? "png" : "jpeg", w, h, bytes.Length, FleetRun.Sha256Hex(bytes));
            }
            var container = $"sys-{Path.GetFileName(LogRoot).Replace('_', '-')}-{name}".ToLowerInvariant();
            var dataset = new Dataset(container, "in", folder, names, expected,
                StandardCorrupt.ToDictionary(kv => kv.Key, kv => kv.Value.ExpectedKind));
            var upload = await uploader.Cli(TimeSpan.FromMinutes(5), "upload", folder, dataset.Address);
            Assert.True(upload.ExitCode == 0, $"batchvlm upload {folder} {dataset.Address} failed ({upload.ExitCode}):\n{upload.StdErr}\n{upload.StdOut}");
            _datasets[name] = dataset;
            return dataset;
        }
        finally
        {
            _datasetLock.Release();
        }
    }
}
