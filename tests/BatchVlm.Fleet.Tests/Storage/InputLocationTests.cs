// Input addresses (team/BRIEF.md): az://container/prefix, blob URLs (Azurite path-style, with SAS), local folders and
// manifests — and the security rule of issue 2 item 9: a manifest entry cannot reach outside its container or folder.
using BatchVlm.Fleet.Tests.Infrastructure;
using BatchVlm.Storage.Blobs;
using BatchVlm.Storage.Inputs;
using Microsoft.Extensions.Configuration;

namespace BatchVlm.Fleet.Tests.Storage;

public sealed class InputLocationTests : IDisposable
{
    private const string Key = "c2VjcmV0LWtleS1mb3ItaW5wdXQtbG9jYXRpb24tdGVzdHMtMDEyMzQ1Njc4OWFiY2RlZg==";
    private readonly string _dir = Directory.CreateTempSubdirectory("batchvlm-inputs-").FullName;

    private static IConfiguration Config(string? connectionString = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={Key};BlobEndpoint=http://127.0.0.1:10009/devstoreaccount1;")
        => new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Storage:ConnectionString"] = connectionString }).Build();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Manifest(params string[] lines)
    {
        var path = Path.Combine(_dir, $"manifest-{Guid.NewGuid():N}.txt");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Theory]
    [InlineData("az://images/cats", "cats/")]
    [InlineData("az://images/cats/", "cats/")]
    [InlineData("az://images", "")]
    [InlineData("az://images/img_00*", "img_00")]
    public void Parse_AzAddress_ConfiguredAccountAndFolderPrefix(string address, string prefix)
    {
        var input = InputLocation.Parse(address, Config());
        Assert.Equal(InputKind.AzureContainer, input.Kind);
        Assert.Equal(prefix, input.Prefix);
        var store = Assert.IsType<AzureBlobStore>(input.Store);
        Assert.Equal("images", store.Container);
        Assert.Equal("devstoreaccount1", store.Account.Name);
        Assert.IsType<SharedKeyCredential>(store.Account.Credential);
        Assert.Null(input.Keys);
    }

    [Fact]
    public void Parse_AzWithoutStorageConfiguration_ExplainsWhatToSet()
    {
        var e = Assert.Throws<InvalidOperationException>(() => InputLocation.Parse("az://images/x", Config(null)));
        Assert.Contains("Storage:ConnectionString", e.Message);
        Assert.Contains("stack up", e.Message);
    }

    [Theory]
    [InlineData("az://Images/x")]
    [InlineData("az://a/x")]
    [InlineData("az:///x")]
    [InlineData("az://images/../x")]
    public void Parse_BadAzAddress_Throws(string address)
        => Assert.ThrowsAny<Exception>(() => InputLocation.Parse(address, Config()));

    [Fact]
    public void Parse_PathStyleUrlWithSas_UsesSasAndRedactsAddress()
    {
        var input = InputLocation.Parse("http://127.0.0.1:10009/devstoreaccount1/images/cats?sv=2025-01-05&sr=c&sp=rl&se=2030-01-01T00:00:00Z&sig=abc%2Bdef%3D", Config(null));
        Assert.Equal(InputKind.BlobUrl, input.Kind);
        Assert.Equal("cats/", input.Prefix);
        var store = Assert.IsType<AzureBlobStore>(input.Store);
        Assert.Equal("devstoreaccount1", store.Account.Name);
        Assert.Equal("images", store.Container);
        Assert.IsType<SasCredential>(store.Account.Credential);
        Assert.DoesNotContain("abc", input.Address);
        Assert.DoesNotContain("abc", store.Describe());
    }

    [Fact]
    public void Parse_UrlOfConfiguredAccount_UsesConfiguredKey()
    {
        var input = InputLocation.Parse("http://127.0.0.1:10009/devstoreaccount1/images", Config());
        Assert.IsType<SharedKeyCredential>(((AzureBlobStore)input.Store).Account.Credential);
    }

    [Fact]
    public void Parse_HostStyleHttpsUrl_AccountFromHost()
    {
        var input = InputLocation.Parse("https://myacct.blob.core.windows.net/photos/2024/summer?sv=2025-01-05&sig=x", Config(null));
        var store = (AzureBlobStore)input.Store;
        Assert.Equal("myacct", store.Account.Name);
        Assert.Equal("photos", store.Container);
        Assert.Equal("2024/summer/", input.Prefix);
        Assert.Equal(new Uri("https://myacct.blob.core.windows.net"), store.Account.BlobEndpoint);
    }

    [Fact]
    public async Task Parse_LocalFolder_ListsEveryFileWhateverItsExtension()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "imgs", "sub"));
        File.WriteAllText(Path.Combine(_dir, "imgs", "a.jpg"), "x");
        File.WriteAllText(Path.Combine(_dir, "imgs", "sub", "b.notanimage"), "yy");
        var input = InputLocation.Parse(Path.Combine(_dir, "imgs"), Config(null));
        Assert.Equal(InputKind.LocalFolder, input.Kind);
        var items = new List<BlobItem>();
        await foreach (var i in input.ListAsync(TestContext.Current.CancellationToken))
            items.Add(i);
        Assert.Equal(["a.jpg", "sub/b.notanimage"], items.Select(i => i.Key));
        Assert.Equal([1L, 2L], items.Select(i => i.Size));
    }

    [Fact]
    public void Parse_MissingFolder_SaysWhatIsAccepted()
    {
        var e = Assert.Throws<DirectoryNotFoundException>(() => InputLocation.Parse(Path.Combine(_dir, "nope"), Config(null)));
        Assert.Contains("az://", e.Message);
    }

    [Fact]
    public async Task Parse_LocalManifest_KeysRelativeToItsFolderDeduplicated()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "pics"));
        var manifest = Manifest("# comment", "", "pics/a.jpg", "  pics/b.jpg  ", "pics/a.jpg", "pics/c d.jpg");
        foreach (var at in new[] { "@" + manifest, manifest })
        {
            var input = InputLocation.Parse(at, Config(null));
            Assert.Equal(InputKind.Manifest, input.Kind);
            Assert.Equal(["pics/a.jpg", "pics/b.jpg", "pics/c d.jpg"], input.Keys);
            Assert.Equal(_dir, ((LocalFolderStore)input.Store).Root);
            var items = new List<BlobItem>();
            await foreach (var i in input.ListAsync(TestContext.Current.CancellationToken))
                items.Add(i);
            Assert.Equal(input.Keys, items.Select(i => i.Key));
            Assert.All(items, i => Assert.Equal(-1, i.Size));
        }
    }

    [Fact]
    public void Parse_ManifestWithAzBase_KeysInsideContainerPrefix()
    {
        var manifest = Manifest("# base: az://images/batch1", "a.jpg", "sub/b.jpg", "az://images/batch1/c.jpg",
            "http://127.0.0.1:10009/devstoreaccount1/images/batch1/d.jpg");
        var input = InputLocation.Parse("@" + manifest, Config());
        Assert.Equal("images", ((AzureBlobStore)input.Store).Container);
        Assert.Equal(["batch1/a.jpg", "batch1/sub/b.jpg", "batch1/c.jpg", "batch1/d.jpg"], input.Keys);
    }

    [Theory]
    [InlineData("../secret.jpg", "'..'")]
    [InlineData("a/../../secret.jpg", "'..'")]
    [InlineData("/etc/passwd", "absolute")]
    [InlineData("~/secret.jpg", "absolute")]
    [InlineData("C:\\Windows\\win.ini", "")]
    [InlineData("a\\..\\..\\x", "'\\'")]
    [InlineData("az://other/batch1/x.jpg", "another account or container")]
    [InlineData("az://images/batch2/x.jpg", "outside the manifest's base folder")]
    [InlineData("az://images/batch1/../batch2/x.jpg", "")]
    [InlineData("http://127.0.0.1:10009/otheraccount/images/batch1/x.jpg", "another account or container")]
    [InlineData("https://evil.example.com/images/batch1/x.jpg", "another account or container")]
    [InlineData("https://devstoreaccount1.blob.core.windows.net/images/batch1/x.jpg", "another account or container")]
    public void Parse_ManifestEntryEscapingItsBase_IsRejectedNamingTheLine(string entry, string reason)
    {
        var manifest = Manifest("# base: az://images/batch1", "ok.jpg", entry);
        var e = Assert.Throws<FormatException>(() => InputLocation.Parse("@" + manifest, Config()));
        Assert.Contains("line 3", e.Message);
        Assert.Contains(manifest, e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData("../outside.jpg")]
    [InlineData("/etc/passwd")]
    [InlineData("az://images/x.jpg")]
    public void Parse_LocalManifestEntryEscapingItsFolder_IsRejectedNamingTheLine(string entry)
    {
        var manifest = Manifest("fine.jpg", "also/fine.jpg", "", entry);
        var e = Assert.Throws<FormatException>(() => InputLocation.Parse(manifest, Config()));
        Assert.Contains("line 4", e.Message);
    }

    [Fact]
    public void Parse_ManifestBaseAfterEntries_IsRejected()
    {
        var manifest = Manifest("a.jpg", "# base: az://images/x");
        var e = Assert.Throws<FormatException>(() => InputLocation.Parse(manifest, Config()));
        Assert.Contains("line 2", e.Message);
    }
}

/// <summary>Input listing end to end on the stack's Azurite: upload a folder, then list it through an az:// address.</summary>
public sealed class InputLocationAzuriteTests(StackFixture stack) : IClassFixture<StackFixture>
{
    [Fact]
    public async Task ListAsync_AzAddressOverUploadedFolder_YieldsEveryBlobUnderThePrefix()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = await stack.NewContainerAsync("inputs");
        try
        {
            foreach (var key in new[] { "set/a.jpg", "set/b.png", "set/deep/c.txt", "setx/no.jpg", "other/no.jpg" })
                await store.WriteBytesAsync(key, new byte[] { 1, 2, 3 }, ct: ct);
            var input = InputLocation.Parse($"az://{store.Container}/set", stack.Configuration);
            var keys = new List<string>();
            await foreach (var item in input.ListAsync(ct))
                keys.Add(item.Key);
            Assert.Equal(["set/a.jpg", "set/b.png", "set/deep/c.txt"], keys);
            Assert.Equal(new byte[] { 1, 2, 3 }, await input.Store.ReadAllBytesAsync(keys[2], ct));
        }
        finally
        {
            await store.DeleteContainerAsync(ct);
        }
    }
}
