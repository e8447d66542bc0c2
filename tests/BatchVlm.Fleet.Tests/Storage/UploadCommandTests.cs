// `batchvlm upload LOCAL_FOLDER az://container/prefix` on the stack's Azurite: recursive, keys relative to the folder
// under the prefix, content types by extension, --skip-existing as a conditional create, and the command itself run
// through System.CommandLine with configuration found from the stack's settings file.
using BatchVlm.Cli.Commands;
using BatchVlm.Fleet.Tests.Infrastructure;
using BatchVlm.Storage.Blobs;

namespace BatchVlm.Fleet.Tests.Storage;

public sealed class UploadCommandTests(StackFixture stack) : IClassFixture<StackFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("batchvlm-upload-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private int MakeFolder()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "a", "b"));
        File.WriteAllBytes(Path.Combine(_dir, "top.jpg"), new byte[100]);
        File.WriteAllBytes(Path.Combine(_dir, "a", "mid.png"), new byte[200]);
        File.WriteAllBytes(Path.Combine(_dir, "a", "b", "deep.bin"), new byte[300]);
        File.WriteAllBytes(Path.Combine(_dir, "a", "b", "empty.jpg"), []);
        return 4;
    }

    [Fact]
    public async Task UploadFolderAsync_NestedFolder_KeysUnderPrefixAndSkipExistingSecondTime()
    {
        var ct = TestContext.Current.CancellationToken;
        var files = MakeFolder();
        var container = await stack.NewContainerAsync("upload");
        try
        {
            var target = BlobStores.Open($"az://{container.Container}/run1", stack.Configuration);
            var first = await UploadCommand.UploadFolderAsync(_dir, target, parallelism: 3, skipExisting: false, ct);
            Assert.Equal(files, first.Uploaded);
            Assert.Equal(600, first.Bytes);

            var listed = new List<BlobItem>();
            await foreach (var item in container.ListAsync("", ct))
                listed.Add(item);
            Assert.Equal(["run1/a/b/deep.bin", "run1/a/b/empty.jpg", "run1/a/mid.png", "run1/top.jpg"], listed.Select(i => i.Key));
            Assert.Equal("image/png", (await container.GetPropertiesAsync("run1/a/mid.png", ct))!.ContentType);

            var second = await UploadCommand.UploadFolderAsync(_dir, target, parallelism: 3, skipExisting: true, ct);
            Assert.Equal(0, second.Uploaded);
            Assert.Equal(files, second.Skipped);
        }
        finally
        {
            await container.DeleteContainerAsync(ct);
        }
    }

    [Fact]
    public async Task Command_Invoked_UploadsAndPrintsCounts()
    {
        var ct = TestContext.Current.CancellationToken;
        MakeFolder();
        var container = await stack.NewContainerAsync("uploadcli");
        try
        {
            var output = new StringWriter();
            var original = Console.Out;
            int code;
            try
            {
                Console.SetOut(output);
                code = await UploadCommand.Create().Parse([_dir, $"az://{container.Container}/x", "--parallelism", "2"]).InvokeAsync(cancellationToken: ct);
            }
            finally
            {
                Console.SetOut(original);
            }
            Assert.Equal(0, code);
            Assert.Contains("Uploaded 4 files (600 B)", output.ToString());
            Assert.NotNull(await container.GetPropertiesAsync("x/a/b/deep.bin", ct));
        }
        finally
        {
            await container.DeleteContainerAsync(ct);
        }
    }

    [Fact]
    public async Task Command_MissingFolder_ExitsOneWithReason()
    {
        var error = new StringWriter();
        var original = Console.Error;
        int code;
        try
        {
            Console.SetError(error);
            code = await UploadCommand.Create().Parse([Path.Combine(_dir, "nope"), "az://whatever/x"]).InvokeAsync(cancellationToken: TestContext.Current.CancellationToken);
        }
        finally
        {
            Console.SetError(original);
        }
        Assert.Equal(1, code);
        Assert.Contains("does not exist", error.ToString());
    }
}
