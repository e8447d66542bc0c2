// Keeps the deployment files honest (issue 2 item 10): docker-compose.yml must be valid for Debian's docker-compose
// 1.29.2 (`config -q`, offline: no Docker engine runs here), must refuse to start without its secrets, and every
// Dockerfile it names must exist and build from real paths of this repository — the COPY sources exist, and the
// restore layer copies the project file of every project the CLI depends on (a project added later without a COPY
// line would otherwise break `dotnet restore` inside the image only).
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace BatchVlm.Fleet.Tests.SystemTests;

public sealed partial class ComposeTests
{
    private static readonly string Root = FindRepoRoot();
    private static readonly Dictionary<string, string?> Secrets = new()
    {
        ["RABBITMQ_PASSWORD"] = "compose-test-rabbit",
        ["POSTGRES_PASSWORD"] = "compose-test-postgres",
    };

    [Fact]
    public async Task Config_WithSecrets_IsValidForDockerCompose129()
    {
        var r = await DockerCompose(Secrets, "config", "-q");
        Assert.True(r.ExitCode == 0, $"docker-compose config -q failed ({r.ExitCode}):\n{r.StdErr}{r.StdOut}");
    }

    [Fact]
    public async Task Config_WithoutSecrets_RefusesAndNamesTheMissingVariable()
    {
        var r = await DockerCompose(new Dictionary<string, string?> { ["RABBITMQ_PASSWORD"] = null, ["POSTGRES_PASSWORD"] = null }, "config", "-q");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Matches("RABBITMQ_PASSWORD|POSTGRES_PASSWORD", r.StdErr + r.StdOut);
    }

    [Fact]
    public async Task Config_Services_AreTheWholeFleet()
    {
        var r = await DockerCompose(Secrets, "config", "--services");
        Assert.Equal(0, r.ExitCode);
        var services = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Order().ToArray();
        Assert.Equal(["azurite", "coordinator", "postgres", "rabbitmq", "worker"], services);
    }

    [Fact]
    public async Task Config_Resolved_WorkerReservesAGpuAndEveryServiceWaitsForHealthyServers()
    {
        var r = await DockerCompose(Secrets, "config");
        Assert.Equal(0, r.ExitCode);
        var resolved = r.StdOut;
        // The worker reserves an NVIDIA GPU; the secrets were interpolated from the environment, not baked in.
        var worker = ServiceBlock(resolved, "worker");
        Assert.Contains("driver: nvidia", worker);
        Assert.Contains("- gpu", worker);
        Assert.Contains("Password=compose-test-postgres", worker);
        Assert.Contains("BATCHVLM_RabbitMq__Password: compose-test-rabbit", worker);
        foreach (var service in new[] { "coordinator", "worker" })
        {
            var block = ServiceBlock(resolved, service);
            foreach (var server in new[] { "rabbitmq", "postgres", "azurite" })
                Assert.Matches($@"{server}:\s*\n\s*condition: service_healthy", block);
        }
        foreach (var server in new[] { "rabbitmq", "postgres", "azurite" })
            Assert.Contains("healthcheck:", ServiceBlock(resolved, server));
        // Published ports stay on loopback.
        foreach (Match m in PortLine().Matches(File.ReadAllText(Path.Combine(Root, "docker-compose.yml"))))
            Assert.StartsWith("127.0.0.1:", m.Groups[1].Value);
    }

    [Fact]
    public void Dockerfiles_NamedByCompose_ExistAndCopyOnlyRealPaths()
    {
        var dockerfiles = NamedDockerfiles();
        Assert.Equal(["deploy/coordinator.Dockerfile", "deploy/worker.Dockerfile"], dockerfiles.Order().ToArray());
        foreach (var dockerfile in dockerfiles)
        {
            var path = Path.Combine(Root, dockerfile);
            Assert.True(File.Exists(path), $"{dockerfile} (named by docker-compose.yml) does not exist");
            var copies = CopySources(File.ReadAllText(path)).ToList();
            Assert.NotEmpty(copies);
            foreach (var source in copies)
                Assert.True(File.Exists(Path.Combine(Root, source)) || Directory.Exists(Path.Combine(Root, source)),
                    $"{dockerfile}: COPY source '{source}' does not exist in the repository");
        }
    }

    [Fact]
    public void Dockerfiles_RestoreLayer_CopiesEveryProjectTheCliNeeds()
    {
        var needed = ProjectClosure(Path.Combine(Root, "cli", "BatchVlm.Cli", "BatchVlm.Cli.csproj"))
            .Select(p => Path.GetRelativePath(Root, p).Replace('\\', '/'))
            .Order().ToList();
        Assert.Contains("contracts/BatchVlm.Contracts/BatchVlm.Contracts.csproj", needed);
        foreach (var dockerfile in NamedDockerfiles())
        {
            var text = File.ReadAllText(Path.Combine(Root, dockerfile));
            var copies = CopySources(text).ToList();
            foreach (var project in needed)
            {
                Assert.True(copies.Contains(project), $"{dockerfile}: the restore layer does not COPY {project}");
                var folder = project[..project.IndexOf('/', StringComparison.Ordinal)] + "/";
                Assert.True(copies.Contains(folder), $"{dockerfile}: the sources of {project} ({folder}) are not copied");
            }
            Assert.Contains("dotnet publish cli/BatchVlm.Cli/BatchVlm.Cli.csproj", text);
            foreach (var package in new[] { "libvips42", "libturbojpeg0", "libopenblas0" })
                Assert.Matches($@"apt-get install[^\n]*(\\\n[^\n]*)*\b{package}\b", text);
        }
    }

    [Fact]
    public void Dockerignore_KeepsStateAndBuildOutputsOutOfTheImages()
    {
        foreach (var dockerfile in NamedDockerfiles())
        {
            var ignore = Path.Combine(Root, dockerfile + ".dockerignore");
            Assert.True(File.Exists(ignore), $"{dockerfile}.dockerignore is missing");
            var lines = File.ReadAllLines(ignore).Select(l => l.Trim()).ToHashSet();
            // .state holds the local stack's generated credentials; it must never reach an image.
            Assert.Contains(".state/", lines);
            Assert.Contains("**/bin/", lines);
            Assert.Contains("**/obj/", lines);
        }
    }

    private static List<string> NamedDockerfiles() =>
        DockerfileLine().Matches(File.ReadAllText(Path.Combine(Root, "docker-compose.yml")))
            .Select(m => m.Groups[1].Value.Trim()).Distinct().ToList();

    /// <summary>Sources of every COPY without --from (multi-line instructions joined), as repository-relative paths.</summary>
    private static IEnumerable<string> CopySources(string dockerfile)
    {
        var joined = dockerfile.Replace("\\\n", " ");
        foreach (var line in joined.Split('\n'))
        {
            var parts = line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 3 || !parts[0].Equals("COPY", StringComparison.OrdinalIgnoreCase) || parts.Any(p => p.StartsWith("--from", StringComparison.Ordinal)))
                continue;
            foreach (var source in parts[1..^1].Where(p => !p.StartsWith("--", StringComparison.Ordinal)))
                yield return source;
        }
    }

    private static HashSet<string> ProjectClosure(string csproj)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>([Path.GetFullPath(csproj)]);
        while (stack.TryPop(out var project))
        {
            if (!seen.Add(project))
                continue;
            foreach (var reference in XDocument.Load(project).Descendants("ProjectReference"))
            {
                var include = reference.Attribute("Include")!.Value.Replace('\\', '/');
                stack.Push(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(project)!, include)));
            }
        }
        return seen;
    }

    private static string ServiceBlock(string resolvedConfig, string service)
    {
        var m = Regex.Match(resolvedConfig, $@"(?m)^  {service}:\n((?:^(?:    .*)?\n)+)");
        Assert.True(m.Success, $"service {service} not found in the resolved config");
        return m.Groups[1].Value;
    }

    private static async Task<FleetStack.Result> DockerCompose(IReadOnlyDictionary<string, string?> env, params string[] args)
    {
        var exe = new[] { "/usr/bin/docker-compose", "/usr/local/bin/docker-compose" }.FirstOrDefault(File.Exists);
        if (exe is null)
            Assert.Skip("docker-compose is not installed (Debian: apt-get install --no-install-recommends docker-compose)");
        var psi = new System.Diagnostics.ProcessStartInfo(exe!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Root,
        };
        foreach (var a in new[] { "-f", "docker-compose.yml" }.Concat(args))
            psi.ArgumentList.Add(a);
        // Nothing from the developer's shell may satisfy or change the interpolation.
        foreach (var key in new[] { "RABBITMQ_USER", "POSTGRES_USER", "POSTGRES_DB", "STORAGE_CONNECTION_STRING", "BATCHVLM_TAG", "BATCHVLM_WORKER_TASKS", "COMPOSE_FILE" })
            psi.Environment.Remove(key);
        foreach (var (k, v) in env)
        {
            if (v is null)
                psi.Environment.Remove(k);
            else
                psi.Environment[k] = v;
        }
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(cts.Token);
        return new FleetStack.Result(p.ExitCode, await stdout, await stderr);
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BatchVlm.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("BatchVlm.sln not found above the test binary");
    }

    [GeneratedRegex(@"(?m)^\s*dockerfile:\s*(\S+)\s*$")]
    private static partial Regex DockerfileLine();

    [GeneratedRegex(@"(?m)^\s*-\s*""([^""]+:\d+)""\s*$")]
    private static partial Regex PortLine();
}
