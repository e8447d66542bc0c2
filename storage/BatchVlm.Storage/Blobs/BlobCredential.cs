// How a request to Azure Blob storage is authorised. Four kinds, one small abstract class:
//  - SharedKeyCredential: HMAC-SHA256 "SharedKey" signature of each request with the account key
//    (https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key, version >= 2015-02-21 rules;
//    verified against Azurite in shared/research/infra-probe.md §3), and service SAS generation;
//  - SasCredential: a SAS query appended to every request, nothing signed;
//  - TokenBlobCredential: an Azure AD bearer token from an Azure.Identity TokenCredential (DefaultAzureCredential
//    in production), cached until five minutes before it expires;
//  - AnonymousBlobCredential: public containers.
// None of them ever prints its secret: ToString names the kind only.
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Azure.Core;
using BatchVlm.Storage.Configuration;

namespace BatchVlm.Storage.Blobs;

public abstract class BlobCredential
{
    /// <summary>Add what authorises <paramref name="request"/> (a header or query), just before it is sent.</summary>
    public abstract ValueTask AuthorizeAsync(HttpRequestMessage request, CancellationToken ct);

    /// <summary>Short description for logs, never containing the secret.</summary>
    public abstract override string ToString();
}

/// <summary>Shared Key authorisation with an account name and its base64 key.</summary>
public sealed class SharedKeyCredential : BlobCredential
{
    private readonly byte[] _key;

    public SharedKeyCredential(string accountName, string base64Key)
    {
        if (string.IsNullOrWhiteSpace(accountName))
            throw new ArgumentException("The storage account name is empty.", nameof(accountName));
        AccountName = accountName;
        try
        {
            _key = Convert.FromBase64String(base64Key);
        }
        catch (FormatException)
        {
            throw new ArgumentException($"The account key of storage account '{accountName}' is not valid base64.", nameof(base64Key));
        }
        Secrets.Register(base64Key);
    }

    public string AccountName { get; }

    public override ValueTask AuthorizeAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var signature = Sign(StringToSign(request, AccountName));
        request.Headers.TryAddWithoutValidation("Authorization", $"SharedKey {AccountName}:{signature}");
        return ValueTask.CompletedTask;
    }

    /// <summary>Base64 HMAC-SHA256 of <paramref name="stringToSign"/> with the account key.</summary>
    public string Sign(string stringToSign) => Convert.ToBase64String(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(stringToSign)));

    /// <summary>The Shared Key string-to-sign of a request (x-ms-date must already be set). The canonicalized resource
    /// is "/" + account + the request's encoded path, so a path-style URL (Azurite: /account/container/blob) yields
    /// the account twice, as the service expects.</summary>
    public static string StringToSign(HttpRequestMessage request, string accountName)
    {
        var content = request.Content?.Headers;
        var length = content?.ContentLength is { } n and > 0 ? n.ToString(CultureInfo.InvariantCulture) : "";
        var sb = new StringBuilder(256);
        sb.Append(request.Method.Method.ToUpperInvariant()).Append('\n');
        sb.Append(Join(content?.ContentEncoding)).Append('\n');
        sb.Append(Join(content?.ContentLanguage)).Append('\n');
        sb.Append(length).Append('\n');
        sb.Append(content?.ContentMD5 is { } md5 ? Convert.ToBase64String(md5) : "").Append('\n');
        sb.Append(content?.ContentType?.ToString() ?? "").Append('\n');
        sb.Append('\n'); // Date: empty, x-ms-date is used
        sb.Append(Header(request, "If-Modified-Since")).Append('\n');
        sb.Append(Header(request, "If-Match")).Append('\n');
        sb.Append(Header(request, "If-None-Match")).Append('\n');
        sb.Append(Header(request, "If-Unmodified-Since")).Append('\n');
        sb.Append(Header(request, "Range")).Append('\n');

        foreach (var (name, value) in request.Headers
                     .Where(h => h.Key.StartsWith("x-ms-", StringComparison.OrdinalIgnoreCase))
                     .Select(h => (Name: h.Key.ToLowerInvariant(), Value: string.Join(",", h.Value).Trim()))
                     .OrderBy(h => h.Name, StringComparer.Ordinal))
            sb.Append(name).Append(':').Append(value).Append('\n');

        var uri = request.RequestUri ?? throw new InvalidOperationException("Request without a URI.");
        sb.Append('/').Append(accountName).Append(uri.AbsolutePath);
        var query = ParseQuery(uri.Query);
        foreach (var (name, values) in query.OrderBy(q => q.Key, StringComparer.Ordinal))
            sb.Append('\n').Append(name).Append(':').Append(string.Join(",", values));
        return sb.ToString();
    }

    private static string Join(ICollection<string>? values) => values is { Count: > 0 } ? string.Join(",", values) : "";

    private static string Header(HttpRequestMessage request, string name)
        => request.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : "";

    /// <summary>Query parameters with lowercase names and URL-decoded values, multiple values kept in order.</summary>
    internal static Dictionary<string, List<string>> ParseQuery(string query)
    {
        var result = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var part in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            var name = Uri.UnescapeDataString(eq < 0 ? part : part[..eq]).ToLowerInvariant();
            var value = eq < 0 ? "" : Uri.UnescapeDataString(part[(eq + 1)..].Replace('+', ' '));
            if (!result.TryGetValue(name, out var list))
                result[name] = list = [];
            list.Add(value);
        }
        return result;
    }

    public override string ToString() => $"SharedKey({AccountName})";
}

/// <summary>A shared access signature (the query string of a SAS URL, without '?').</summary>
public sealed class SasCredential : BlobCredential
{
    private readonly string _sas;

    public SasCredential(string sas)
    {
        _sas = sas.TrimStart('?');
        if (_sas.Length == 0)
            throw new ArgumentException("The shared access signature is empty.", nameof(sas));
        Secrets.Register(_sas);
        foreach (var (name, values) in SharedKeyCredential.ParseQuery(_sas))
        {
            if (name == "sig")
                values.ForEach(Secrets.Register);
        }
    }

    public override ValueTask AuthorizeAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var uri = request.RequestUri ?? throw new InvalidOperationException("Request without a URI.");
        var builder = new UriBuilder(uri);
        builder.Query = string.IsNullOrEmpty(builder.Query) || builder.Query == "?" ? _sas : builder.Query.TrimStart('?') + "&" + _sas;
        request.RequestUri = builder.Uri;
        return ValueTask.CompletedTask;
    }

    public override string ToString() => "SAS";
}

/// <summary>Azure AD bearer tokens for https://storage.azure.com from an Azure.Identity credential.</summary>
public sealed class TokenBlobCredential(TokenCredential credential) : BlobCredential
{
    /// <summary>The OAuth scope of Azure Storage.</summary>
    public const string Scope = "https://storage.azure.com/.default";

    private readonly SemaphoreSlim _lock = new(1, 1);
    private AccessToken _token;

    public override async ValueTask AuthorizeAsync(HttpRequestMessage request, CancellationToken ct)
    {
        if (request.RequestUri?.Scheme != Uri.UriSchemeHttps)
            throw new InvalidOperationException("Bearer tokens are only sent over https.");
        var token = _token;
        if (token.Token is null || token.ExpiresOn <= DateTimeOffset.UtcNow.AddMinutes(5))
        {
            await _lock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (_token.Token is null || _token.ExpiresOn <= DateTimeOffset.UtcNow.AddMinutes(5))
                {
                    _token = await credential.GetTokenAsync(new TokenRequestContext([Scope]), ct).ConfigureAwait(false);
                    Secrets.Register(_token.Token);
                }
                token = _token;
            }
            finally
            {
                _lock.Release();
            }
        }
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.Token);
    }

    public override string ToString() => $"Bearer({credential.GetType().Name})";
}

/// <summary>No authorisation (public-read containers).</summary>
public sealed class AnonymousBlobCredential : BlobCredential
{
    public static readonly AnonymousBlobCredential Instance = new();

    public override ValueTask AuthorizeAsync(HttpRequestMessage request, CancellationToken ct) => ValueTask.CompletedTask;

    public override string ToString() => "Anonymous";
}
