// Issue 2 item 9: credentials never appear in logs or error messages. Runs a job whose input is an Azurite
// https-style blob URL carrying an account SAS, with Debug logging, a RabbitMQ restart mid-run (reconnect paths are
// where connection strings usually leak), then searches every log this test run produced — the fleet processes'
// stdout/stderr and every CLI call's output, of this test and of any system test that ran before it — for the
// RabbitMQ password, the PostgreSQL password, the storage account key and the SAS signature (raw, URL-encoded and
// URL-decoded forms).
using System.Security.Cryptography;
using System.Text;

namespace BatchVlm.Fleet.Tests.SystemTests;

[Collection(SystemCollection.Name)]
public sealed class LogSecretsTests(FleetStack stack, ITestOutputHelper output)
{
    [Fact(Timeout = 8 * 60_000)]
    public async Task Logs_OfAJobOverASasUrlWithABrokerRestart_ContainNoSecret()
    {
        await using var run = new FleetRun(stack, nameof(Logs_OfAJobOverASasUrlWithABrokerRestart_ContainNoSecret));
        run.Environment["BATCHVLM_Logging__LogLevel__Default"] = "Debug";
        run.Environment["Logging__LogLevel__Default"] = "Debug";
        var data = await stack.StandardDataset(run, 300);
        var sas = AccountSas(stack, TimeSpan.FromHours(2));
        var sig = Uri.UnescapeDataString(sas.Split('&').Single(p => p.StartsWith("sig=", StringComparison.Ordinal))[4..]);
        run.SecretsToMask.Add(sig);
        var input = $"{stack.BlobEndpoint}/{data.Container}/{data.Prefix}?{sas}";

        run.StartCoordinator();
        run.StartWorker("worker-1");
        var job = await run.SubmitInspect(input, shardSize: 25);
        await stack.Stack("restart", "rabbitmq");
        await run.WaitForCompletion(job, TimeSpan.FromMinutes(4));
        await ExactlyOnce.AssertAsync(run, job, data);
        var list = await run.Cli("list");
        Assert.Equal(0, list.ExitCode);
        await run.DisposeAsync(); // flush and close every process's logs before reading them

        var secrets = new Dictionary<string, string>
        {
            ["RabbitMQ password"] = stack.RabbitPassword,
            ["PostgreSQL password"] = stack.PostgresPassword,
            ["storage account key"] = stack.StorageAccountKey,
            ["SAS signature"] = sig,
        };
        var forms = secrets.SelectMany(s => new[] { s.Value, Uri.EscapeDataString(s.Value) }.Distinct()
            .Select(v => (Name: s.Key, Value: v))).ToList();
        Assert.All(secrets.Values, v => Assert.True(v.Length >= 8, "a secret too short to search for"));

        var files = Directory.EnumerateFiles(stack.LogRoot, "*.log", SearchOption.AllDirectories).ToList();
        // The search only means something if the fleet logged: the coordinator and the worker wrote their logs.
        foreach (var process in new[] { "coordinator", "worker-1" })
            Assert.True(files.Where(f => Path.GetFileName(f).StartsWith(process + ".", StringComparison.Ordinal) && f.Contains(run.LogDir, StringComparison.Ordinal))
                .Sum(f => new FileInfo(f).Length) > 0, $"{process} wrote no log");
        var leaks = new List<string>();
        foreach (var file in files)
        {
            var text = await File.ReadAllTextAsync(file, TestContext.Current.CancellationToken);
            foreach (var (secretName, value) in forms)
            {
                var at = text.IndexOf(value, StringComparison.Ordinal);
                if (at >= 0)
                {
                    // Show where, never the secret itself.
                    var lineStart = text.LastIndexOf('\n', at) + 1;
                    var excerpt = text[lineStart..at] + "<" + secretName + ">";
                    leaks.Add($"{Path.GetRelativePath(stack.LogRoot, file)}: {secretName} at offset {at}: …{excerpt[Math.Max(0, excerpt.Length - 160)..]}");
                }
            }
        }
        output.WriteLine($"searched {files.Count} log files ({files.Sum(f => new FileInfo(f).Length) / 1024} KiB) for {forms.Count} secret forms");
        Assert.True(leaks.Count == 0, "secrets found in logs:\n" + string.Join('\n', leaks));
    }

    /// <summary>An account SAS (read + list on blob service, containers and objects) signed with the account key,
    /// string-to-sign of version 2020-12-06+ (learn.microsoft.com "Create an account SAS").</summary>
    public static string AccountSas(FleetStack stack, TimeSpan validFor)
    {
        const string version = "2020-12-06", permissions = "rl", services = "b", resourceTypes = "sco";
        var expiry = DateTime.UtcNow.Add(validFor).ToString("yyyy-MM-ddTHH:mm:ssZ");
        var stringToSign = string.Join('\n', stack.StorageAccount, permissions, services, resourceTypes, "", expiry, "", "", version, "") + "\n";
        using var hmac = new HMACSHA256(Convert.FromBase64String(stack.StorageAccountKey));
        var sig = Convert.ToBase64String(hmac.ComputeHash(Encoding.UTF8.GetBytes(stringToSign)));
        return $"sv={version}&ss={services}&srt={resourceTypes}&sp={permissions}&se={Uri.EscapeDataString(expiry)}&sig={Uri.EscapeDataString(sig)}";
    }
}
