// Weight accessor that walks Hugging Face key prefixes like folders (after candle's VarBuilder,
// candle-nn/src/var_builder.rs): `w.Sub("vision_model").Sub("encoder").Sub("layers").Sub(3).GetView("q_proj.weight", C, C)`.
// Every access is checked at load: a missing key names the key and the files searched, a wrong shape says expected and
// got; tied weights are aliases (lm_head.weight -> model.embed_tokens.weight when the checkpoint omits it); after the
// model is built, UnusedKeys() lists what the model never asked for.
namespace BatchVlm.Engine.Loading;

/// <summary>One stored weight, viewed in place in its memory-mapped file (no copy).</summary>
public sealed unsafe class WeightView
{
    internal WeightView(string key, SafetensorsFile file, SafetensorsTensorInfo info)
    {
        Key = key; File = file; Info = info;
    }

    /// <summary>The key the model asked for (an alias resolves to another stored key: see Info.Name).</summary>
    public string Key { get; }
    public SafetensorsFile File { get; }
    public SafetensorsTensorInfo Info { get; }
    public SafetensorsDtype Dtype => Info.Dtype;
    public IReadOnlyList<int> Shape => Info.Shape;
    public long ElementCount => Info.ElementCount;
    public byte* Pointer => File.GetPointer(Info);
    public ReadOnlySpan<byte> Bytes => File.GetBytes(Info);

    /// <summary>A float32 copy (converting BF16/F16). Only for small tensors; models wrap the mapping instead.</summary>
    public float[] ToFloat32() => DtypeConversion.ToFloat32(Info, Bytes);
    public long[] ToInt64() => DtypeConversion.ToInt64(Info, Bytes);
}

/// <summary>Prefix-scoped, shape-checked access to a checkpoint's weights with usage tracking.</summary>
public sealed class VarBuilder
{
    private sealed class Shared(SafetensorsCheckpoint checkpoint)
    {
        public readonly SafetensorsCheckpoint Checkpoint = checkpoint;
        public readonly Dictionary<string, string> Aliases = new(StringComparer.Ordinal);
        public readonly HashSet<string> Used = new(StringComparer.Ordinal);
        public readonly Lock Gate = new();
    }

    private readonly Shared _shared;

    public VarBuilder(SafetensorsCheckpoint checkpoint) : this(new Shared(checkpoint), "") { }

    /// <summary>
    /// Memory-maps the checkpoint in <paramref name="directory"/>, builds the model with <paramref name="create"/>
    /// (which takes ownership of the checkpoint), then requires every stored key to have been used except those
    /// <paramref name="ignoreUnused"/> accepts. On any failure the checkpoint is released and the error rethrown.
    /// </summary>
    public static T Build<T>(string directory, Func<VarBuilder, SafetensorsCheckpoint, T> create, Func<string, bool>? ignoreUnused = null)
    {
        var ckpt = SafetensorsCheckpoint.Open(directory);
        try
        {
            var vb = new VarBuilder(ckpt);
            var model = create(vb, ckpt);
            vb.ThrowIfUnused(ignoreUnused);
            return model;
        }
        catch
        {
            ckpt.Dispose();
            throw;
        }
    }

    /// <summary>The buffers HF saves beside the weights that no module reads (`*.position_ids`).</summary>
    public static bool IsPositionIdsBuffer(string key) => key.EndsWith("position_ids", StringComparison.Ordinal);

    private VarBuilder(Shared shared, string prefix)
    {
        _shared = shared;
        Prefix = prefix;
    }

    /// <summary>"vision_model.encoder.layers.3." (with trailing dot), "" at the root.</summary>
    public string Prefix { get; }
    public SafetensorsCheckpoint Checkpoint => _shared.Checkpoint;

    /// <summary>A child scope: <c>Sub("encoder")</c>, <c>Sub("layers.3")</c>.</summary>
    public VarBuilder Sub(string name)
    {
        if (string.IsNullOrEmpty(name) || name.StartsWith('.') || name.EndsWith('.'))
            throw new ArgumentException($"Invalid weight prefix '{name}' under '{Prefix}'", nameof(name));
        return new VarBuilder(_shared, Prefix + name + ".");
    }

    /// <summary>A numbered child scope: <c>Sub("layers").Sub(3)</c> is "layers.3.".</summary>
    public VarBuilder Sub(int index) => Sub(index.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The full checkpoint key of <paramref name="name"/> in this scope.</summary>
    public string Key(string name) => Prefix + name;

    /// <summary>
    /// Declares a tied weight: when the checkpoint has no <paramref name="name"/> (in this scope), reads
    /// <paramref name="targetKey"/> (a FULL key from the root) instead — e.g. at the root,
    /// <c>w.Alias("lm_head.weight", "model.embed_tokens.weight")</c>. A checkpoint that does store the key wins.
    /// </summary>
    public VarBuilder Alias(string name, string targetKey)
    {
        lock (_shared.Gate) _shared.Aliases[Key(name)] = targetKey;
        return this;
    }

    /// <summary>True when the key (or its alias target) is stored.</summary>
    public bool Contains(string name) => TryResolve(Key(name), out _, out _, out _);

    private bool TryResolve(string key, out string storedKey, out SafetensorsFile file, out SafetensorsTensorInfo info)
    {
        storedKey = key;
        if (_shared.Checkpoint.TryGet(key, out file, out info)) return true;
        string? target;
        lock (_shared.Gate) _shared.Aliases.TryGetValue(key, out target);
        if (target != null && _shared.Checkpoint.TryGet(target, out file, out info))
        {
            storedKey = target;
            return true;
        }
        return false;
    }

    /// <summary>
    /// The stored weight <paramref name="name"/> in this scope, checked against <paramref name="shape"/>
    /// (-1 matches any size; no dims given = any shape). Marks the key used.
    /// </summary>
    public WeightView GetView(string name, params int[] shape)
    {
        string key = Key(name);
        if (!TryResolve(key, out string stored, out var file, out var info))
            throw MissingKey(key, shape);
        if (shape.Length > 0 && !ShapeMatches(info.Shape, shape))
            throw new ModelLoadException(
                $"Shape mismatch loading '{key}'{(stored != key ? $" (tied to '{stored}')" : "")} from {file.FileName}: expected {SafetensorsTensorInfo.FormatShape(shape)}, got {info.ShapeText}");
        lock (_shared.Gate) _shared.Used.Add(stored);
        return new WeightView(key, file, info);
    }

    /// <summary>A float32 copy of a (small) weight, shape-checked. Large weights should stay mapped (Get → Tensor).</summary>
    public float[] GetFloat32(string name, params int[] shape) => GetView(name, shape).ToFloat32();

    private static bool ShapeMatches(int[] got, int[] expected)
    {
        if (got.Length != expected.Length) return false;
        for (int i = 0; i < got.Length; i++)
            if (expected[i] != -1 && expected[i] != got[i]) return false;
        return true;
    }

    private ModelLoadException MissingKey(string key, int[] shape)
    {
        var ckpt = _shared.Checkpoint;
        string? alias;
        lock (_shared.Gate) _shared.Aliases.TryGetValue(key, out alias);
        string expected = shape.Length > 0 ? $" (expected shape {SafetensorsTensorInfo.FormatShape(shape)})" : "";
        string aliasText = alias != null ? $" nor its tied key '{alias}'" : "";
        // Suggest the stored keys sharing the longest prefix with the missing one: usually a renamed or mis-scoped key.
        var near = ckpt.Keys
            .Select(k => (Key: k, Common: CommonPrefix(k, key)))
            .OrderByDescending(t => t.Common).ThenBy(t => t.Key, StringComparer.Ordinal)
            .Take(3).Where(t => t.Common > 0).Select(t => "'" + t.Key + "'").ToList();
        return new ModelLoadException(
            $"Missing weight '{key}'{expected}: neither it{aliasText} is stored in {ckpt.DescribeFiles()} ({ckpt.Keys.Count} keys)"
            + (near.Count > 0 ? $"; nearest stored keys: {string.Join(", ", near)}" : ""));
    }

    private static int CommonPrefix(string a, string b)
    {
        int n = Math.Min(a.Length, b.Length), i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }

    /// <summary>Stored keys the model never read (sorted). Call after the model is built.</summary>
    public IReadOnlyList<string> UnusedKeys()
    {
        lock (_shared.Gate)
            return _shared.Checkpoint.Keys.Where(k => !_shared.Used.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
    }

    /// <summary>Throws listing every unused key, except those <paramref name="ignore"/> accepts (e.g. buffers such as
    /// <c>position_ids</c> that HF stores but the math does not need).</summary>
    public void ThrowIfUnused(Func<string, bool>? ignore = null)
    {
        var unused = UnusedKeys().Where(k => ignore is null || !ignore(k)).ToList();
        if (unused.Count > 0)
            throw new ModelLoadException(
                $"{unused.Count} weight(s) in {_shared.Checkpoint.DescribeFiles()} were never used by the model: {string.Join(", ", unused.Take(20))}{(unused.Count > 20 ? ", ..." : "")}");
    }
}
