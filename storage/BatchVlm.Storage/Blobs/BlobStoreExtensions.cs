// Conveniences over IBlobStore for small payloads.
using System.Runtime.InteropServices;

namespace BatchVlm.Storage.Blobs;

public static class BlobStoreExtensions
{
    /// <summary>Writes <paramref name="bytes"/> as the blob <paramref name="key"/> (see <see cref="IBlobStore.WriteAsync"/>);
    /// array-backed memory is streamed without a copy.</summary>
    public static async Task<bool> WriteBytesAsync(this IBlobStore store, string key, ReadOnlyMemory<byte> bytes,
        string? contentType = null, bool ifNotExists = false, CancellationToken ct = default)
    {
        using var stream = MemoryMarshal.TryGetArray(bytes, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(bytes.ToArray(), writable: false);
        return await store.WriteAsync(key, stream, contentType, ifNotExists, ct).ConfigureAwait(false);
    }
}
