// scripts/stack.sh as the tests, CI and the demo use it: `up` is idempotent and fast when the stack runs, `status`
// reports every service up, the settings file holds generated credentials (not Azurite's public key) and is private,
// and every server listens on loopback only (issue 2 item 9).
using System.Diagnostics;
using BatchVlm.Fleet.Tests.Infrastructure;

namespace BatchVlm.Fleet.Tests.Storage;

public sealed class StackScriptTests(StackFixture stack) : IClassFixture<StackFixture>
{
    [Fact]
    public async Task Up_WhenAlreadyUp_IsFastAndReportsEveryServiceUp()
    {
        var clock = Stopwatch.StartNew();
        var (code, output) = await StackFixture.RunStackAsync(["up"], ct: TestContext.Current.CancellationToken);
        Assert.Equal(0, code);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"`up` on a running stack took {clock.Elapsed.TotalSeconds:F1} s");
        foreach (var service in new[] { "rabbitmq", "postgres", "azurite" })
            Assert.Matches($@"(?m)^{service}\s+up\s+pid \d+", output);
        var (statusCode, _) = await StackFixture.RunStackAsync(["status"], ct: TestContext.Current.CancellationToken);
        Assert.Equal(0, statusCode);
    }

    [Fact]
    public void Settings_GeneratedCredentials_PrivateFileNoPublicKey()
    {
        var path = Path.Combine(StackFixture.StateFolderPath, "batchvlm.settings.json");
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.DoesNotContain("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==", stack.StorageConnectionString);
        Assert.Contains("BlobEndpoint=http://127.0.0.1:10009/devstoreaccount1", stack.StorageConnectionString);
        Assert.Equal("batchvlm", stack.RabbitUser);
        Assert.True(stack.RabbitPassword.Length >= 24);
        Assert.Contains("Port=5439", stack.PostgresConnectionString);
        Assert.DoesNotContain("Password=batchvlm;", stack.PostgresConnectionString);
    }

    [Fact]
    public async Task Listeners_StackPorts_BoundToLoopbackOnly()
    {
        var ct = TestContext.Current.CancellationToken;
        var ss = Process.Start(new ProcessStartInfo("ss", ["-ltnH"]) { RedirectStandardOutput = true })!;
        var text = await ss.StandardOutput.ReadToEndAsync(ct);
        await ss.WaitForExitAsync(ct);
        var locals = text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3]).ToList();
        foreach (var port in new[] { 5679, 15679, 25679, 5439, 10009 })
        {
            var bound = locals.Where(a => a.EndsWith($":{port}", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(bound);
            Assert.All(bound, a => Assert.True(a.StartsWith("127.0.0.1:", StringComparison.Ordinal) || a.StartsWith("[::1]:", StringComparison.Ordinal),
                $"port {port} is bound to {a}"));
        }
    }

    [Fact]
    public async Task RabbitMq_GuestUser_IsGone()
    {
        using var http = new HttpClient();
        var ct = TestContext.Current.CancellationToken;
        using var guest = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{stack.RabbitManagementPort}/api/whoami");
        guest.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String("guest:guest"u8.ToArray()));
        Assert.Equal(401, (int)(await http.SendAsync(guest, ct)).StatusCode);
        using var ours = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{stack.RabbitManagementPort}/api/whoami");
        ours.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{stack.RabbitUser}:{stack.RabbitPassword}")));
        Assert.Equal(200, (int)(await http.SendAsync(ours, ct)).StatusCode);
    }
}
