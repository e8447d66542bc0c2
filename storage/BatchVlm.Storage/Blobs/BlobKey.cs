// Validation of blob keys and prefixes: a key is a '/'-separated path relative to a store root (container + prefix
// or a folder). A key may never reach outside that root: no leading '/', no '\\', no '.' or '..' segments, no empty
// segments, no control characters, no URL scheme. Issue 2 item 9: "a manifest entry cannot reach outside its
// container or folder". Both stores call Validate on every key, so the rule holds for Azure and local alike.
namespace BatchVlm.Storage.Blobs;

public static class BlobKey
{
    /// <summary>Azure's limit on a blob name (1,024 characters).</summary>
    public const int MaxLength = 1024;

    /// <summary>Return <paramref name="key"/> unchanged when it is a valid key, else throw naming the key and the reason.</summary>
    /// <exception cref="ArgumentException">The key is empty or would reach outside the store root.</exception>
    public static string Validate(string key)
    {
        var reason = Problem(key, allowTrailingSlash: false, allowEmpty: false);
        if (reason is not null)
            throw new ArgumentException($"Invalid blob key '{Printable(key)}': {reason}.", nameof(key));
        return key;
    }

    /// <summary>Validate a listing prefix: like a key, but it may be empty and may end with '/'.</summary>
    public static string ValidatePrefix(string prefix)
    {
        var reason = Problem(prefix, allowTrailingSlash: true, allowEmpty: true);
        if (reason is not null)
            throw new ArgumentException($"Invalid blob prefix '{Printable(prefix)}': {reason}.", nameof(prefix));
        return prefix;
    }

    /// <summary>Why <paramref name="key"/> is not a valid key, or null when it is.</summary>
    public static string? Problem(string? key, bool allowTrailingSlash = false, bool allowEmpty = false)
    {
        if (string.IsNullOrEmpty(key))
            return allowEmpty ? null : "it is empty";
        if (key.Length > MaxLength)
            return $"it is longer than {MaxLength} characters";
        if (string.IsNullOrWhiteSpace(key))
            return "it is blank";
        if (key[0] == '/')
            return "it is an absolute path (starts with '/')";
        if (key.Contains('\\'))
            return "it contains '\\' (keys use '/' only; a Windows path cannot be a key)";
        if (key.Length >= 2 && key[1] == ':' && char.IsAsciiLetter(key[0]))
            return "it is an absolute Windows path";
        if (key.Contains("://", StringComparison.Ordinal))
            return "it is a URL, not a key relative to the container or folder";
        foreach (var c in key)
        {
            if (char.IsControl(c))
                return "it contains a control character";
        }
        var body = allowTrailingSlash && key.EndsWith('/') ? key[..^1] : key;
        if (body.Length == 0)
            return allowEmpty ? null : "it is empty";
        foreach (var segment in body.Split('/'))
        {
            if (segment.Length == 0)
                return key.EndsWith('/') && !allowTrailingSlash ? "it ends with '/' (a folder, not a blob)" : "it has an empty path segment ('//')";
            if (segment == "..")
                return "it contains a '..' segment, which would leave the container or folder";
            if (segment == ".")
                return "it contains a '.' segment";
        }
        return null;
    }

    /// <summary>Join a root prefix and a relative key or prefix ("a/b" + "c.jpg" = "a/b/c.jpg").</summary>
    public static string Combine(string root, string relative)
    {
        if (root.Length == 0)
            return relative;
        if (relative.Length == 0)
            return root.EndsWith('/') ? root : root + "/";
        return root.EndsWith('/') ? root + relative : root + "/" + relative;
    }

    private static string Printable(string? key)
    {
        if (key is null)
            return "(null)";
        var shown = key.Length > 200 ? key[..200] + "…" : key;
        return new string(shown.Select(c => char.IsControl(c) ? '?' : c).ToArray());
    }
}
