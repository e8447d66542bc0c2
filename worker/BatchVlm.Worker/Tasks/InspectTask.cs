// The `inspect` task: for each image, its format, stored width and height, bands, EXIF orientation, byte size,
// sha256 and the time a full decode took — or the decode error (zero bytes, truncated, not an image, too many
// pixels, ...) as an item error. No model: its queue is batchvlm.process-shard.inspect.none. It decodes every image
// fully (not only the header), so a truncated or corrupt body is caught, using BatchVlm.Imaging.ImageDecoder.
// Parameters (JSON, all optional): {"max_pixels": 178956970} — the decompression-bomb limit (DecodeOptions.MaxPixels);
// {"decode": false} — header only: a fast inventory of an archive (format, size, sha256) that reads no pixels, so a
// corrupt body is not caught and decode_ms is 0. It is also how the fleet's own bookkeeping is measured
// (scripts/bench/fleet.sh) without the decoder's cost.
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using BatchVlm.Imaging;
using BatchVlm.Storage.Postgres;
using NpgsqlTypes;

namespace BatchVlm.Worker.Tasks;

/// <summary>One inspect result (inspect_results row; JSON fields are these names in snake_case).</summary>
public sealed record InspectResult(
    string ItemKey,
    string Format,
    int Width,
    int Height,
    int Bands,
    int Orientation,
    long ByteSize,
    string Sha256,
    double DecodeMs) : IResultRow;

public sealed class InspectTask : IShardTask
{
    public const string TaskName = "inspect";

    public static readonly ResultTable<InspectResult> Table = new("inspect_results", [],
        ResultColumn<InspectResult>.Of("format", NpgsqlDbType.Text, r => r.Format),
        ResultColumn<InspectResult>.Of("width", NpgsqlDbType.Integer, r => r.Width),
        ResultColumn<InspectResult>.Of("height", NpgsqlDbType.Integer, r => r.Height),
        ResultColumn<InspectResult>.Of("bands", NpgsqlDbType.Integer, r => r.Bands),
        ResultColumn<InspectResult>.Of("orientation", NpgsqlDbType.Integer, r => r.Orientation),
        ResultColumn<InspectResult>.Of("byte_size", NpgsqlDbType.Bigint, r => r.ByteSize),
        ResultColumn<InspectResult>.Of("sha256", NpgsqlDbType.Text, r => r.Sha256),
        ResultColumn<InspectResult>.Of("decode_ms", NpgsqlDbType.Double, r => r.DecodeMs));

    public string Name => TaskName;
    public bool RequiresModel => false;

    /// <summary>500 items: decoding a typical photo takes 5–50 ms, so a shard is seconds to a minute of CPU.</summary>
    public int DefaultShardSize => 500;

    public ResultTable ResultTable => Table;

    public void ValidateParameters(string model, string parametersJson) => Parse(parametersJson);

    public ValueTask<IShardTaskSession> OpenAsync(TaskRequest request, CancellationToken ct) =>
        ValueTask.FromResult<IShardTaskSession>(new Session(Parse(request.ParametersJson)));

    private sealed record Parameters(DecodeOptions Options, bool Decode);

    private static Parameters Parse(string parametersJson)
    {
        var options = new DecodeOptions { ApplyExifOrientation = false };
        var decode = true;
        if (string.IsNullOrWhiteSpace(parametersJson))
            return new Parameters(options, decode);
        using var doc = JsonDocument.Parse(parametersJson);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new ArgumentException("inspect parameters must be a JSON object");
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            switch (p.Name)
            {
                case "max_pixels" when p.Value.TryGetInt64(out var max) && max > 0:
                    options = options with { MaxPixels = max };
                    break;
                case "max_pixels":
                    throw new ArgumentException("inspect parameter max_pixels must be a positive integer");
                case "decode" when p.Value.ValueKind is JsonValueKind.True or JsonValueKind.False:
                    decode = p.Value.GetBoolean();
                    break;
                case "decode":
                    throw new ArgumentException("inspect parameter decode must be true or false");
                default:
                    throw new ArgumentException($"unknown inspect parameter '{p.Name}' (known: max_pixels, decode)");
            }
        }
        return new Parameters(options, decode);
    }

    private sealed class Session(Parameters parameters) : IShardTaskSession
    {
        public int BatchSize => 64;

        public PreparedItem Prepare(FetchedItem item, CancellationToken ct)
        {
            var bytes = item.Bytes;
            var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
            var clock = Stopwatch.StartNew();
            var info = ImageDecoder.Probe(bytes);
            if (parameters.Decode)
                _ = ImageDecoder.DecodeRgb(bytes, parameters.Options);
            else
                ImageDecoder.CheckDimensions(info.Width, info.Height, parameters.Options); // the guards DecodeRgb applies
            var ms = parameters.Decode ? clock.Elapsed.TotalMilliseconds : 0;
            return new PreparedItem(item.Key, new InspectResult(item.Key, info.Format.ToString().ToLowerInvariant(), info.Width, info.Height,
                info.Bands, info.ExifOrientation, bytes.LongLength, sha, Math.Round(ms, 3)));
        }

        public ValueTask<BatchOutput> RunBatchAsync(IReadOnlyList<PreparedItem> batch, CancellationToken ct) =>
            ValueTask.FromResult(BatchOutput.Of(batch.Select(p => (IResultRow)p.Value).ToArray()));

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
