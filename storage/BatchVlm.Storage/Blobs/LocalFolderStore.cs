// IBlobStore over a folder on disk, with the same semantics as AzureBlobStore so the embedded mode (`batchvlm run`)
// and tests behave like the fleet: keys are '/'-separated paths under the root (validated by BlobKey, and every
// resolved path is checked to stay under the root), listing is recursive and in ordinal key order (as Azure lists),
// writes are atomic (a temp file in the same folder, then rename), and ifNotExists is honoured atomically
// (File.Move without overwrite links the temp file in place and fails when the name exists).
using System.Runtime.CompilerServices;

namespace BatchVlm.Storage.Blobs;

public sealed class LocalFolderStore : IBlobStore
{
    /// <summary>Temp files being written carry this suffix; listing skips them.</summary>
    public const string TempSuffix = ".batchvlm-partial";

    private readonly string _root;

    /// <param name="root">The folder keys are relative to (created by EnsureContainerAsync when missing).</param>
    public LocalFolderStore(string root)
    {
        if (string.IsNullOrWhiteSpace(root))
            throw new ArgumentException("The local store folder is empty.", nameof(root));
        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
    }

    /// <summary>Absolute path of the root folder.</summary>
    public string Root => _root;

    public string Describe() => _root;

    public Task EnsureContainerAsync(CancellationToken ct = default)
    {
        Directory.CreateDirectory(_root);
        return Task.CompletedTask;
    }

    /// <summary>Absolute path of the file holding <paramref name="key"/>.</summary>
    public string GetPath(string key)
    {
        BlobKey.Validate(key);
        var path = Path.GetFullPath(Path.Combine(_root, key.Replace('/', Path.DirectorySeparatorChar)));
        if (!path.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"Invalid blob key '{key}': it resolves outside {_root}.", nameof(key));
        return path;
    }

    public async IAsyncEnumerable<BlobItem> ListAsync(string prefix = "", [EnumeratorCancellation] CancellationToken ct = default)
    {
        BlobKey.ValidatePrefix(prefix);
        if (!Directory.Exists(_root))
            throw new BlobStorageException($"List Blobs in {_root} failed: the folder does not exist.", prefix, 404, "ContainerNotFound");
        // Start at the deepest folder the prefix names, so listing "a/b/c" does not walk the whole tree.
        var slash = prefix.LastIndexOf('/');
        var start = slash < 0 ? _root : Path.Combine(_root, prefix[..slash].Replace('/', Path.DirectorySeparatorChar));
        if (!Directory.Exists(start))
            yield break;

        var items = new List<BlobItem>();
        var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = false, AttributesToSkip = 0 };
        foreach (var info in new DirectoryInfo(start).EnumerateFiles("*", options))
        {
            ct.ThrowIfCancellationRequested();
            if (info.Name.EndsWith(TempSuffix, StringComparison.Ordinal))
                continue;
            var key = Path.GetRelativePath(_root, info.FullName).Replace(Path.DirectorySeparatorChar, '/');
            if (!key.StartsWith(prefix, StringComparison.Ordinal) || BlobKey.Problem(key) is not null)
                continue;
            items.Add(new BlobItem(key, info.Length, ETag(info), info.LastWriteTimeUtc));
        }
        items.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (var item in items)
        {
            await Task.CompletedTask.ConfigureAwait(false);
            yield return item;
        }
    }

    public async Task<byte[]> ReadAllBytesAsync(string key, CancellationToken ct = default)
    {
        var path = GetPath(key);
        try
        {
            return await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BlobNotFoundException(key, Describe());
        }
    }

    public Task<Stream> OpenReadAsync(string key, long offset = 0, long? length = null, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (length is < 0)
            throw new ArgumentOutOfRangeException(nameof(length), "The length of a range cannot be negative.");
        var path = GetPath(key);
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 81920,
                FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BlobNotFoundException(key, Describe());
        }
        if (offset == 0 && length is null)
            return Task.FromResult<Stream>(file);
        // As with Azure: a range starting at or past the end is empty; one running past the end is cut.
        var start = Math.Min(offset, file.Length);
        var count = Math.Min(length ?? long.MaxValue, file.Length - start);
        file.Position = start;
        return Task.FromResult<Stream>(new RangeStream(file, count));
    }

    public async Task<bool> WriteAsync(string key, Stream content, string? contentType = null, bool ifNotExists = false, CancellationToken ct = default)
    {
        var path = GetPath(key);
        if (ifNotExists && File.Exists(path))
            return false;
        var folder = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(folder);
        var temp = Path.Combine(folder, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}{TempSuffix}");
        try
        {
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
            {
                await content.CopyToAsync(file, ct).ConfigureAwait(false);
                await file.FlushAsync(ct).ConfigureAwait(false);
            }
            if (ifNotExists)
            {
                try
                {
                    File.Move(temp, path, overwrite: false);
                }
                catch (IOException) when (File.Exists(path))
                {
                    return false;
                }
            }
            else
            {
                File.Move(temp, path, overwrite: true);
            }
            return true;
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
    }

    public Task<BlobProperties?> GetPropertiesAsync(string key, CancellationToken ct = default)
    {
        var info = new FileInfo(GetPath(key));
        return Task.FromResult(info.Exists ? new BlobProperties(info.Length, ETag(info), null, info.LastWriteTimeUtc) : null);
    }

    public Task<bool> DeleteAsync(string key, CancellationToken ct = default)
    {
        var path = GetPath(key);
        if (!File.Exists(path))
            return Task.FromResult(false);
        File.Delete(path);
        return Task.FromResult(true);
    }

    private static string ETag(FileInfo info) => $"\"{info.LastWriteTimeUtc.Ticks:x}-{info.Length:x}\"";

    /// <summary>Read-only view of the next <c>count</c> bytes of a stream; owns the stream.</summary>
    private sealed class RangeStream(Stream inner, long count) : Stream
    {
        private readonly long _count = count;
        private long _left = count;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => _count;
        public override long Position { get => _count - _left; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int n) => Read(buffer.AsSpan(offset, n));

        public override int Read(Span<byte> buffer)
        {
            if (_left <= 0)
                return 0;
            var read = inner.Read(buffer[..(int)Math.Min(buffer.Length, _left)]);
            _left -= read;
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int n, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, n), ct).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            if (_left <= 0)
                return 0;
            var read = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _left)], ct).ConfigureAwait(false);
            _left -= read;
            return read;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int n) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
