// `batchvlm upload LOCAL_FOLDER DESTINATION [--parallelism N] [--skip-existing]`: copies a folder (recursively) into
// blob storage — az://container/prefix, a blob URL with a SAS, or another local folder — with bounded parallelism,
// then prints files, bytes, time and rate. Used by the demo and tests to put images where a job can read them.
using System.CommandLine;
using System.Diagnostics;
using BatchVlm.Storage.Blobs;
using BatchVlm.Storage.Configuration;

namespace BatchVlm.Cli.Commands;

public static class UploadCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("LOCAL_FOLDER") { Description = "Folder to upload (all files, recursively)" };
        var destination = new Argument<string>("DESTINATION") { Description = "az://container/prefix, https://…/container/prefix?<sas>, or a folder" };
        var parallelism = new Option<int>("--parallelism") { Description = "Files uploaded at the same time (default 16)", DefaultValueFactory = _ => 16 };
        var skipExisting = new Option<bool>("--skip-existing") { Description = "Leave blobs that already exist untouched (conditional create)" };
        var command = new Command("upload", "Upload a local folder to blob storage") { source, destination, parallelism, skipExisting };
        // --Section:Key=value configuration flags may follow the command's own arguments.
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                return await RunAsync(parse.GetValue(source)!, parse.GetValue(destination)!, parse.GetValue(parallelism), parse.GetValue(skipExisting), ct);
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("batchvlm: cancelled");
                return 130;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"batchvlm: error: {Secrets.Redact(e.Message)}");
                return 1;
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(string source, string destination, int parallelism, bool skipExisting, CancellationToken ct)
    {
        var config = BatchVlmConfiguration.Build(Environment.GetCommandLineArgs().Skip(1).ToArray());
        var store = BlobStores.Open(destination, config);
        var result = await UploadFolderAsync(source, store, parallelism, skipExisting, ct);
        var seconds = Math.Max(result.Elapsed.TotalSeconds, 1e-3);
        Console.WriteLine($"Uploaded {result.Uploaded:N0} files ({FormatBytes(result.Bytes)}) to {store.Describe()} in {seconds:F1} s "
            + $"({result.Uploaded / seconds:N0} files/s, {FormatBytes((long)(result.Bytes / seconds))}/s)"
            + (result.Skipped > 0 ? $"; {result.Skipped:N0} already there, skipped" : ""));
        return 0;
    }

    /// <summary>What an upload did.</summary>
    public sealed record UploadResult(int Uploaded, int Skipped, long Bytes, TimeSpan Elapsed);

    /// <summary>Upload every file under <paramref name="folder"/> to <paramref name="store"/>, keyed by its path relative
    /// to the folder ('/'-separated), at most <paramref name="parallelism"/> at a time.</summary>
    public static async Task<UploadResult> UploadFolderAsync(string folder, IBlobStore store, int parallelism, bool skipExisting, CancellationToken ct)
    {
        var root = Path.GetFullPath(folder);
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"Folder '{folder}' does not exist.");
        if (parallelism < 1)
            throw new ArgumentException("--parallelism must be at least 1.");
        var clock = Stopwatch.StartNew();
        await store.EnsureContainerAsync(ct);
        var files = Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 });
        int uploaded = 0, skipped = 0;
        long bytes = 0;
        await Parallel.ForEachAsync(files, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct }, async (path, token) =>
        {
            var key = Path.GetRelativePath(root, path).Replace(Path.DirectorySeparatorChar, '/');
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var length = file.Length;
            if (await store.WriteAsync(key, file, ContentType(path), ifNotExists: skipExisting, token))
            {
                Interlocked.Increment(ref uploaded);
                Interlocked.Add(ref bytes, length);
            }
            else
            {
                Interlocked.Increment(ref skipped);
            }
        });
        return new UploadResult(uploaded, skipped, bytes, clock.Elapsed);
    }

    /// <summary>Content type from the file extension (application/octet-stream when unknown; the decoder sniffs anyway).</summary>
    public static string ContentType(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".jpg" or ".jpeg" => "image/jpeg",
        ".png" => "image/png",
        ".webp" => "image/webp",
        ".gif" => "image/gif",
        ".bmp" => "image/bmp",
        ".tif" or ".tiff" => "image/tiff",
        ".json" => "application/json",
        ".jsonl" => "application/x-ndjson",
        ".txt" => "text/plain",
        ".csv" => "text/csv",
        _ => "application/octet-stream",
    };

    private static string FormatBytes(long n) => n switch
    {
        >= 1L << 30 => $"{n / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{n / (double)(1L << 20):F1} MiB",
        >= 1L << 10 => $"{n / 1024.0:F1} KiB",
        _ => $"{n} B",
    };
}
