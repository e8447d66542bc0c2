// Conveniences over IBlobStore for small payloads.
namespace BatchVlm.Storage.Blobs;

public static class BlobStoreExtensions
{
    public static Task<bool> WriteBytesAsync(this IBlobStore store, string key, ReadOnlyMemory<byte> bytes,
        string? contentType = null, bool ifNotExists = false, CancellationToken ct = default)
    {
        var stream = new MemoryStream(bytes.ToArray(), writable: false);
        return store.WriteAsync(key, stream, contentType, ifNotExists, ct);
    }
}
