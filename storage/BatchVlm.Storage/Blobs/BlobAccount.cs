// A blob service endpoint plus the credential to use with it, parsed from an Azure Storage connection string
// (https://learn.microsoft.com/azure/storage/common/storage-configure-connection-string): AccountName + AccountKey
// [+ BlobEndpoint | DefaultEndpointsProtocol + EndpointSuffix], SharedAccessSignature, or UseDevelopmentStorage=true
// (Azurite on its default port with the public well-known key). Errors never echo the connection string.
using Azure.Core;
using Azure.Identity;
using BatchVlm.Storage.Configuration;

namespace BatchVlm.Storage.Blobs;

/// <param name="Name">Storage account name (devstoreaccount1 for Azurite).</param>
/// <param name="BlobEndpoint">Blob service URL without a trailing '/', e.g. https://acct.blob.core.windows.net or the
/// path-style http://127.0.0.1:10009/devstoreaccount1.</param>
/// <param name="Credential">How requests are authorised.</param>
public sealed record BlobAccount(string Name, Uri BlobEndpoint, BlobCredential Credential)
{
    /// <summary>Azurite's fixed development account (used by UseDevelopmentStorage=true).</summary>
    public const string DevelopmentAccountName = "devstoreaccount1";

    // One DefaultAzureCredential per process: each instance keeps its own token cache, so a fresh one per store (or
    // per manifest line) would ask the identity source (managed identity endpoint, az CLI, ...) for a token every time.
    private static readonly Lazy<TokenCredential> s_defaultCredential = new(() => new DefaultAzureCredential());

    /// <summary>The process-wide DefaultAzureCredential used when no TokenCredential is given (thread-safe).</summary>
    public static TokenCredential DefaultTokenCredential => s_defaultCredential.Value;

    // Azurite's documented, public development key: not a secret (https://learn.microsoft.com/azure/storage/common/storage-use-azurite).
    private const string DevelopmentAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    /// <summary>Parse a connection string. Without AccountKey or SharedAccessSignature an https endpoint uses
    /// <paramref name="tokenCredential"/> (default: DefaultAzureCredential), an http one goes anonymous.</summary>
    /// <exception cref="FormatException">The connection string is malformed; the message names the problem, not the string.</exception>
    public static BlobAccount Parse(string connectionString, TokenCredential? tokenCredential = null)
    {
        var parts = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var raw in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = raw.IndexOf('=');
            if (eq <= 0)
                throw new FormatException($"Storage connection string: the part '{Secrets.Redact(raw)}' is not Name=value.");
            parts[raw[..eq].Trim()] = raw[(eq + 1)..].Trim();
        }

        if (parts.TryGetValue("UseDevelopmentStorage", out var dev) && dev.Equals("true", StringComparison.OrdinalIgnoreCase))
        {
            var proxy = parts.TryGetValue("DevelopmentStorageProxyUri", out var p) ? new Uri(p) : new Uri("http://127.0.0.1");
            var endpoint = new Uri($"{proxy.Scheme}://{proxy.Host}:10000/{DevelopmentAccountName}");
            return new BlobAccount(DevelopmentAccountName, endpoint, new SharedKeyCredential(DevelopmentAccountName, DevelopmentAccountKey));
        }

        parts.TryGetValue("AccountName", out var name);
        Uri blobEndpoint;
        if (parts.TryGetValue("BlobEndpoint", out var be))
        {
            if (!Uri.TryCreate(be.TrimEnd('/'), UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https"))
                throw new FormatException("Storage connection string: BlobEndpoint is not an http(s) URL.");
            blobEndpoint = parsed;
            name ??= AccountNameFromEndpoint(blobEndpoint);
        }
        else
        {
            if (string.IsNullOrEmpty(name))
                throw new FormatException("Storage connection string: it has neither AccountName nor BlobEndpoint.");
            var protocol = parts.TryGetValue("DefaultEndpointsProtocol", out var proto) ? proto.ToLowerInvariant() : "https";
            var suffix = parts.TryGetValue("EndpointSuffix", out var sfx) ? sfx : "core.windows.net";
            blobEndpoint = new Uri($"{protocol}://{name}.blob.{suffix}");
        }
        if (string.IsNullOrEmpty(name))
            throw new FormatException("Storage connection string: the account name cannot be found (give AccountName).");

        BlobCredential credential;
        if (parts.TryGetValue("AccountKey", out var key) && key.Length > 0)
            credential = new SharedKeyCredential(name, key);
        else if (parts.TryGetValue("SharedAccessSignature", out var sas) && sas.Length > 0)
            credential = new SasCredential(sas);
        else if (blobEndpoint.Scheme == Uri.UriSchemeHttps)
            credential = new TokenBlobCredential(tokenCredential ?? DefaultTokenCredential);
        else
            credential = AnonymousBlobCredential.Instance;
        return new BlobAccount(name, blobEndpoint, credential);
    }

    /// <summary>An account reached with an Azure AD token (production): https://{account}.blob.core.windows.net.</summary>
    public static BlobAccount FromAccountUrl(Uri accountUrl, TokenCredential? tokenCredential = null)
    {
        var endpoint = new Uri(accountUrl.GetLeftPart(UriPartial.Path).TrimEnd('/'));
        var name = AccountNameFromEndpoint(endpoint)
                   ?? throw new FormatException($"Cannot tell the storage account from '{Secrets.RedactUri(accountUrl)}'.");
        return new BlobAccount(name, endpoint, new TokenBlobCredential(tokenCredential ?? DefaultTokenCredential));
    }

    /// <summary>The account of a blob endpoint: the first host label (acct.blob.core.windows.net) or, for a path-style
    /// endpoint (an IP address or localhost, as Azurite uses), the first path segment.</summary>
    public static string? AccountNameFromEndpoint(Uri endpoint)
    {
        if (IsPathStyle(endpoint))
        {
            var first = endpoint.AbsolutePath.Trim('/').Split('/')[0];
            return first.Length > 0 ? first : null;
        }
        var label = endpoint.Host.Split('.')[0];
        return label.Length > 0 ? label : null;
    }

    /// <summary>Whether URLs of this host carry the account in the path (IP address or localhost: Azurite).</summary>
    public static bool IsPathStyle(Uri endpoint)
        => endpoint.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6
           || endpoint.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase);

    public override string ToString() => $"{Name} at {BlobEndpoint} ({Credential})";
}
