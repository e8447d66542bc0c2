// Settings for reaching the Hugging Face hub and its local cache, read from the same environment variables as
// huggingface_hub 0.26.2 (src/huggingface_hub/constants.py): HF_ENDPOINT, HF_TOKEN (then HF_TOKEN_PATH /
// $HF_HOME/token), HF_HOME, HF_HUB_CACHE, XDG_CACHE_HOME, HF_HUB_OFFLINE, HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT.
namespace BatchVlm.Engine.Loading;

/// <summary>Hub endpoint, credentials, cache location and network policy. Defaults follow huggingface_hub.</summary>
public sealed record HubOptions
{
    /// <summary>Base URL of the hub. Default https://huggingface.co (HF_ENDPOINT).</summary>
    public string Endpoint { get; init; } = "https://huggingface.co";
    /// <summary>Bearer token sent to the endpoint (never to a redirect on another host). Default: none.</summary>
    public string? Token { get; init; }
    /// <summary>Hub cache root holding models--ORG--NAME folders. Default ~/.cache/huggingface/hub.</summary>
    public string CacheDir { get; init; } = DefaultCacheDir(new Dictionary<string, string?>());
    /// <summary>Never touch the network; serve everything from the cache (HF_HUB_OFFLINE=1). Default false.</summary>
    public bool Offline { get; init; }
    /// <summary>Timeout of the metadata (HEAD) request. Default 10 s (HF_HUB_ETAG_TIMEOUT).</summary>
    public TimeSpan MetadataTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Longest wait for the next bytes of a download before it counts as interrupted. Default 10 s (HF_HUB_DOWNLOAD_TIMEOUT).</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Tries per file: an interrupted transfer resumes with a Range request; a file failing verification
    /// is fetched again from scratch. Default 3.</summary>
    public int MaxAttempts { get; init; } = 3;
    /// <summary>Re-hash cached blobs against their etag on every load (slow for large files). Default false:
    /// cached files are checked by size against the hub's metadata when online.</summary>
    public bool VerifyCachedFiles { get; init; }

    /// <summary>Options from the process environment.</summary>
    public static HubOptions FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariables()
        .Cast<System.Collections.DictionaryEntry>().ToDictionary(e => (string)e.Key, e => (string?)e.Value));

    public static HubOptions FromEnvironment(IReadOnlyDictionary<string, string?> env)
    {
        string? Var(string name) => env.TryGetValue(name, out var v) && !string.IsNullOrWhiteSpace(v) ? v : null;
        string hfHome = HfHome(env);
        string? token = Var("HF_TOKEN") ?? Var("HUGGING_FACE_HUB_TOKEN");
        if (token is null)
        {
            string tokenPath = Var("HF_TOKEN_PATH") ?? Path.Combine(hfHome, "token");
            if (File.Exists(tokenPath)) token = File.ReadAllText(tokenPath).Trim() is { Length: > 0 } t ? t : null;
        }
        var o = new HubOptions
        {
            Endpoint = (Var("HF_ENDPOINT") ?? "https://huggingface.co").TrimEnd('/'),
            Token = token,
            CacheDir = DefaultCacheDir(env),
            Offline = IsTrue(Var("HF_HUB_OFFLINE")),
        };
        if (double.TryParse(Var("HF_HUB_ETAG_TIMEOUT"), System.Globalization.CultureInfo.InvariantCulture, out double etag))
            o = o with { MetadataTimeout = TimeSpan.FromSeconds(etag) };
        if (double.TryParse(Var("HF_HUB_DOWNLOAD_TIMEOUT"), System.Globalization.CultureInfo.InvariantCulture, out double dl))
            o = o with { ReadTimeout = TimeSpan.FromSeconds(dl) };
        return o;
    }

    /// <summary>HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.</summary>
    public static string DefaultCacheDir(IReadOnlyDictionary<string, string?> env)
    {
        if (env.TryGetValue("HF_HUB_CACHE", out var c) && !string.IsNullOrWhiteSpace(c)) return ExpandHome(c);
        if (env.TryGetValue("HUGGINGFACE_HUB_CACHE", out var legacy) && !string.IsNullOrWhiteSpace(legacy)) return ExpandHome(legacy);
        return Path.Combine(HfHome(env), "hub");
    }

    private static string HfHome(IReadOnlyDictionary<string, string?> env)
    {
        if (env.TryGetValue("HF_HOME", out var h) && !string.IsNullOrWhiteSpace(h)) return ExpandHome(h);
        string xdg = env.TryGetValue("XDG_CACHE_HOME", out var x) && !string.IsNullOrWhiteSpace(x)
            ? x : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(ExpandHome(xdg), "huggingface");
    }

    private static string ExpandHome(string p) =>
        p == "~" || p.StartsWith("~/", StringComparison.Ordinal)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), p.Length > 2 ? p[2..] : "")
            : p;

    // huggingface_hub's _is_true: "1", "ON", "YES", "TRUE" (case-insensitive).
    private static bool IsTrue(string? v) => v?.ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";
}
