// AzureBlobStore on the real Azurite that scripts/stack.sh starts (generated account key, port 10009), against the
// shared IBlobStore contract with small thresholds so block uploads and list continuation are exercised, plus what
// is particular to Azure: Put Block/Put Block List really used, NextMarker followed, container SAS generated and
// used without the key, Azurite's public well-known key rejected, root prefixes, and errors that carry the
// x-ms-error-code but never a secret.
using System.Collections.Concurrent;
using System.Text;
using BatchVlm.Fleet.Tests.Infrastructure;
using BatchVlm.Storage.Blobs;
using BatchVlm.Storage.Inputs;
using Microsoft.Extensions.Configuration;

namespace BatchVlm.Fleet.Tests.Storage;

public sealed class AzureBlobStoreTests(StackFixture stack) : BlobStoreContractTests, IClassFixture<StackFixture>
{
    /// <summary>Small sizes so a 1.3 MB blob takes the block path and a 25-blob listing takes 4 pages.</summary>
    private static readonly BlobStorageOptions s_small = new()
    {
        SingleUploadThreshold = 1024 * 1024,
        BlockSize = 256 * 1024,
        MaxParallelBlockUploads = 3,
        ListPageSize = 7,
    };

    private readonly CountingHandler _counter = new();
    private AzureBlobStore Azure => (AzureBlobStore)Store;

    protected override async Task<IBlobStore> CreateStoreAsync()
        => await stack.NewContainerAsync("contract", s_small, new HttpClient(_counter) { Timeout = Timeout.InfiniteTimeSpan });

    protected override async Task DeleteStoreAsync() => await Azure.DeleteContainerAsync();

    [Fact]
    public async Task WriteAsync_AboveThreshold_UsesPutBlockAndPutBlockList()
    {
        var ct = TestContext.Current.CancellationToken;
        var bytes = RandomBytes(LargeSize, 11);
        _counter.Clear();
        await Store.WriteAsync("blocks/large.bin", new NonSeekableStream(bytes), "application/x-test", ct: ct);
        Assert.Equal(5, _counter.Count("PUT", "comp=block&"));      // ceil(1,300,000 / 262,144)
        Assert.Equal(1, _counter.Count("PUT", "comp=blocklist"));
        var props = await Store.GetPropertiesAsync("blocks/large.bin", ct);
        Assert.Equal(LargeSize, props!.Size);
        Assert.Equal("application/x-test", props.ContentType);
        Assert.Equal(bytes, await Store.ReadAllBytesAsync("blocks/large.bin", ct));

        _counter.Clear();
        await Store.WriteBytesAsync("blocks/small.bin", RandomBytes(1000, 1), ct: ct);
        Assert.Equal(0, _counter.Count("PUT", "comp=block"));
        Assert.Equal(1, _counter.Count("PUT", ""));
    }

    [Fact]
    public async Task ListAsync_MoreThanOnePage_FollowsNextMarker()
    {
        var ct = TestContext.Current.CancellationToken;
        for (var i = 0; i < 25; i++)
            await Store.WriteBytesAsync($"page/{i:D2}.jpg", RandomBytes(10, i), ct: ct);
        _counter.Clear();
        var keys = (await ToListAsync(Store.ListAsync("page/", ct))).Select(b => b.Key).ToList();
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"page/{i:D2}.jpg"), keys);
        Assert.Equal(4, _counter.Count("GET", "comp=list")); // 7 + 7 + 7 + 4
    }

    [Fact]
    public async Task ListAsync_ZeroLengthFolderMarker_IsSkipped()
    {
        var ct = TestContext.Current.CancellationToken;
        await Store.WriteBytesAsync("m/real.jpg", RandomBytes(10, 1), ct: ct);
        await Store.WriteBytesAsync("m/sub/empty-but-real.jpg", Array.Empty<byte>(), ct: ct);
        // What Storage Explorer or ABFS writes for an empty "folder": a zero-length blob named "m/sub/". Our keys cannot
        // end in '/', so put it with a raw REST call authorised by a SAS.
        var sas = Azure.CreateSasUri("cw", DateTimeOffset.UtcNow.AddMinutes(5));
        var markerUrl = $"{sas.GetLeftPart(UriPartial.Path).TrimEnd('/')}/m/sub/{sas.Query}";
        using var http = new HttpClient();
        using var put = new HttpRequestMessage(HttpMethod.Put, markerUrl) { Content = new ByteArrayContent([]) };
        put.Headers.Add("x-ms-blob-type", "BlockBlob");
        put.Headers.Add("x-ms-version", "2025-01-05");
        using var response = await http.SendAsync(put, ct);
        Assert.Equal(201, (int)response.StatusCode);

        var keys = (await ToListAsync(Store.ListAsync("m/", ct))).Select(b => b.Key).ToList();
        Assert.Equal(["m/real.jpg", "m/sub/empty-but-real.jpg"], keys); // a zero-length blob with a name is still an item
    }

    [Fact]
    public async Task RootPrefix_KeysAreRelativeToIt()
    {
        var ct = TestContext.Current.CancellationToken;
        var rooted = new AzureBlobStore(Azure.Account, Azure.Container, "jobs/42", s_small);
        await rooted.WriteBytesAsync("result.json", Encoding.UTF8.GetBytes("{}"), "application/json", ct: ct);
        Assert.Equal(["jobs/42/result.json"], (await ToListAsync(Store.ListAsync("", ct))).Select(b => b.Key));
        Assert.Equal(["result.json"], (await ToListAsync(rooted.ListAsync("", ct))).Select(b => b.Key));
        Assert.Equal("{}", Encoding.UTF8.GetString(await rooted.ReadAllBytesAsync("result.json", ct)));
    }

    [Fact]
    public async Task Describe_OpenedAgainWithConfiguredAccount_SameRoot()
    {
        var ct = TestContext.Current.CancellationToken;
        var rooted = new AzureBlobStore(Azure.Account, Azure.Container, "odd root/with #hash");
        await rooted.WriteBytesAsync("k.bin", new byte[] { 9 }, ct: ct);
        Assert.DoesNotContain("AccountKey", rooted.Describe());
        var reopened = BlobStores.Open(rooted.Describe(), stack.Configuration);
        Assert.Equal(new byte[] { 9 }, await reopened.ReadAllBytesAsync("k.bin", ct));
        Assert.IsType<SharedKeyCredential>(((AzureBlobStore)reopened).Account.Credential);
    }

    [Fact]
    public async Task CreateSasUri_ReadListSas_ReadsAndListsWithoutKeyButCannotWrite()
    {
        var ct = TestContext.Current.CancellationToken;
        await Store.WriteBytesAsync("sas/a.jpg", RandomBytes(50, 1), ct: ct);
        await Store.WriteBytesAsync("sas/b.jpg", RandomBytes(60, 2), ct: ct);
        var sasUrl = Azure.CreateSasUri("rl", DateTimeOffset.UtcNow.AddMinutes(30));
        Assert.Contains("sig=", sasUrl.Query);

        // Parsed as a user would give it (--input URL), with an empty configuration: no account key anywhere.
        var empty = new ConfigurationBuilder().Build();
        var input = InputLocation.Parse(sasUrl + "", empty);
        var viaSas = (AzureBlobStore)input.Store;
        Assert.IsType<SasCredential>(viaSas.Account.Credential);
        Assert.DoesNotContain("sig=", input.Address.Replace("sig=***", ""));
        var listed = await ToListAsync(input.ListAsync(ct));
        Assert.Equal(["sas/a.jpg", "sas/b.jpg"], listed.Select(b => b.Key));
        Assert.Equal(await Store.ReadAllBytesAsync("sas/b.jpg", ct), await viaSas.ReadAllBytesAsync("sas/b.jpg", ct));

        var denied = await Assert.ThrowsAsync<BlobStorageException>(() => viaSas.WriteBytesAsync("sas/c.jpg", RandomBytes(5, 3), ct: ct));
        Assert.Equal(403, denied.StatusCode);
        Assert.False(denied.IsTransient);
        Assert.Equal("sas/c.jpg", denied.Key);
        Assert.DoesNotContain(HttpUtility(sasUrl.Query), denied.Message);
    }

    [Fact]
    public async Task CreateSasUri_BlobSas_ReadsOnlyThatBlob()
    {
        var ct = TestContext.Current.CancellationToken;
        await Store.WriteBytesAsync("one/x.bin", RandomBytes(30, 1), ct: ct);
        await Store.WriteBytesAsync("one/y.bin", RandomBytes(30, 2), ct: ct);
        var url = Azure.CreateSasUri("r", DateTimeOffset.UtcNow.AddMinutes(5), "one/x.bin");
        using var http = new HttpClient();
        using var ok = await http.GetAsync(url, ct);
        Assert.Equal(200, (int)ok.StatusCode);
        Assert.Equal(await Store.ReadAllBytesAsync("one/x.bin", ct), await ok.Content.ReadAsByteArrayAsync(ct));
        var other = new Uri(url.ToString().Replace("one/x.bin", "one/y.bin"));
        using var denied = await http.GetAsync(other, ct);
        Assert.Equal(403, (int)denied.StatusCode);
    }

    [Fact]
    public async Task WellKnownDevelopmentKey_AgainstStackAzurite_IsRejected()
    {
        var ct = TestContext.Current.CancellationToken;
        // The stack runs Azurite with AZURITE_ACCOUNTS=devstoreaccount1:<generated key>: the public key must not work.
        var publicKey = BlobAccount.Parse("UseDevelopmentStorage=true");
        var account = publicKey with { BlobEndpoint = Azure.Account.BlobEndpoint };
        var store = new AzureBlobStore(account, Azure.Container, options: new BlobStorageOptions { Retry = new BlobRetryOptions { MaxRetries = 0 } });
        var e = await Assert.ThrowsAsync<BlobStorageException>(() => ToListAsync(store.ListAsync("", ct)));
        Assert.Equal(403, e.StatusCode);
        Assert.Equal("AuthorizationFailure", e.ErrorCode);
        Assert.False(e.IsTransient);
    }

    [Fact]
    public async Task Errors_MissingContainer_NameOperationCodeAndNoSecret()
    {
        var ct = TestContext.Current.CancellationToken;
        var missing = new AzureBlobStore(Azure.Account, "no-such-container-" + Guid.NewGuid().ToString("N")[..8]);
        var e = await Assert.ThrowsAsync<BlobStorageException>(() => ToListAsync(missing.ListAsync("x/", ct)));
        Assert.Equal(404, e.StatusCode);
        Assert.Equal("ContainerNotFound", e.ErrorCode);
        Assert.Contains("List Blobs", e.Message);
        Assert.Contains("ContainerNotFound", e.Message);
        var key = stack.StorageConnectionString.Split(';').First(p => p.StartsWith("AccountKey=", StringComparison.Ordinal))["AccountKey=".Length..];
        Assert.DoesNotContain(key, e.ToString());
    }

    private static string HttpUtility(string query)
        => Uri.UnescapeDataString(query.Split('&').First(p => p.StartsWith("sig=", StringComparison.Ordinal))["sig=".Length..]);

    /// <summary>Counts requests by method and query text, passing them on to a real socket handler.</summary>
    private sealed class CountingHandler() : DelegatingHandler(new SocketsHttpHandler())
    {
        private readonly ConcurrentQueue<(string Method, string Query)> _seen = new();

        public void Clear() => _seen.Clear();

        public int Count(string method, string queryContains)
            => _seen.Count(s => s.Method == method && (queryContains.Length == 0 ? s.Query.Length == 0 : (s.Query + "&").Contains(queryContains, StringComparison.Ordinal)));

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            _seen.Enqueue((request.Method.Method, request.RequestUri!.Query.TrimStart('?')));
            return base.SendAsync(request, ct);
        }
    }
}
