// A model's weights: one safetensors file or a sharded set tied together by `model.safetensors.index.json`
// (transformers' SAFE_WEIGHTS_INDEX_NAME: {"metadata": {...}, "weight_map": {key: shard file}}). Every shard is
// memory-mapped; a key is looked up in the shard the index names, and the index is checked against the shards.
using System.Text.Json;

namespace BatchVlm.Engine.Loading;

/// <summary>All weight tensors of a checkpoint, by Hugging Face key, across one or more memory-mapped files.</summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, (SafetensorsFile File, SafetensorsTensorInfo Info)> _byKey;

    /// <summary>The index file when sharded, else the single file.</summary>
    public string Source { get; }
    public IReadOnlyList<SafetensorsFile> Files => _files;
    public IReadOnlyCollection<string> Keys => _byKey.Keys;
    public long TotalBytes => _files.Sum(f => f.FileLength);

    private SafetensorsCheckpoint(string source, List<SafetensorsFile> files, Dictionary<string, (SafetensorsFile, SafetensorsTensorInfo)> byKey)
    {
        Source = source; _files = files; _byKey = byKey;
    }

    /// <summary>
    /// Opens a checkpoint from a directory (prefers model.safetensors.index.json, then model.safetensors, then the only
    /// *.safetensors file there), an index file, or a single .safetensors file.
    /// </summary>
    public static SafetensorsCheckpoint Open(string path)
    {
        if (Directory.Exists(path))
        {
            string index = Path.Combine(path, IndexFileName);
            if (File.Exists(index)) return OpenIndex(index);
            string single = Path.Combine(path, SingleFileName);
            if (File.Exists(single)) return OpenFiles(single, [single]);
            var candidates = Directory.GetFiles(path, "*.safetensors")
                .Where(f => Path.GetFileName(f) is not ("inputs.safetensors" or "expected.safetensors")).ToList();
            if (candidates.Count == 1) return OpenFiles(candidates[0], candidates);
            throw new ModelLoadException(candidates.Count == 0
                ? $"No weights in {path}: neither {IndexFileName} nor {SingleFileName} found"
                : $"Ambiguous weights in {path}: no {IndexFileName} and {candidates.Count} *.safetensors files ({string.Join(", ", candidates.Select(Path.GetFileName))})");
        }
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return OpenIndex(path);
        return OpenFiles(path, [path]);
    }

    /// <summary>Opens a sharded checkpoint through its index file; every shard must exist and hold what the index says.</summary>
    public static SafetensorsCheckpoint OpenIndex(string indexPath)
    {
        if (!File.Exists(indexPath)) throw new ModelLoadException($"Index file not found: {indexPath}");
        string dir = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (!doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException($"Invalid index {indexPath}: no \"weight_map\" object");
            foreach (var p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new ModelLoadException($"Invalid index {indexPath}: weight_map['{p.Name}'] is not a file name");
                string file = p.Value.GetString()!;
                if (file.Contains('/') || file.Contains('\\') || file == ".." || file.Length == 0)
                    throw new ModelLoadException($"Invalid index {indexPath}: weight_map['{p.Name}'] = '{file}' is not a plain file name");
                weightMap[p.Name] = file;
            }
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"Invalid index {indexPath}: not valid JSON ({e.Message})", e);
        }

        var shardNames = weightMap.Values.Distinct().OrderBy(n => n, StringComparer.Ordinal).ToList();
        foreach (var name in shardNames)
            if (!HubCache.TargetExists(Path.Combine(dir, name)))
                throw new ModelLoadException($"Shard {name} listed in {indexPath} is missing from {dir}");
        var ckpt = OpenFiles(indexPath, shardNames.Select(n => Path.Combine(dir, n)).ToList());
        try
        {
            foreach (var (key, file) in weightMap)
            {
                if (!ckpt._byKey.TryGetValue(key, out var hit))
                    throw new ModelLoadException($"Weight '{key}' is listed in {Path.GetFileName(indexPath)} under {file} but no shard holds it");
                if (hit.File.FileName != file)
                    throw new ModelLoadException($"Weight '{key}' is listed in {Path.GetFileName(indexPath)} under {file} but is stored in {hit.File.FileName}");
            }
            return ckpt;
        }
        catch
        {
            ckpt.Dispose();
            throw;
        }
    }

    /// <summary>Opens an explicit set of files; a key stored in two files is an error.</summary>
    public static SafetensorsCheckpoint OpenFiles(string source, IReadOnlyList<string> paths)
    {
        var files = new List<SafetensorsFile>();
        try
        {
            var byKey = new Dictionary<string, (SafetensorsFile, SafetensorsTensorInfo)>(StringComparer.Ordinal);
            foreach (var p in paths)
            {
                var f = SafetensorsFile.Open(p);
                files.Add(f);
                foreach (var t in f.Tensors)
                    if (!byKey.TryAdd(t.Name, (f, t)))
                        throw new ModelLoadException($"Weight '{t.Name}' is stored twice: in {byKey[t.Name].Item1.FileName} and {f.FileName}");
            }
            return new SafetensorsCheckpoint(Path.GetFullPath(source), files, byKey);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    public bool Contains(string key) => _byKey.ContainsKey(key);

    public bool TryGet(string key, out SafetensorsFile file, out SafetensorsTensorInfo info)
    {
        if (_byKey.TryGetValue(key, out var hit)) { file = hit.File; info = hit.Info; return true; }
        file = null!; info = null!;
        return false;
    }

    /// <summary>"model-00001-of-00002.safetensors, model-00002-of-00002.safetensors" for error messages.</summary>
    public string DescribeFiles() => string.Join(", ", _files.Select(f => f.FileName));

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
