// Our own Azure Blob storage REST client (the Azure.Storage.Blobs package cannot be restored here; see
// shared/research/infra-probe.md §4). Block blobs only, the operations the fleet needs:
//   Create Container (409 = already there), Put Blob, Put Block + Put Block List above a size threshold,
//   Get Blob (streaming, ranges via x-ms-range), List Blobs by prefix following NextMarker, Get Blob Properties (HEAD),
//   conditional create (If-None-Match: *), Delete Blob, and service SAS generation with the account key.
// REST reference: https://learn.microsoft.com/rest/api/storageservices/blob-service-rest-api (x-ms-version 2025-01-05).
// Every request goes through BlobResilience's Polly pipeline; a transient failure is retried, a permanent one throws
// a BlobStorageException naming the operation, key and x-ms-error-code (never the key, SAS or token).
using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using System.Xml;
using BatchVlm.Storage.Configuration;
using BatchVlm.Storage.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Timeout;

namespace BatchVlm.Storage.Blobs;

public sealed class AzureBlobStore : IBlobStore
{
    private static readonly ConcurrentDictionary<int, HttpClient> s_clients = new();
    private static readonly UriCreationOptions s_exactUri = new() { DangerousDisablePathAndQueryCanonicalization = true };

    private readonly BlobAccount _account;
    private readonly BlobStorageOptions _options;
    private readonly HttpClient _http;
    private readonly ResiliencePipeline _pipeline;
    private readonly ILogger _logger;
    private readonly string _containerUrl;

    /// <param name="account">Endpoint and credential (see <see cref="BlobAccount.Parse"/>).</param>
    /// <param name="container">Container name (3-63 lowercase letters, digits and single hyphens).</param>
    /// <param name="rootPrefix">Optional folder inside the container that keys are relative to ("images/cats").</param>
    /// <param name="options">Tuning; defaults documented in <see cref="BlobStorageOptions"/>.</param>
    /// <param name="httpClient">Optional client (tests); by default one pooled client per process is shared.</param>
    public AzureBlobStore(BlobAccount account, string container, string rootPrefix = "", BlobStorageOptions? options = null,
        HttpClient? httpClient = null, ILogger? logger = null)
    {
        ValidateContainerName(container);
        _account = account;
        Container = container;
        RootPrefix = NormalizeRoot(rootPrefix);
        _options = options ?? new BlobStorageOptions();
        if (_options.BlockSize <= 0 || _options.SingleUploadThreshold < 0 || _options.MaxParallelBlockUploads <= 0)
            throw new ArgumentException("BlobStorageOptions: BlockSize and MaxParallelBlockUploads must be positive, SingleUploadThreshold non-negative.");
        _logger = logger ?? NullLogger.Instance;
        _http = httpClient ?? s_clients.GetOrAdd(_options.MaxConnectionsPerServer, CreateClient);
        _pipeline = BlobResilience.CreatePipeline(_options.Retry, _logger);
        _containerUrl = account.BlobEndpoint.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/" + container;
    }

    /// <summary>A store for <paramref name="container"/> in the account of an Azure Storage connection string.</summary>
    public static AzureBlobStore FromConnectionString(string connectionString, string container, string rootPrefix = "",
        BlobStorageOptions? options = null, ILogger? logger = null)
        => new(BlobAccount.Parse(connectionString), container, rootPrefix, options, logger: logger);

    public BlobAccount Account => _account;
    public string Container { get; }

    /// <summary>Folder inside the container that keys are relative to: "" or ending with '/'.</summary>
    public string RootPrefix { get; }

    /// <summary>The root's URL without any credential, path-escaped so that BlobStores.Open(Describe()) opens this
    /// same root again (coordinator and worker pass it around), e.g. http://127.0.0.1:10009/devstoreaccount1/images/.</summary>
    public string Describe() => $"{_containerUrl}/{EscapePath(RootPrefix)}";

    /// <summary>URL of a blob, without any credential.</summary>
    public Uri GetBlobUri(string key) => BlobUri(FullName(key));

    // ----------------------------------------------------------------------------------------------------------
    // Container

    public Task EnsureContainerAsync(CancellationToken ct = default)
    {
        // A container SAS cannot create its container: check that it can list it instead.
        if (_account.Credential is SasCredential)
            return ExecuteAsync("List Blobs", null, async token =>
            {
                using var response = await SendAsync(HttpMethod.Get, MakeUri($"{_containerUrl}?restype=container&comp=list&maxresults=1"), null, null,
                    HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                    throw await ErrorAsync(response, "List Blobs", null, token).ConfigureAwait(false);
                return true;
            }, ct);

        return ExecuteAsync("Create Container", null, async token =>
        {
            using var response = await SendAsync(HttpMethod.Put, MakeUri($"{_containerUrl}?restype=container"), null, null,
                HttpCompletionOption.ResponseContentRead, token).ConfigureAwait(false);
            if (response.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict && ErrorCode(response) is null or "ContainerAlreadyExists")
                return true;
            throw await ErrorAsync(response, "Create Container", null, token).ConfigureAwait(false);
        }, ct);
    }

    /// <summary>Delete the container and everything in it; false when it did not exist. (Not part of IBlobStore:
    /// tests and tools clean up with it; the fleet never deletes containers.)</summary>
    public Task<bool> DeleteContainerAsync(CancellationToken ct = default)
        => ExecuteAsync("Delete Container", null, async token =>
        {
            using var response = await SendAsync(HttpMethod.Delete, MakeUri($"{_containerUrl}?restype=container"), null, null,
                HttpCompletionOption.ResponseContentRead, token).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound)
                return false;
            if (!response.IsSuccessStatusCode)
                throw await ErrorAsync(response, "Delete Container", null, token).ConfigureAwait(false);
            return true;
        }, ct);

    // ----------------------------------------------------------------------------------------------------------
    // List

    public async IAsyncEnumerable<BlobItem> ListAsync(string prefix = "", [EnumeratorCancellation] CancellationToken ct = default)
    {
        BlobKey.ValidatePrefix(prefix);
        var fullPrefix = RootPrefix + prefix;
        string? marker = null;
        do
        {
            var url = new StringBuilder(_containerUrl).Append("?restype=container&comp=list");
            if (fullPrefix.Length > 0)
                url.Append("&prefix=").Append(Uri.EscapeDataString(fullPrefix));
            if (!string.IsNullOrEmpty(marker))
                url.Append("&marker=").Append(Uri.EscapeDataString(marker));
            if (_options.ListPageSize is { } pageSize)
                url.Append("&maxresults=").Append(pageSize.ToString(CultureInfo.InvariantCulture));
            var uri = MakeUri(url.ToString());

            var page = await ExecuteAsync("List Blobs", prefix, async token =>
            {
                using var response = await SendAsync(HttpMethod.Get, uri, null, null, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                    throw await ErrorAsync(response, "List Blobs", prefix, token).ConfigureAwait(false);
                await using var body = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
                return await ParseListPageAsync(body, token).ConfigureAwait(false);
            }, ct).ConfigureAwait(false);

            foreach (var item in page.Items)
            {
                // Zero-length names ending in '/' are "folder markers" written by tools such as Storage Explorer or
                // Hadoop's ABFS driver; they are not content and could not be items (a key cannot end with '/').
                if (item.Size == 0 && item.Key.EndsWith('/'))
                    continue;
                if (!item.Key.StartsWith(RootPrefix, StringComparison.Ordinal))
                    continue;
                yield return item with { Key = item.Key[RootPrefix.Length..] };
            }
            marker = page.NextMarker;
        } while (!string.IsNullOrEmpty(marker));
    }

    private sealed record ListPage(List<BlobItem> Items, string? NextMarker);

    private static async Task<ListPage> ParseListPageAsync(Stream body, CancellationToken ct)
    {
        // <EnumerationResults><Blobs><Blob><Name/><Properties><Last-Modified/><Etag/><Content-Length/></Properties></Blob>...
        // </Blobs><NextMarker/></EnumerationResults>
        var items = new List<BlobItem>();
        string? nextMarker = null;
        using var reader = XmlReader.Create(body, new XmlReaderSettings { Async = true, IgnoreWhitespace = true, DtdProcessing = DtdProcessing.Prohibit });
        string? name = null, etag = null;
        long size = 0;
        DateTimeOffset? modified = null;
        var inBlob = false;
        // ReadElementContentAs* already moves the reader past the element: those cases `continue` without a Read.
        while (!reader.EOF)
        {
            ct.ThrowIfCancellationRequested();
            if (reader.NodeType == XmlNodeType.Element)
            {
                switch (reader.LocalName)
                {
                    case "Blob":
                        inBlob = true;
                        name = etag = null;
                        size = 0;
                        modified = null;
                        break;
                    case "Name" when inBlob:
                        name = await reader.ReadElementContentAsStringAsync().ConfigureAwait(false);
                        continue;
                    case "Content-Length" when inBlob:
                        size = long.Parse(await reader.ReadElementContentAsStringAsync().ConfigureAwait(false), CultureInfo.InvariantCulture);
                        continue;
                    case "Etag" when inBlob:
                        etag = await reader.ReadElementContentAsStringAsync().ConfigureAwait(false);
                        continue;
                    case "Last-Modified" when inBlob:
                        modified = DateTimeOffset.TryParse(await reader.ReadElementContentAsStringAsync().ConfigureAwait(false),
                            CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var lm) ? lm : null;
                        continue;
                    case "NextMarker":
                        nextMarker = await reader.ReadElementContentAsStringAsync().ConfigureAwait(false);
                        continue;
                }
            }
            else if (reader.NodeType == XmlNodeType.EndElement && reader.LocalName == "Blob")
            {
                inBlob = false;
                if (name is not null)
                    items.Add(new BlobItem(name, size, etag is null ? null : Quote(etag), modified));
            }
            await reader.ReadAsync().ConfigureAwait(false);
        }
        return new ListPage(items, string.IsNullOrEmpty(nextMarker) ? null : nextMarker);
    }

    // ----------------------------------------------------------------------------------------------------------
    // Read

    public Task<byte[]> ReadAllBytesAsync(string key, CancellationToken ct = default)
    {
        var uri = BlobUri(FullName(key));
        return ExecuteAsync("Get Blob", key, async token =>
        {
            using var response = await SendAsync(HttpMethod.Get, uri, null, null, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                throw await ErrorAsync(response, "Get Blob", key, token).ConfigureAwait(false);
            return await response.Content.ReadAsByteArrayAsync(token).ConfigureAwait(false);
        }, ct);
    }

    /// <summary>Stream a blob or a range of it. The request is retried until the response starts; a failure while the
    /// body streams surfaces as an IOException from Read (the caller re-opens at its position). A range starting at or
    /// beyond the end yields an empty stream.</summary>
    public async Task<Stream> OpenReadAsync(string key, long offset = 0, long? length = null, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (length is < 0)
            throw new ArgumentOutOfRangeException(nameof(length), "The length of a range cannot be negative.");
        var uri = BlobUri(FullName(key));
        if (length == 0)
        {
            _ = await GetPropertiesAsync(key, ct).ConfigureAwait(false) ?? throw new BlobNotFoundException(key, Describe());
            return new MemoryStream([], writable: false);
        }
        string? range = offset == 0 && length is null ? null
            : length is { } n ? $"bytes={offset}-{offset + n - 1}" : $"bytes={offset}-";

        return await ExecuteAsync<Stream>("Get Blob", key, async token =>
        {
            var response = await SendAsync(HttpMethod.Get, uri, r =>
            {
                if (range is not null)
                    r.Headers.TryAddWithoutValidation("x-ms-range", range);
            }, null, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
            try
            {
                if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
                {
                    response.Dispose();
                    return new MemoryStream([], writable: false);
                }
                if (!response.IsSuccessStatusCode)
                    throw await ErrorAsync(response, "Get Blob", key, token).ConfigureAwait(false);
                var body = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
                return new ResponseStream(response, body);
            }
            catch
            {
                response.Dispose();
                throw;
            }
        }, ct).ConfigureAwait(false);
    }

    // ----------------------------------------------------------------------------------------------------------
    // Properties, delete

    public Task<BlobProperties?> GetPropertiesAsync(string key, CancellationToken ct = default)
    {
        var uri = BlobUri(FullName(key));
        return ExecuteAsync("Get Blob Properties", key, async token =>
        {
            using var response = await SendAsync(HttpMethod.Head, uri, null, null, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound && ErrorCode(response) is null or "BlobNotFound")
                return null;
            if (!response.IsSuccessStatusCode)
                throw await ErrorAsync(response, "Get Blob Properties", key, token).ConfigureAwait(false);
            var headers = response.Content.Headers;
            return new BlobProperties(headers.ContentLength ?? 0, response.Headers.ETag?.ToString(),
                headers.ContentType?.ToString(), headers.LastModified);
        }, ct);
    }

    public Task<bool> DeleteAsync(string key, CancellationToken ct = default)
    {
        var uri = BlobUri(FullName(key));
        return ExecuteAsync("Delete Blob", key, async token =>
        {
            using var response = await SendAsync(HttpMethod.Delete, uri, null, null, HttpCompletionOption.ResponseContentRead, token).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound && ErrorCode(response) is null or "BlobNotFound")
                return false;
            if (!response.IsSuccessStatusCode)
                throw await ErrorAsync(response, "Delete Blob", key, token).ConfigureAwait(false);
            return true;
        }, ct);
    }

    // ----------------------------------------------------------------------------------------------------------
    // Write

    public async Task<bool> WriteAsync(string key, Stream content, string? contentType = null, bool ifNotExists = false, CancellationToken ct = default)
    {
        var name = FullName(key);
        contentType ??= "application/octet-stream";
        var threshold = _options.SingleUploadThreshold;

        if (content.CanSeek)
        {
            var remaining = content.Length - content.Position;
            if (remaining <= threshold)
            {
                var bytes = new byte[remaining];
                await content.ReadExactlyAsync(bytes, ct).ConfigureAwait(false);
                return await PutBlobAsync(key, name, bytes, bytes.Length, contentType, ifNotExists, ct).ConfigureAwait(false);
            }
            return await PutBlocksAsync(key, name, content, [], 0, contentType, ifNotExists, ct).ConfigureAwait(false);
        }

        // Unknown length: read up to threshold + 1 bytes to decide between one Put Blob and a block upload.
        var head = ArrayPool<byte>.Shared.Rent((int)Math.Min(threshold + 1, Array.MaxLength));
        try
        {
            var n = await content.ReadAtLeastAsync(head.AsMemory(0, (int)Math.Min(threshold + 1, head.Length)), (int)Math.Min(threshold + 1, head.Length),
                throwOnEndOfStream: false, ct).ConfigureAwait(false);
            if (n <= threshold)
                return await PutBlobAsync(key, name, head, n, contentType, ifNotExists, ct).ConfigureAwait(false);
            return await PutBlocksAsync(key, name, content, head, n, contentType, ifNotExists, ct).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(head);
        }
    }

    private Task<bool> PutBlobAsync(string key, string name, byte[] buffer, int count, string contentType, bool ifNotExists, CancellationToken ct)
    {
        var uri = BlobUri(name);
        return ExecuteAsync("Put Blob", key, async token =>
        {
            using var response = await SendAsync(HttpMethod.Put, uri, r =>
            {
                r.Headers.TryAddWithoutValidation("x-ms-blob-type", "BlockBlob");
                if (ifNotExists)
                    r.Headers.TryAddWithoutValidation("If-None-Match", "*");
            }, () => Content(buffer, count, contentType), HttpCompletionOption.ResponseContentRead, token).ConfigureAwait(false);
            if (ifNotExists && IsAlreadyExists(response))
                return false;
            if (!response.IsSuccessStatusCode)
                throw await ErrorAsync(response, "Put Blob", key, token).ConfigureAwait(false);
            return true;
        }, ct);
    }

    private async Task<bool> PutBlocksAsync(string key, string name, Stream content, byte[] head, int headCount, string contentType,
        bool ifNotExists, CancellationToken ct)
    {
        // Uploading gigabytes only to find the blob exists is waste: look first. The commit below is still
        // conditional, so a writer that wins the race in between is never overwritten.
        if (ifNotExists && await GetPropertiesAsync(key, ct).ConfigureAwait(false) is not null)
            return false;

        const int maxBlocks = 50_000;
        var uploadId = Guid.NewGuid().ToString("N")[..12];
        var blockIds = new List<string>();
        var uri = BlobUri(name);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var slots = new SemaphoreSlim(_options.MaxParallelBlockUploads);
        var uploads = new List<Task>();
        var headOffset = 0;
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(_options.BlockSize);
                var filled = 0;
                var fromHead = Math.Min(headCount - headOffset, _options.BlockSize);
                if (fromHead > 0)
                {
                    Buffer.BlockCopy(head, headOffset, buffer, 0, fromHead);
                    headOffset += fromHead;
                    filled = fromHead;
                }
                if (filled < _options.BlockSize)
                    filled += await content.ReadAtLeastAsync(buffer.AsMemory(filled, _options.BlockSize - filled), _options.BlockSize - filled,
                        throwOnEndOfStream: false, failed.Token).ConfigureAwait(false);
                if (filled == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    break;
                }
                if (blockIds.Count == maxBlocks)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    throw new BlobStorageException($"Put Block '{key}' in {Describe()}: the content needs more than {maxBlocks} blocks of "
                        + $"{_options.BlockSize} bytes; raise Storage:BlockSize.", key);
                }
                var blockId = Convert.ToBase64String(Encoding.ASCII.GetBytes($"{uploadId}-{blockIds.Count:D6}"));
                blockIds.Add(blockId);
                await slots.WaitAsync(failed.Token).ConfigureAwait(false);
                var count = filled;
                uploads.Add(Task.Run(async () =>
                {
                    try
                    {
                        await PutBlockAsync(key, uri, blockId, buffer, count, failed.Token).ConfigureAwait(false);
                    }
                    catch
                    {
                        await failed.CancelAsync().ConfigureAwait(false);
                        throw;
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        slots.Release();
                    }
                }, CancellationToken.None));
                uploads.RemoveAll(t => t.IsCompletedSuccessfully);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // A block failed and cancelled the reader: the block's own exception is the one to report (below).
        }
        await Task.WhenAll(uploads).ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();

        var body = new StringBuilder("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        foreach (var id in blockIds)
            body.Append("<Latest>").Append(id).Append("</Latest>");
        var xml = Encoding.UTF8.GetBytes(body.Append("</BlockList>").ToString());

        return await ExecuteAsync("Put Block List", key, async token =>
        {
            using var response = await SendAsync(HttpMethod.Put, MakeUri(uri + "?comp=blocklist"), r =>
            {
                r.Headers.TryAddWithoutValidation("x-ms-blob-content-type", contentType);
                if (ifNotExists)
                    r.Headers.TryAddWithoutValidation("If-None-Match", "*");
            }, () => Content(xml, xml.Length, "application/xml"), HttpCompletionOption.ResponseContentRead, token).ConfigureAwait(false);
            if (ifNotExists && IsAlreadyExists(response))
                return false;
            if (!response.IsSuccessStatusCode)
                throw await ErrorAsync(response, "Put Block List", key, token).ConfigureAwait(false);
            return true;
        }, ct).ConfigureAwait(false);
    }

    private Task PutBlockAsync(string key, Uri blobUri, string blockId, byte[] buffer, int count, CancellationToken ct)
    {
        var uri = MakeUri($"{blobUri}?comp=block&blockid={Uri.EscapeDataString(blockId)}");
        return ExecuteAsync("Put Block", key, async token =>
        {
            using var response = await SendAsync(HttpMethod.Put, uri, null, () => Content(buffer, count, null),
                HttpCompletionOption.ResponseContentRead, token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                throw await ErrorAsync(response, "Put Block", key, token).ConfigureAwait(false);
            return true;
        }, ct);
    }

    private static bool IsAlreadyExists(HttpResponseMessage response)
        => response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.PreconditionFailed
           && ErrorCode(response) is null or "BlobAlreadyExists" or "ConditionNotMet";

    private static ByteArrayContent Content(byte[] buffer, int count, string? contentType)
    {
        var content = new ByteArrayContent(buffer, 0, count);
        if (contentType is not null)
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return content;
    }

    // ----------------------------------------------------------------------------------------------------------
    // SAS

    /// <summary>A service SAS URL for the container (or one blob when <paramref name="key"/> is given), signed with the
    /// account key. Permissions are any of r(ead) a(dd) c(reate) w(rite) d(elete) l(ist). The URL of a container SAS
    /// points at this store's root prefix, so it can be used directly as an input address.</summary>
    /// <exception cref="InvalidOperationException">The store has no account key (SAS or token credential).</exception>
    public Uri CreateSasUri(string permissions, DateTimeOffset expiresOn, string? key = null)
    {
        if (_account.Credential is not SharedKeyCredential sharedKey)
            throw new InvalidOperationException($"Creating a SAS needs the account key; {Describe()} uses {_account.Credential}.");
        const string order = "racwdl";
        foreach (var c in permissions)
        {
            if (!order.Contains(c))
                throw new ArgumentException($"Unknown SAS permission '{c}' (use any of {order}).", nameof(permissions));
        }
        var sp = new string(order.Where(permissions.Contains).ToArray());
        var se = expiresOn.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        var blobName = key is null ? null : FullName(key);
        var sr = blobName is null ? "c" : "b";
        var sv = _options.ApiVersion;
        var resource = $"/blob/{_account.Name}/{Container}" + (blobName is null ? "" : "/" + blobName);
        // Service SAS string-to-sign, version 2020-12-06 and later:
        // sp, st, se, canonicalizedResource, si, sip, spr, sv, sr, snapshot time, ses, rscc, rscd, rsce, rscl, rsct.
        var stringToSign = string.Join("\n", sp, "", se, resource, "", "", "", sv, sr, "", "", "", "", "", "", "");
        var sig = sharedKey.Sign(stringToSign);
        var query = $"sv={Uri.EscapeDataString(sv)}&se={Uri.EscapeDataString(se)}&sr={sr}&sp={sp}&sig={Uri.EscapeDataString(sig)}";
        var baseUrl = blobName is null ? $"{_containerUrl}/{EscapePath(RootPrefix)}" : BlobUri(blobName).ToString();
        return MakeUri(baseUrl + "?" + query);
    }

    // ----------------------------------------------------------------------------------------------------------
    // HTTP plumbing

    private async Task<T> ExecuteAsync<T>(string operation, string? key, Func<CancellationToken, Task<T>> attempt, CancellationToken ct)
    {
        try
        {
            return await _pipeline.ExecuteAsync(static async (a, token) => await a(token).ConfigureAwait(false), attempt, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TimeoutRejectedException && !ct.IsCancellationRequested)
        {
            var what = key is null ? operation : $"{operation} '{key}'";
            throw new BlobStorageException($"{what} in {Describe()} failed after {_options.Retry.MaxRetries + 1} attempts: "
                + Secrets.Redact(e.Message), key, isTransient: true, inner: e);
        }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri uri, Action<HttpRequestMessage>? configure,
        Func<HttpContent>? content, HttpCompletionOption completion, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, uri) { Content = content?.Invoke() };
        request.Headers.TryAddWithoutValidation("x-ms-version", _options.ApiVersion);
        request.Headers.TryAddWithoutValidation("x-ms-date", DateTimeOffset.UtcNow.ToString("R", CultureInfo.InvariantCulture));
        configure?.Invoke(request);
        await _account.Credential.AuthorizeAsync(request, ct).ConfigureAwait(false);
        return await _http.SendAsync(request, completion, ct).ConfigureAwait(false);
    }

    private static string? ErrorCode(HttpResponseMessage response)
        => response.Headers.TryGetValues("x-ms-error-code", out var v) ? v.FirstOrDefault() : null;

    private async Task<BlobStorageException> ErrorAsync(HttpResponseMessage response, string operation, string? key, CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        var code = ErrorCode(response);
        string? message = null;
        if (response.RequestMessage?.Method != HttpMethod.Head)
        {
            try
            {
                var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                message = ParseErrorBody(body, ref code);
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                // The error body is a courtesy; the status and code are enough.
            }
        }
        if (status == 404 && key is not null && code is null or "BlobNotFound" && operation is "Get Blob")
            return new BlobNotFoundException(key, Describe());
        var transient = BlobResilience.IsTransientStatus(status);
        var what = key is null ? operation : $"{operation} '{key}'";
        var text = $"{what} in {Describe()} failed: {status} {code ?? response.ReasonPhrase}" + (message is null ? "" : $" ({message})");
        return new BlobStorageException(Secrets.Redact(text), key, status, code, transient,
            BlobResilience.ParseRetryAfter(response.Headers.RetryAfter, DateTimeOffset.UtcNow));
    }

    private static string? ParseErrorBody(string body, ref string? code)
    {
        // <Error><Code>AuthorizationFailure</Code><Message>...\nRequestId:...\nTime:...</Message></Error>
        if (string.IsNullOrWhiteSpace(body) || !body.Contains("<Error", StringComparison.Ordinal))
            return null;
        try
        {
            var doc = new XmlDocument { XmlResolver = null };
            doc.LoadXml(body.TrimStart('\uFEFF'));
            code ??= doc.SelectSingleNode("/Error/Code")?.InnerText;
            var message = doc.SelectSingleNode("/Error/Message")?.InnerText;
            return message?.Split('\n', 2)[0].Trim();
        }
        catch (XmlException)
        {
            return null;
        }
    }

    private string FullName(string key) => RootPrefix + BlobKey.Validate(key);

    private Uri BlobUri(string fullName) => MakeUri($"{_containerUrl}/{EscapePath(fullName)}");

    private static string EscapePath(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));

    private static Uri MakeUri(string url) => new(url, in s_exactUri);

    private static string Quote(string etag) => etag.StartsWith('"') ? etag : $"\"{etag}\"";

    private static string NormalizeRoot(string rootPrefix)
    {
        if (string.IsNullOrEmpty(rootPrefix))
            return "";
        BlobKey.ValidatePrefix(rootPrefix);
        return rootPrefix.EndsWith('/') ? rootPrefix : rootPrefix + "/";
    }

    /// <summary>Azure container naming rules: 3-63 characters, lowercase letters, digits and single hyphens, starting
    /// and ending with a letter or digit ($root is also allowed).</summary>
    public static void ValidateContainerName(string container)
    {
        if (container == "$root")
            return;
        var ok = container.Length is >= 3 and <= 63
                 && container.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')
                 && container[0] != '-' && container[^1] != '-' && !container.Contains("--", StringComparison.Ordinal);
        if (!ok)
            throw new ArgumentException($"Invalid container name '{container}': use 3-63 lowercase letters, digits and single hyphens.", nameof(container));
    }

    private static HttpClient CreateClient(int maxConnectionsPerServer)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            MaxConnectionsPerServer = maxConnectionsPerServer,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(15),
        };
        // Timeouts are per attempt in the Polly pipeline; streamed bodies must not be cut by HttpClient.Timeout.
        return new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>A response body that disposes its response when disposed.</summary>
    private sealed class ResponseStream(HttpResponseMessage response, Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => response.Content.Headers.ContentLength ?? throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => inner.ReadAsync(buffer, offset, count, ct);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => inner.ReadAsync(buffer, ct);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                response.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
