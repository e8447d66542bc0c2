// Downloads model files from a Hugging Face hub endpoint into the hub cache layout, the way huggingface_hub 0.26.2
// does it (file_download.py: get_hf_file_metadata, _download_to_tmp_and_move, _create_symlink):
//  1. HEAD {endpoint}/{repo}/resolve/{revision}/{file} without following redirects; the metadata come from that
//     response: X-Repo-Commit (commit), X-Linked-Etag or ETag (etag, quotes and W/ stripped), X-Linked-Size or
//     Content-Length (size), Location (the CDN URL of LFS files). A relative redirect (renamed repo) is followed.
//  2. blobs/<etag> is downloaded to blobs/<etag>.incomplete; an existing .incomplete is resumed with
//     `Range: bytes=<have>-`; the Authorization header is never forwarded to another host.
//  3. Verified before it is moved into place (huggingface_hub only checks the size): size against the metadata,
//     content against the etag — sha256 for LFS files (64 hex digits), the git blob sha1 for regular files (40 hex);
//     a mismatch deletes the partial file and downloads again from scratch, up to MaxAttempts, then fails clearly.
//  4. snapshots/<commit>/<file> becomes a relative symlink to ../../blobs/<etag>; refs/<revision> gets the commit.
// Network failures with the file already cached fall back to the cache, like huggingface_hub; HF_HUB_OFFLINE never
// touches the network. A lock file per blob (.locks/models--ORG--NAME/<etag>.lock) serialises concurrent workers.
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;

namespace BatchVlm.Engine.Loading;

/// <summary>Metadata of one file at a revision, from the hub's resolve endpoint.</summary>
public sealed record HubFileMetadata(string CommitHash, string Etag, long Size, Uri DownloadUrl);

/// <summary>Hub downloads into the cache layout. Thread-safe; one instance can serve many downloads.</summary>
public sealed class HubClient : IDisposable
{
    /// <summary>Files fetched with a model when the hub has them (tokenizer and processor files for the pipeline).</summary>
    public static readonly IReadOnlyList<string> OptionalModelFiles =
    [
        "generation_config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "vocab.json",
        "merges.txt", "vocab.txt",
    ];

    /// <summary>How long a download waits for another process holding the same blob's lock file.</summary>
    private static readonly TimeSpan LockWait = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan LockPoll = TimeSpan.FromMilliseconds(100);

    private readonly HttpClient _http;

    public HubOptions Options { get; }

    public HubClient(HubOptions options, HttpMessageHandler? handler = null)
    {
        Options = options;
        _http = new HttpClient(handler ?? new SocketsHttpHandler
        {
            AllowAutoRedirect = false, // we follow redirects ourselves: metadata live on the 302, auth must not leak
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = options.MetadataTimeout,
        }, disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("batchvlm/1.0");
    }

    public void Dispose() => _http.Dispose();

    private Uri ResolveUrl(string repoId, string revision, string filename) =>
        new($"{Options.Endpoint.TrimEnd('/')}/{repoId}/resolve/{Uri.EscapeDataString(revision)}/{string.Join('/', filename.Split('/').Select(Uri.EscapeDataString))}");

    private static void Validate(string repoId, string filename, string revision)
    {
        if (!HubCache.IsValidRepoId(repoId))
            throw new ModelLoadException($"Invalid hub repo id '{repoId}': expected ORG/NAME");
        if (filename.Length == 0 || filename.StartsWith('/') || filename.Contains('\\') || filename.Split('/').Any(p => p is "" or "." or ".."))
            throw new ModelLoadException($"Invalid file name '{filename}' in repo {repoId}");
        // Revisions become paths under refs/ (branch names may hold '/', e.g. refs/pr/1): no escaping the repo folder.
        if (revision.Length == 0 || revision.StartsWith('/') || revision.Contains('\\') || revision.Split('/').Any(p => p is "" or "." or ".."))
            throw new ModelLoadException($"Invalid revision '{revision}' for repo {repoId}");
    }

    /// <summary>
    /// HEAD on the resolve URL. Returns null when the file does not exist at that revision (404 EntryNotFound);
    /// throws <see cref="ModelLoadException"/> for a missing repo, a refused token, or (transient) network errors.
    /// </summary>
    public async Task<HubFileMetadata?> GetMetadataAsync(string repoId, string filename, string revision = "main", CancellationToken ct = default)
    {
        Validate(repoId, filename, revision);
        Uri url = ResolveUrl(repoId, revision, filename);
        for (int hop = 0; hop < 5; hop++)
        {
            using var req = new HttpRequestMessage(HttpMethod.Head, url);
            req.Headers.AcceptEncoding.ParseAdd("identity");
            AddAuth(req, url);
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(Options.MetadataTimeout);
            HttpResponseMessage resp;
            try
            {
                resp = await _http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                throw new ModelLoadException($"Cannot reach {url}: {e.Message}", e, isTransient: true);
            }
            using (resp)
            {
                int code = (int)resp.StatusCode;
                if (code is >= 300 and < 400)
                {
                    Uri? location = resp.Headers.Location;
                    if (location is null)
                        throw new ModelLoadException($"{url} answered {code} without a Location header");
                    // A relative redirect means the repo was renamed: follow it for the metadata (huggingface_hub
                    // does the same). An absolute one is the CDN: the metadata are on this response.
                    if (!location.IsAbsoluteUri && !HasHeader(resp, "X-Linked-Etag"))
                    {
                        url = new Uri(url, location);
                        continue;
                    }
                    return ParseMetadata(resp, url, new Uri(url, location), repoId, filename);
                }
                if (resp.IsSuccessStatusCode)
                    return ParseMetadata(resp, url, url, repoId, filename);
                string errorCode = Header(resp, "X-Error-Code") ?? "";
                if (code == 404 && errorCode == "EntryNotFound")
                    return null;
                if (code == 404 && errorCode is "" && resp.Headers.Contains("X-Repo-Commit"))
                    return null;
                throw code switch
                {
                    401 or 403 when errorCode == "RepositoryNotFound" => new ModelLoadException(
                        $"Repository {repoId} not found at {Options.Endpoint} ({code} {errorCode}): check the id, or set HF_TOKEN if it is private"),
                    401 or 403 => new ModelLoadException($"Access to {repoId} refused ({code} {errorCode}) at {url}: the repo is gated or private, or HF_TOKEN is missing/invalid"),
                    404 => new ModelLoadException(errorCode == "RevisionNotFound"
                        ? $"Revision '{revision}' not found in {repoId} ({url})"
                        : $"Repository {repoId} not found at {Options.Endpoint} ({code} {errorCode}); check the id, or set HF_TOKEN for a private repo"),
                    429 or >= 500 => new ModelLoadException($"{url} answered {code} {resp.ReasonPhrase}", isTransient: true),
                    _ => new ModelLoadException($"{url} answered {code} {resp.ReasonPhrase}"),
                };
            }
        }
        throw new ModelLoadException($"Too many relative redirects resolving {filename} in {repoId}");
    }

    private static HubFileMetadata ParseMetadata(HttpResponseMessage resp, Uri url, Uri downloadUrl, string repoId, string filename)
    {
        string? commit = Header(resp, "X-Repo-Commit");
        string? etag = Header(resp, "X-Linked-Etag") ?? resp.Headers.ETag?.Tag ?? Header(resp, "ETag");
        string? sizeText = Header(resp, "X-Linked-Size") ?? resp.Content.Headers.ContentLength?.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (commit is null || !HubCache.IsCommitHash(commit))
            throw new ModelLoadException($"{url} gave no valid X-Repo-Commit header for {repoId}/{filename} (is {url.Host} a hub endpoint?)");
        if (etag is null)
            throw new ModelLoadException($"{url} gave no ETag for {repoId}/{filename}: the file cannot be verified or cached");
        if (sizeText is null || !long.TryParse(sizeText, out long size) || size < 0)
            throw new ModelLoadException($"{url} gave no file size (X-Linked-Size / Content-Length) for {repoId}/{filename}");
        etag = NormalizeEtag(etag);
        // The etag names the blob file: refuse anything that is not a plain token (no path separators, no "..").
        if (etag.Length == 0 || etag.Length > 200 || etag.Contains("..") || !etag.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ModelLoadException($"{url} gave an unusable ETag '{etag}' for {repoId}/{filename}");
        return new HubFileMetadata(commit, etag, size, downloadUrl);
    }

    /// <summary>huggingface_hub's _normalize_etag: drop a weak "W/" prefix and the quotes.</summary>
    public static string NormalizeEtag(string etag)
    {
        etag = etag.Trim();
        if (etag.StartsWith("W/", StringComparison.Ordinal)) etag = etag[2..];
        return etag.Trim('"');
    }

    private static bool HasHeader(HttpResponseMessage r, string name) => Header(r, name) != null;

    private static string? Header(HttpResponseMessage r, string name) =>
        r.Headers.TryGetValues(name, out var v) ? v.FirstOrDefault()
        : r.Content.Headers.TryGetValues(name, out var c) ? c.FirstOrDefault() : null;

    private void AddAuth(HttpRequestMessage req, Uri url)
    {
        // Only the endpoint's own host gets the token; a CDN redirect must not see it.
        if (Options.Token is { } t && string.Equals(url.Host, new Uri(Options.Endpoint).Host, StringComparison.OrdinalIgnoreCase)
            && url.Port == new Uri(Options.Endpoint).Port)
            req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", t);
    }

    /// <summary>
    /// Makes one file of a repo available in the cache and returns its snapshot path; null when the file does not
    /// exist at that revision (only when <paramref name="optional"/>; otherwise that is an error).
    /// </summary>
    public async Task<string?> DownloadFileAsync(string repoId, string filename, string revision = "main", bool optional = false, CancellationToken ct = default)
    {
        Validate(repoId, filename, revision);
        string cache = Options.CacheDir;
        string repoDir = HubCache.RepoDir(cache, repoId);
        if (Options.Offline)
        {
            string? cached = HubCache.TryGetCachedFile(cache, repoId, revision, filename);
            if (cached != null || optional) return cached;
            throw new ModelLoadException($"{repoId}/{filename} (revision {revision}) is not in the hub cache {cache} and HF_HUB_OFFLINE is set");
        }

        HubFileMetadata? meta;
        try
        {
            meta = await GetMetadataAsync(repoId, filename, revision, ct).ConfigureAwait(false);
        }
        catch (ModelLoadException e) when (e.IsTransient)
        {
            // Like huggingface_hub: the hub is unreachable, but a cached copy of this revision is good enough.
            string? cached = HubCache.TryGetCachedFile(cache, repoId, revision, filename);
            if (cached != null) return cached;
            if (optional && HubCache.IsKnownMissing(cache, repoId, revision, filename)) return null;
            throw new ModelLoadException($"Cannot download {repoId}/{filename} and it is not cached: {e.Message}", e, isTransient: true);
        }

        if (meta is null)
        {
            string? commit = HubCache.TryResolveCommit(cache, repoId, revision) ?? (HubCache.IsCommitHash(revision) ? revision : null);
            if (commit != null)
            {
                string marker = Path.Combine(repoDir, ".no_exist", commit, filename);
                Directory.CreateDirectory(Path.GetDirectoryName(marker)!);
                File.WriteAllBytes(marker, []);
            }
            if (optional) return null;
            throw new ModelLoadException($"File {filename} not found in {repoId} at revision {revision}");
        }

        if (!HubCache.IsCommitHash(revision) && revision != meta.CommitHash)
            WriteRef(repoDir, revision, meta.CommitHash);
        string blob = Path.Combine(repoDir, "blobs", meta.Etag);
        string pointer = Path.Combine(repoDir, "snapshots", meta.CommitHash, filename);
        Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        Directory.CreateDirectory(Path.GetDirectoryName(pointer)!);

        using (await AcquireLockAsync(Path.Combine(cache, ".locks", HubCache.RepoFolderName(repoId), meta.Etag + ".lock"), ct).ConfigureAwait(false))
        {
            if (File.Exists(blob) && !await CachedBlobIsGoodAsync(blob, meta, ct).ConfigureAwait(false))
                File.Delete(blob); // corrupted or truncated in the cache: fetch it again
            if (!File.Exists(blob))
                await DownloadBlobAsync(repoId, filename, meta, blob, ct).ConfigureAwait(false);
            CreatePointer(blob, pointer);
        }
        return pointer;
    }

    private async Task<bool> CachedBlobIsGoodAsync(string blob, HubFileMetadata meta, CancellationToken ct)
    {
        if (new FileInfo(blob).Length != meta.Size) return false;
        if (!Options.VerifyCachedFiles) return true;
        return await VerifyContentAsync(blob, meta.Etag, ct).ConfigureAwait(false) is null;
    }

    private async Task DownloadBlobAsync(string repoId, string filename, HubFileMetadata meta, string blob, CancellationToken ct)
    {
        string incomplete = blob + ".incomplete";
        Exception? last = null;
        for (int attempt = 1; attempt <= Math.Max(1, Options.MaxAttempts); attempt++)
        {
            try
            {
                await FetchToAsync(meta.DownloadUrl, incomplete, meta.Size, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (IsInterruption(e, ct))
            {
                // Keep the partial file: the next attempt resumes it with a Range request.
                last = e;
                continue;
            }
            long have = new FileInfo(incomplete).Length;
            string? problem = have != meta.Size
                ? $"size {have} bytes, expected {meta.Size}"
                : await VerifyContentAsync(incomplete, meta.Etag, ct).ConfigureAwait(false);
            if (problem is null)
            {
                File.Move(incomplete, blob, overwrite: true);
                return;
            }
            File.Delete(incomplete); // corrupted: start again from byte 0
            last = new ModelLoadException($"Downloaded {repoId}/{filename} from {meta.DownloadUrl} failed verification: {problem}");
        }
        if (last is ModelLoadException mle && !mle.IsTransient)
            throw new ModelLoadException($"{mle.Message} (after {Options.MaxAttempts} attempts)", mle);
        throw new ModelLoadException($"Downloading {repoId}/{filename} from {meta.DownloadUrl} failed after {Options.MaxAttempts} attempts: {last?.Message}", last, isTransient: true);
    }

    private static bool IsInterruption(Exception e, CancellationToken ct) =>
        !ct.IsCancellationRequested && e is HttpRequestException or IOException or OperationCanceledException
        || e is ModelLoadException { IsTransient: true };

    /// <summary>GET with manual redirects, appending to <paramref name="partial"/> from its current length.</summary>
    private async Task FetchToAsync(Uri url, string partial, long expectedSize, CancellationToken ct)
    {
        long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        if (have > expectedSize) { File.Delete(partial); have = 0; }
        if (have == expectedSize && have > 0) return; // complete already; verification decides
        for (int hop = 0; hop < 10; hop++)
        {
            using var req = new HttpRequestMessage(HttpMethod.Get, url);
            req.Headers.AcceptEncoding.ParseAdd("identity");
            if (have > 0) req.Headers.Range = new RangeHeaderValue(have, null);
            AddAuth(req, url);
            using var headerCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            headerCts.CancelAfter(Options.ReadTimeout);
            using var resp = await _http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, headerCts.Token).ConfigureAwait(false);
            int code = (int)resp.StatusCode;
            if (code is >= 300 and < 400 && resp.Headers.Location is { } loc)
            {
                url = new Uri(url, loc);
                continue;
            }
            if (code == 416) // the server has no bytes past ours: restart from scratch
            {
                File.Delete(partial);
                have = 0;
                continue;
            }
            if (!resp.IsSuccessStatusCode)
                throw new ModelLoadException($"GET {url} answered {code} {resp.ReasonPhrase}", isTransient: code is 408 or 429 or >= 500);
            bool append = code == 206 && have > 0;
            if (code == 206 && resp.Content.Headers.ContentRange is { From: { } from } && from != have)
                throw new ModelLoadException($"GET {url} resumed at byte {from}, asked for {have}", isTransient: true);
            await using var body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await using var file = new FileStream(partial, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            var buffer = new byte[1 << 20];
            while (true)
            {
                using var readCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                readCts.CancelAfter(Options.ReadTimeout);
                int n = await body.ReadAsync(buffer, readCts.Token).ConfigureAwait(false);
                if (n == 0) break;
                await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            }
            return;
        }
        throw new ModelLoadException($"Too many redirects downloading {url}");
    }

    /// <summary>Null when the content matches the etag (or the etag is not a content hash), else what is wrong.</summary>
    public static async Task<string?> VerifyContentAsync(string path, string etag, CancellationToken ct = default)
    {
        bool sha256 = etag.Length == 64 && etag.All(Uri.IsHexDigit);
        bool gitSha1 = etag.Length == 40 && etag.All(Uri.IsHexDigit);
        if (!sha256 && !gitSha1) return null; // not a content hash: the size check is all there is
        await using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        using var hash = IncrementalHash.CreateHash(sha256 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA1);
        if (gitSha1) // git blob id: sha1("blob <size>\0" + content)
            hash.AppendData(System.Text.Encoding.ASCII.GetBytes($"blob {fs.Length}\0"));
        var buffer = new byte[1 << 20];
        int n;
        while ((n = await fs.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            hash.AppendData(buffer, 0, n);
        string got = Convert.ToHexStringLower(hash.GetHashAndReset());
        return string.Equals(got, etag, StringComparison.OrdinalIgnoreCase)
            ? null
            : $"{(sha256 ? "sha256" : "git blob sha1")} {got}, expected {etag.ToLowerInvariant()}";
    }

    private static void WriteRef(string repoDir, string revision, string commit)
    {
        string refPath = Path.Combine(repoDir, "refs", revision);
        Directory.CreateDirectory(Path.GetDirectoryName(refPath)!);
        if (File.Exists(refPath) && File.ReadAllText(refPath).Trim() == commit) return;
        string tmp = refPath + ".tmp-" + Environment.ProcessId + "-" + Environment.CurrentManagedThreadId;
        File.WriteAllText(tmp, commit);
        File.Move(tmp, refPath, overwrite: true);
    }

    /// <summary>snapshots/&lt;commit&gt;/&lt;file&gt; -> relative link to the blob (a copy where links are impossible).</summary>
    private static void CreatePointer(string blob, string pointer)
    {
        string target = Path.GetRelativePath(Path.GetDirectoryName(pointer)!, blob);
        var info = new FileInfo(pointer);
        if (info.LinkTarget == target && File.Exists(pointer)) return;
        if (info.Exists || info.LinkTarget != null) File.Delete(pointer);
        try
        {
            File.CreateSymbolicLink(pointer, target);
        }
        catch (IOException)
        {
            File.Copy(blob, pointer, overwrite: true);
        }
    }

    private static async Task<IDisposable> AcquireLockAsync(string lockPath, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!);
        var deadline = DateTime.UtcNow + LockWait;
        while (true)
        {
            try
            {
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException e)
            {
                // Another process downloads this blob; it holds the lock until the blob is in place.
                if (DateTime.UtcNow >= deadline)
                    throw new ModelLoadException($"Waited {LockWait.TotalMinutes:0} min for the hub cache lock {lockPath}, still held by another process: {e.Message}", e, isTransient: true);
                await Task.Delay(LockPoll, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Downloads what a model needs: config.json, the weights (model.safetensors.index.json and every shard it names,
    /// or model.safetensors), and whichever of <see cref="OptionalModelFiles"/> plus <paramref name="extraFiles"/> exist.
    /// Returns the snapshot folder as a <see cref="ModelSource"/>.
    /// </summary>
    public async Task<ModelSource> DownloadModelAsync(string repoId, string revision = "main", IEnumerable<string>? extraFiles = null, CancellationToken ct = default)
    {
        string config = (await DownloadFileAsync(repoId, "config.json", revision, optional: false, ct).ConfigureAwait(false))!;
        string? index = await DownloadFileAsync(repoId, SafetensorsCheckpoint.IndexFileName, revision, optional: true, ct).ConfigureAwait(false);
        if (index != null)
        {
            foreach (string shard in ShardNames(index))
                await DownloadFileAsync(repoId, shard, revision, optional: false, ct).ConfigureAwait(false);
        }
        else
        {
            await DownloadFileAsync(repoId, SafetensorsCheckpoint.SingleFileName, revision, optional: false, ct).ConfigureAwait(false);
        }
        foreach (string extra in OptionalModelFiles.Concat(extraFiles ?? []).Distinct())
            await DownloadFileAsync(repoId, extra, revision, optional: true, ct).ConfigureAwait(false);
        string snapshot = Path.GetDirectoryName(config)!;
        return new ModelSource(snapshot, repoId, revision, Path.GetFileName(snapshot));
    }

    private static IEnumerable<string> ShardNames(string indexPath)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (!doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException($"Invalid index {indexPath}: no \"weight_map\" object");
            var shards = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String || p.Value.GetString() is not { Length: > 0 } shard)
                    throw new ModelLoadException($"Invalid index {indexPath}: weight_map[\"{p.Name}\"] is not a file name");
                shards.Add(shard);
            }
            return shards;
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"Invalid index {indexPath}: {e.Message}", e);
        }
    }
}
