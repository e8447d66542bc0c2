// One set of behaviours every IBlobStore must show, run against each implementation (AzureBlobStoreTests on real
// Azurite from scripts/stack.sh, LocalFolderStoreTests on a temp folder), so the embedded mode and the fleet agree:
// round trips, overwrite, conditional create (also under concurrency), block-sized content, ranges, listing by
// prefix in key order, properties, delete, not-found mapping and key validation.
using System.Security.Cryptography;
using System.Text;
using BatchVlm.Storage.Blobs;

namespace BatchVlm.Fleet.Tests.Storage;

public abstract class BlobStoreContractTests : IAsyncLifetime
{
    /// <summary>Content above this many bytes must take the store's large-content path (blocks for Azure).</summary>
    protected const int LargeSize = 1_300_000;

    protected IBlobStore Store { get; private set; } = null!;

    /// <summary>A fresh, empty store (container or folder).</summary>
    protected abstract Task<IBlobStore> CreateStoreAsync();

    /// <summary>Remove what CreateStoreAsync made.</summary>
    protected abstract Task DeleteStoreAsync();

    /// <summary>Whether the store keeps the content type given at write time.</summary>
    protected virtual bool KeepsContentType => true;

    public async ValueTask InitializeAsync() => Store = await CreateStoreAsync();

    public async ValueTask DisposeAsync() => await DeleteStoreAsync();

    protected static byte[] RandomBytes(int n, int seed)
    {
        var bytes = new byte[n];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Theory]
    [InlineData("a.jpg")]
    [InlineData("nested/deeper/b.png")]
    [InlineData("with space/ünïcode é.jpg")]
    [InlineData("odd+chars=&%#;@!$'(),.bin")]
    public async Task WriteAsync_NewKey_ReadsBackSameBytes(string key)
    {
        var bytes = RandomBytes(10_000, key.Length);
        Assert.True(await Store.WriteBytesAsync(key, bytes, "image/jpeg", ct: TestContext.Current.CancellationToken));
        Assert.Equal(bytes, await Store.ReadAllBytesAsync(key, TestContext.Current.CancellationToken));
        await using var stream = await Store.OpenReadAsync(key, ct: TestContext.Current.CancellationToken);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, TestContext.Current.CancellationToken);
        Assert.Equal(bytes, copy.ToArray());
    }

    [Fact]
    public async Task WriteAsync_ZeroLength_ReadsBackEmpty()
    {
        var ct = TestContext.Current.CancellationToken;
        Assert.True(await Store.WriteBytesAsync("empty.jpg", Array.Empty<byte>(), ct: ct));
        Assert.Empty(await Store.ReadAllBytesAsync("empty.jpg", ct));
        Assert.Equal(0, (await Store.GetPropertiesAsync("empty.jpg", ct))!.Size);
    }

    [Fact]
    public async Task WriteAsync_ExistingKey_ReplacesContent()
    {
        var ct = TestContext.Current.CancellationToken;
        await Store.WriteBytesAsync("k.bin", Encoding.UTF8.GetBytes("first"), ct: ct);
        Assert.True(await Store.WriteBytesAsync("k.bin", Encoding.UTF8.GetBytes("second, longer"), ct: ct));
        Assert.Equal("second, longer", Encoding.UTF8.GetString(await Store.ReadAllBytesAsync("k.bin", ct)));
    }

    [Fact]
    public async Task WriteAsync_IfNotExistsOnExistingKey_ReturnsFalseAndKeepsFirst()
    {
        var ct = TestContext.Current.CancellationToken;
        Assert.True(await Store.WriteBytesAsync("once.json", Encoding.UTF8.GetBytes("{\"v\":1}"), "application/json", ifNotExists: true, ct: ct));
        Assert.False(await Store.WriteBytesAsync("once.json", Encoding.UTF8.GetBytes("{\"v\":2}"), "application/json", ifNotExists: true, ct: ct));
        Assert.Equal("{\"v\":1}", Encoding.UTF8.GetString(await Store.ReadAllBytesAsync("once.json", ct)));
    }

    [Fact]
    public async Task WriteAsync_ConcurrentIfNotExists_ExactlyOneWriterWins()
    {
        var ct = TestContext.Current.CancellationToken;
        var writers = Enumerable.Range(0, 12).Select(i =>
            Store.WriteBytesAsync("race.txt", Encoding.UTF8.GetBytes($"writer {i}"), ifNotExists: true, ct: ct));
        var results = await Task.WhenAll(writers);
        Assert.Equal(1, results.Count(r => r));
        var winner = Array.IndexOf(results, true);
        Assert.Equal($"writer {winner}", Encoding.UTF8.GetString(await Store.ReadAllBytesAsync("race.txt", ct)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task WriteAsync_LargeContent_RoundTrips(bool seekable)
    {
        var ct = TestContext.Current.CancellationToken;
        var bytes = RandomBytes(LargeSize, 7);
        Stream source = seekable ? new MemoryStream(bytes) : new NonSeekableStream(bytes);
        Assert.True(await Store.WriteAsync("big/blob.bin", source, "application/octet-stream", ct: ct));
        var back = await Store.ReadAllBytesAsync("big/blob.bin", ct);
        Assert.Equal(SHA256.HashData(bytes), SHA256.HashData(back));
        Assert.Equal(LargeSize, (await Store.GetPropertiesAsync("big/blob.bin", ct))!.Size);
    }

    [Fact]
    public async Task WriteAsync_LargeContentIfNotExistsOnExistingKey_ReturnsFalse()
    {
        var ct = TestContext.Current.CancellationToken;
        await Store.WriteBytesAsync("big/once.bin", RandomBytes(100, 1), ct: ct);
        Assert.False(await Store.WriteAsync("big/once.bin", new NonSeekableStream(RandomBytes(LargeSize, 2)), ifNotExists: true, ct: ct));
        Assert.Equal(100, (await Store.GetPropertiesAsync("big/once.bin", ct))!.Size);
    }

    [Theory]
    [InlineData(0, 10, 0, 10)]          // first bytes
    [InlineData(1000, 500, 1000, 500)]  // middle
    [InlineData(9990, null, 9990, 10)]  // open-ended to the end
    [InlineData(9995, 100, 9995, 5)]    // running past the end is cut
    [InlineData(10000, 10, 0, 0)]       // starting at the end: empty
    [InlineData(20000, null, 0, 0)]     // starting past the end: empty
    [InlineData(5, 0, 0, 0)]            // zero length: empty
    public async Task OpenReadAsync_Range_ReturnsThatSlice(long offset, int? length, int expectStart, int expectCount)
    {
        var ct = TestContext.Current.CancellationToken;
        var bytes = RandomBytes(10_000, 3);
        await Store.WriteBytesAsync("ranged.bin", bytes, ct: ct);
        await using var stream = await Store.OpenReadAsync("ranged.bin", offset, length, ct);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, ct);
        Assert.Equal(bytes.AsSpan(expectStart, expectCount).ToArray(), copy.ToArray());
    }

    [Fact]
    public async Task ReadAsync_MissingKey_ThrowsBlobNotFound()
    {
        var ct = TestContext.Current.CancellationToken;
        var e = await Assert.ThrowsAsync<BlobNotFoundException>(() => Store.ReadAllBytesAsync("nope/missing.jpg", ct));
        Assert.Equal("nope/missing.jpg", e.Key);
        Assert.False(e.IsTransient);
        Assert.Contains("nope/missing.jpg", e.Message);
        await Assert.ThrowsAsync<BlobNotFoundException>(() => Store.OpenReadAsync("nope/missing.jpg", 0, 10, ct));
        await Assert.ThrowsAsync<BlobNotFoundException>(() => Store.OpenReadAsync("nope/missing.jpg", ct: ct));
    }

    [Fact]
    public async Task ListAsync_ManyBlobs_ReturnsEveryKeyUnderPrefixInOrderWithSizes()
    {
        var ct = TestContext.Current.CancellationToken;
        var expected = new SortedDictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < 23; i++)
        {
            var key = $"img/{i % 3}/photo-{i:D3}.jpg";
            expected[key] = 100 + i;
            await Store.WriteBytesAsync(key, RandomBytes(100 + i, i), ct: ct);
        }
        await Store.WriteBytesAsync("imgx/not-in-folder.jpg", RandomBytes(5, 1), ct: ct);
        await Store.WriteBytesAsync("other/z.jpg", RandomBytes(5, 1), ct: ct);

        var listed = await ToListAsync(Store.ListAsync("img/", ct));
        Assert.Equal(expected.Keys, listed.Select(i => i.Key));
        Assert.Equal(expected.Values.Select(v => (long)v), listed.Select(i => i.Size));
        Assert.All(listed, i => Assert.False(string.IsNullOrEmpty(i.ETag)));

        var raw = await ToListAsync(Store.ListAsync("img", ct));
        Assert.Equal(24, raw.Count); // a raw prefix also matches imgx/
        Assert.Equal(25, (await ToListAsync(Store.ListAsync("", ct))).Count);
        Assert.Empty(await ToListAsync(Store.ListAsync("nothing-here/", ct)));
    }

    [Fact]
    public async Task GetPropertiesAsync_ExistingAndMissing_SizeEtagOrNull()
    {
        var ct = TestContext.Current.CancellationToken;
        await Store.WriteBytesAsync("p/x.png", RandomBytes(1234, 5), "image/png", ct: ct);
        var props = await Store.GetPropertiesAsync("p/x.png", ct);
        Assert.NotNull(props);
        Assert.Equal(1234, props.Size);
        Assert.False(string.IsNullOrEmpty(props.ETag));
        Assert.NotNull(props.LastModified);
        if (KeepsContentType)
            Assert.Equal("image/png", props.ContentType);
        Assert.Null(await Store.GetPropertiesAsync("p/none.png", ct));
    }

    [Fact]
    public async Task DeleteAsync_ExistingThenAgain_TrueThenFalse()
    {
        var ct = TestContext.Current.CancellationToken;
        await Store.WriteBytesAsync("d/gone.txt", RandomBytes(3, 1), ct: ct);
        Assert.True(await Store.DeleteAsync("d/gone.txt", ct));
        Assert.False(await Store.DeleteAsync("d/gone.txt", ct));
        Assert.Null(await Store.GetPropertiesAsync("d/gone.txt", ct));
    }

    [Theory]
    [InlineData("../outside.jpg")]
    [InlineData("a/../../outside.jpg")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b.jpg")]
    [InlineData("a\\b.jpg")]
    [InlineData("folder/")]
    [InlineData("./a.jpg")]
    [InlineData("")]
    public async Task Operations_KeyEscapingTheRoot_AreRejected(string key)
    {
        var ct = TestContext.Current.CancellationToken;
        await Assert.ThrowsAsync<ArgumentException>(() => Store.WriteBytesAsync(key, RandomBytes(1, 1), ct: ct));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.ReadAllBytesAsync(key, ct));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.GetPropertiesAsync(key, ct));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.DeleteAsync(key, ct));
    }

    protected static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items)
            list.Add(item);
        return list;
    }

    /// <summary>A read-only stream without a length, like a network body.</summary>
    protected sealed class NonSeekableStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 7000));
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
