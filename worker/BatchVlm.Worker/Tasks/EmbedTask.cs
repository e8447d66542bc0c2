// The `embed` task: an embedding per image (SigLIP, CLIP, AltCLIP pooled + projected; BLIP-2 ITC per-query vectors or
// their mean), L2-normalised by default, and embeddings of the job's texts. Written to blob storage as files numpy and
// FAISS read directly (format: Tasks/README.md):
//   <output>/<job id>/shard-00003.npy        float32 (or float16) (N, E) — BLIP-2 "queries": (N, Q, E)
//   <output>/<job id>/shard-00003.ids.txt    the N item keys, one per line, in row order (sorted by key)
//   <output>/<job id>/shard-00003.json       this shard's entry of the manifest
//   <output>/<job id>/texts.npy, texts.txt   the job's text embeddings, when it has texts
//   <output>/<job id>/manifest.json          model, dim, dtype, normalized, every shard file and count
// Names depend only on (job id, shard index) — plus "-from-<k>" for the rest of a shard an earlier delivery handed
// back after committing k items — and rows are sorted by item key, so a redelivered shard rewrites identical files
// under the same names. Files are written in CompleteAsync, before the pipeline commits the rows; a row per item
// (embed_results: shard file, row index) lets `results` list them.
// Parameters (JSON object): output (required: az://container/prefix, a blob URL or a folder; `batchvlm run` fills in
// <--output>/embeddings), texts [..], normalize true, dtype "float32" | "float16", batch_size 16,
// blip2_image_embedding "queries" (Q×E per image) | "mean" (normalised mean of the queries, E per image),
// shrink_on_load "off" | "on" | "draft" (TaskParameters).
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchVlm.Imaging.Processing;
using BatchVlm.Storage.Blobs;
using BatchVlm.Storage.Postgres;
using BatchVlm.Worker.Models;
using NpgsqlTypes;

namespace BatchVlm.Worker.Tasks;

/// <summary>One embed result: where the item's vector is (embed_results row).</summary>
/// <param name="ShardFile">address of the .npy file (the job's output address + relative key)</param>
/// <param name="RowIndex">row of the item in that file (first axis)</param>
public sealed record EmbedResult(string ItemKey, string ShardFile, int RowIndex) : IResultRow;

/// <summary>Validated embed parameters.</summary>
public sealed record EmbedParameters
{
    public string? Output { get; init; }
    public List<string>? Texts { get; init; }
    public bool Normalize { get; init; } = true;
    public string Dtype { get; init; } = "float32";
    public int BatchSize { get; init; } = 16;
    public string Blip2ImageEmbedding { get; init; } = "queries";
    public string ShrinkOnLoad { get; init; } = "off";

    public NpyDType NpyDType => Dtype == "float16" ? NpyDType.Float16 : NpyDType.Float32;

    public static EmbedParameters Parse(string? parametersJson)
    {
        var p = TaskParameters.Parse<EmbedParameters>(EmbedTask.TaskName, parametersJson,
            "output, texts, normalize, dtype, batch_size, blip2_image_embedding, shrink_on_load");
        if (string.IsNullOrWhiteSpace(p.Output))
            throw new ArgumentException("embed needs parameter output: where the .npy shard files go (az://container/prefix, a blob URL or a folder)");
        if (p.Dtype is not ("float32" or "float16"))
            throw new ArgumentException($"embed parameter dtype must be float32 or float16, got '{p.Dtype}'");
        if (p.Blip2ImageEmbedding is not ("queries" or "mean"))
            throw new ArgumentException($"embed parameter blip2_image_embedding must be queries or mean, got '{p.Blip2ImageEmbedding}'");
        TaskParameters.CheckBatchSize(EmbedTask.TaskName, p.BatchSize);
        TaskParameters.CheckShrinkOnLoad(EmbedTask.TaskName, p.ShrinkOnLoad);
        TaskParameters.CheckTexts(EmbedTask.TaskName, p.Texts, required: false);
        return p;
    }
}

public sealed class EmbedTask : IShardTask
{
    public const string TaskName = "embed";

    public static readonly ResultTable<EmbedResult> Table = new("embed_results", [],
        ResultColumn<EmbedResult>.Of("shard_file", NpgsqlDbType.Text, r => r.ShardFile),
        ResultColumn<EmbedResult>.Of("row_index", NpgsqlDbType.Integer, r => r.RowIndex));

    public string Name => TaskName;
    public bool RequiresModel => true;

    /// <summary>1000 items: a SigLIP-B/CLIP-B image is ~0.1 s on CPU, milliseconds on a GPU; a shard file of 1000
    /// vectors is 3 MB at E = 768 (float32).</summary>
    public int DefaultShardSize => 1000;

    public ResultTable ResultTable => Table;

    public void ValidateParameters(string model, string parametersJson)
    {
        if (string.IsNullOrWhiteSpace(model)) throw new ArgumentException("embed needs a model (a SigLIP, CLIP, AltCLIP or BLIP-2 folder or hub id)");
        EmbedParameters.Parse(parametersJson);
    }

    public async ValueTask<IShardTaskSession> OpenAsync(TaskRequest request, CancellationToken ct)
    {
        var p = EmbedParameters.Parse(request.ParametersJson);
        var model = ContrastiveModel.Get(request.Model);
        if (model.IsBlip2 && !p.Normalize)
            throw new ArgumentException("embed: BLIP-2 ITC embeddings are always L2-normalised per query (normalize=false is not available)");
        var stores = request.Stores ?? throw new InvalidOperationException("embed needs an output store resolver (TaskRequest.Stores)");
        var output = stores.Open(p.Output!);
        await output.EnsureContainerAsync(ct);
        return new Session(model, p, request, output);
    }

    private sealed record Pixels(float[] Values);

    private sealed class Session(ContrastiveModel model, EmbedParameters p, TaskRequest request, IBlobStore output) : IShardTaskSession
    {
        private readonly List<(string Key, float[] Vector)> _done = [];
        private readonly string _job = request.JobId.ToString("D");
        private readonly ImageProcessor _processor = TaskParameters.WithShrinkOnLoad(model.Processor, p.ShrinkOnLoad);

        public int BatchSize => p.BatchSize;

        private bool Queries => model.IsBlip2 && p.Blip2ImageEmbedding == "queries";

        /// <summary>Shape of one item's embedding.</summary>
        private int[] ItemShape => Queries ? [model.Blip2!.NumQueryTokens, model.EmbeddingDim] : [model.EmbeddingDim];

        public PreparedItem Prepare(FetchedItem item, CancellationToken ct) =>
            new(item.Key, new Pixels(_processor.Preprocess(item.Bytes)));

        public ValueTask<BatchOutput> RunBatchAsync(IReadOnlyList<PreparedItem> batch, CancellationToken ct)
        {
            ct.ThrowIfCancellationRequested();
            var pixels = TaskParameters.Stack(batch.Select(b => ((Pixels)b.Value).Values).ToList());
            int n = batch.Count;
            if (model.ImageText is { } m)
            {
                var e = m.EmbedImages(pixels, n, p.Normalize);                          // (B, E)
                for (int i = 0; i < n; i++)
                    _done.Add((batch[i].Key, Row(e, i)));
            }
            else
            {
                var e = model.Blip2!.EmbedImages(pixels, n);                          // (B, Q, E), each query normalised
                int q = e.GetLength(1), d = e.GetLength(2);
                for (int i = 0; i < n; i++)
                {
                    var v = new float[Queries ? q * d : d];
                    for (int j = 0; j < q; j++)
                        for (int k = 0; k < d; k++)
                        {
                            if (Queries) v[j * d + k] = e[i, j, k];
                            else v[k] += e[i, j, k] / q;
                        }
                    if (!Queries) Normalize(v);
                    _done.Add((batch[i].Key, v));
                }
            }
            // Rows come from CompleteAsync, once the shard file (and each item's row in it) exists.
            return ValueTask.FromResult(BatchOutput.Of(Array.Empty<IResultRow>()));
        }

        public async ValueTask<BatchOutput> CompleteAsync(CancellationToken ct)
        {
            var rows = new List<IResultRow>();
            string name = request.DoneItems > 0 ? $"shard-{request.ShardIndex:D5}-from-{request.DoneItems:D5}" : $"shard-{request.ShardIndex:D5}";
            if (_done.Count > 0)
            {
                _done.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
                int width = _done[0].Vector.Length;
                var all = new float[_done.Count * width];
                for (int i = 0; i < _done.Count; i++)
                    _done[i].Vector.CopyTo(all, i * width);
                var npyKey = $"{_job}/{name}.npy";
                await output.WriteBytesAsync(npyKey, NpyFormat.Write(all, [_done.Count, .. ItemShape], p.NpyDType), "application/octet-stream", ct: ct);
                await output.WriteBytesAsync($"{_job}/{name}.ids.txt", Lines(_done.Select(d => d.Key)), "text/plain; charset=utf-8", ct: ct);
                var entry = new JsonObject
                {
                    ["shard_index"] = request.ShardIndex,
                    ["part_from"] = request.DoneItems,
                    ["file"] = $"{name}.npy",
                    ["ids_file"] = $"{name}.ids.txt",
                    ["count"] = _done.Count,
                };
                var sidecar = JobFields();
                sidecar["shard"] = entry;
                await output.WriteBytesAsync($"{_job}/{name}.json", Encoding.UTF8.GetBytes(sidecar.ToJsonString(Indented)), "application/json", ct: ct);
                string address = $"{output.Describe().TrimEnd('/')}/{npyKey}";
                for (int i = 0; i < _done.Count; i++)
                    rows.Add(new EmbedResult(_done[i].Key, address, i));
            }
            await WriteTextsAsync(ct);
            await WriteManifestAsync(ct);
            return BatchOutput.Of(rows);
        }

        /// <summary>The job's text embeddings, once per job (texts.txt is written last, so its presence means done).</summary>
        private async Task WriteTextsAsync(CancellationToken ct)
        {
            if (p.Texts is not { Count: > 0 } texts || await output.GetPropertiesAsync($"{_job}/texts.txt", ct) is not null)
                return;
            var (ids, mask) = model.EncodeTexts(texts);
            var e = model.ImageText is { } m ? m.EmbedTexts(ids, mask, p.Normalize) : model.Blip2!.EmbedTexts(ids, mask);
            var flat = new float[e.Length];
            Buffer.BlockCopy(e, 0, flat, 0, e.Length * sizeof(float));
            await output.WriteBytesAsync($"{_job}/texts.npy", NpyFormat.Write(flat, [e.GetLength(0), e.GetLength(1)], p.NpyDType), "application/octet-stream", ct: ct);
            await output.WriteBytesAsync($"{_job}/texts.txt", Lines(texts), "text/plain; charset=utf-8", ct: ct);
        }

        private JsonObject JobFields() => new()
        {
            ["format"] = "batchvlm-embeddings/1",
            ["job_id"] = _job,
            ["model"] = request.Model,
            ["family"] = model.Family,
            ["dim"] = model.EmbeddingDim,
            ["item_shape"] = new JsonArray(ItemShape.Select(d => (JsonNode)d).ToArray()),
            ["image_embedding"] = model.IsBlip2 ? $"blip2_itc_{p.Blip2ImageEmbedding}" : "pooled_projected",
            ["dtype"] = p.Dtype,
            ["normalized"] = p.Normalize,
            ["output"] = output.Describe(),
        };

        /// <summary>manifest.json from every shard sidecar present. Each writer re-lists after writing and rewrites
        /// when the set changed, so the last manifest written includes every sidecar written before it.</summary>
        private async Task WriteManifestAsync(CancellationToken ct)
        {
            List<string>? previous = null;
            for (int round = 0; round < 10; round++)
            {
                var sidecars = await ListSidecarsAsync(ct);
                if (previous is not null && sidecars.SequenceEqual(previous))
                    return;
                var shards = new List<JsonObject>();
                foreach (var key in sidecars)
                {
                    try
                    {
                        var node = JsonNode.Parse(await output.ReadAllBytesAsync(key, ct))?["shard"]?.AsObject();
                        if (node is not null) shards.Add((JsonObject)node.DeepClone());
                    }
                    catch (BlobNotFoundException)
                    {
                    }
                }
                shards.Sort((a, b) => (((int)a["shard_index"]!, (int)a["part_from"]!)).CompareTo(((int)b["shard_index"]!, (int)b["part_from"]!)));
                var manifest = JobFields();
                manifest["texts"] = p.Texts is { Count: > 0 } t
                    ? new JsonObject { ["file"] = "texts.npy", ["ids_file"] = "texts.txt", ["count"] = t.Count }
                    : null;
                manifest["total"] = shards.Sum(s => (int)s["count"]!);
                manifest["shards"] = new JsonArray(shards.Select(s => (JsonNode)s).ToArray());
                await output.WriteBytesAsync($"{_job}/manifest.json", Encoding.UTF8.GetBytes(manifest.ToJsonString(Indented)), "application/json", ct: ct);
                previous = sidecars;
            }
        }

        private async Task<List<string>> ListSidecarsAsync(CancellationToken ct)
        {
            var keys = new List<string>();
            await foreach (var item in output.ListAsync($"{_job}/shard-", ct))
            {
                if (item.Key.EndsWith(".json", StringComparison.Ordinal))
                    keys.Add(item.Key);
            }
            keys.Sort(StringComparer.Ordinal);
            return keys;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static byte[] Lines(IEnumerable<string> lines)
    {
        var sb = new StringBuilder();
        foreach (var line in lines) sb.Append(line).Append('\n');
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static float[] Row(float[,] m, int i)
    {
        var v = new float[m.GetLength(1)];
        for (int j = 0; j < v.Length; j++) v[j] = m[i, j];
        return v;
    }

    private static void Normalize(float[] v)
    {
        double s = 0;
        foreach (var x in v) s += (double)x * x;
        var inv = (float)(1 / Math.Max(Math.Sqrt(s), 1e-12));
        for (int i = 0; i < v.Length; i++) v[i] *= inv;
    }
}
