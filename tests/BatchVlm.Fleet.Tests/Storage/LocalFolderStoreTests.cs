// LocalFolderStore against the shared IBlobStore contract, plus what is particular to a folder: atomic writes leave
// no temp files behind, and a key cannot resolve outside the root.
using BatchVlm.Storage.Blobs;

namespace BatchVlm.Fleet.Tests.Storage;

public sealed class LocalFolderStoreTests : BlobStoreContractTests
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "batchvlm-local-store-" + Guid.NewGuid().ToString("N"));

    protected override bool KeepsContentType => false;

    protected override async Task<IBlobStore> CreateStoreAsync()
    {
        var store = new LocalFolderStore(_root);
        await store.EnsureContainerAsync();
        return store;
    }

    protected override Task DeleteStoreAsync()
    {
        if (Directory.Exists(_root))
            Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task WriteAsync_Completed_LeavesNoTempFiles()
    {
        var ct = TestContext.Current.CancellationToken;
        for (var i = 0; i < 5; i++)
            await Store.WriteBytesAsync($"t/{i}.bin", RandomBytes(2000, i), ct: ct);
        await Store.WriteBytesAsync("t/0.bin", RandomBytes(10, 1), ifNotExists: true, ct: ct);
        var files = Directory.GetFiles(_root, "*", SearchOption.AllDirectories);
        Assert.Equal(5, files.Length);
        Assert.DoesNotContain(files, f => f.EndsWith(LocalFolderStore.TempSuffix, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ListAsync_MissingRoot_ThrowsNamingFolder()
    {
        var store = new LocalFolderStore(Path.Combine(_root, "does-not-exist"));
        var e = await Assert.ThrowsAsync<BlobStorageException>(() => ToListAsync(store.ListAsync("", TestContext.Current.CancellationToken)));
        Assert.Contains("does-not-exist", e.Message);
    }

    [Fact]
    public void GetPath_ValidKey_StaysUnderRoot()
    {
        var store = (LocalFolderStore)Store;
        Assert.Equal(Path.Combine(store.Root, "a", "b.jpg"), store.GetPath("a/b.jpg"));
        Assert.Throws<ArgumentException>(() => store.GetPath("a/../../b.jpg"));
    }
}
