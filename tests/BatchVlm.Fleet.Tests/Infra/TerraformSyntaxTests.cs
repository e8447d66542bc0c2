// Offline checks of infra/terraform (the Azure deployment of the fleet). No terraform binary, provider or Azure access
// exists here (shared/research/infra-probe.md §6), so this is what stands in for `terraform validate`:
//   1. every .tf file parses with HashiCorp's HCL parser (@cdktf/hcl2json 0.21.0, run by infra/terraform/tools/check.mjs;
//      installed on demand into <state>/tools/hcl2json with `npm install --prefix`, as scripts/stack.sh installs
//      Azurite), and a deliberately broken file is rejected with its position — the checker is proven to check;
//   2. structure, on the parsed JSON: every module folder has main/variables/outputs, module sources exist, every
//      variable has a description and a type, every module input is a variable of that module and every required one
//      is given, every var./local./module./resource reference names something declared, outputs that carry sensitive
//      values are marked sensitive (terraform refuses them otherwise), every folder pins terraform >= 1.6 and the
//      providers it uses (azurerm ~> 4.x);
//   3. the fleet's contract with the code: the settings keys the Deployments get are the ones the .NET configuration
//      reads, workers ask for one GPU and tolerate the GPU pool's taint, RabbitMQ's consumer_timeout exceeds
//      Worker:MaxShardDuration.
// Not checked (needs terraform + providers + Azure): attribute names against provider schemas, plans, applies.
using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BatchVlm.Storage.Configuration;
using BatchVlm.Worker;

namespace BatchVlm.Fleet.Tests.Infra;

public sealed partial class TerraformSyntaxTests
{
    private const string Hcl2JsonVersion = "0.21.0";
    private static readonly string[] ExpectedModules = ["fleet", "gpu-pool", "network", "postgres", "rabbitmq", "storage"];
    private static readonly string[] ExpectedEnvs = ["dev", "prod"];
    // The composite module every env root calls; it calls each of ExpectedModules.
    private const string CompositeModule = "batchvlm";
    private static readonly string[] ModuleMetaArguments = ["source", "version", "count", "for_each", "providers", "depends_on"];

    private static readonly string Root = StateFolder.FindRepositoryRoot()
        ?? throw new InvalidOperationException("BatchVlm.sln not found above the test binaries.");
    private static readonly string TerraformDir = Path.Combine(Root, "infra", "terraform");
    private static readonly string CheckScript = Path.Combine(TerraformDir, "tools", "check.mjs");

    private static readonly SemaphoreSlim s_gate = new(1, 1);
    private static string? s_prefix;
    private static Dictionary<string, JsonObject>? s_parsed;

    [Fact]
    public async Task Check_EveryTfFile_ParsesWithHcl2Json()
    {
        var parsed = await ParsedAsync();
        var onDisk = Directory.EnumerateFiles(TerraformDir, "*.tf", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}.terraform{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(RepoRelative).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(onDisk, parsed.Keys.Order(StringComparer.Ordinal).ToArray());
        foreach (var module in ExpectedModules)
            Assert.Contains($"infra/terraform/modules/{module}/main.tf", parsed.Keys);
        Assert.Contains($"infra/terraform/modules/{CompositeModule}/main.tf", parsed.Keys);
        foreach (var env in ExpectedEnvs)
            Assert.Contains($"infra/terraform/envs/{env}/main.tf", parsed.Keys);
    }

    [Fact]
    public async Task Check_BrokenSnippet_IsRejectedWithFileAndPosition()
    {
        var prefix = await Hcl2JsonPrefixAsync();
        var dir = Directory.CreateTempSubdirectory("batchvlm-tf-check-");
        try
        {
            var ct = TestContext.Current.CancellationToken;
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "good.tf"), "variable \"x\" {\n  type        = string\n  description = \"fine\"\n}\n", ct);
            // Line 2: an attribute without a value. Line 5: a block that is never closed.
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "bad.tf"), "variable \"y\" {\n  type = \n}\n\nresource \"azurerm_resource_group\" \"rg\" {\n  name = \"x\"\n", ct);
            var r = await RunAsync("node", [CheckScript, "--prefix", prefix, dir.FullName], dir.FullName);
            Assert.Equal(1, r.ExitCode);
            Assert.Matches(@"(?m)^bad\.tf:2,10: Invalid expression", r.StdErr);
            Assert.DoesNotContain("good.tf", r.StdErr);

            File.Delete(Path.Combine(dir.FullName, "bad.tf"));
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "unclosed.tf"), "locals {\n  a = 1\n\nmodule \"m\" {\n  source = \"./m\"\n}\n", ct);
            r = await RunAsync("node", [CheckScript, "--prefix", prefix, dir.FullName], dir.FullName);
            Assert.Equal(1, r.ExitCode);
            Assert.Matches(@"(?m)^unclosed\.tf:\d+,\d+: ", r.StdErr);

            File.Delete(Path.Combine(dir.FullName, "unclosed.tf"));
            r = await RunAsync("node", [CheckScript, "--prefix", prefix, dir.FullName], dir.FullName);
            Assert.True(r.ExitCode == 0, $"a valid file was rejected: {r.StdErr}");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Modules_EveryFolder_HasMainVariablesOutputs()
    {
        var modules = Directory.GetDirectories(Path.Combine(TerraformDir, "modules")).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(ExpectedModules.Append(CompositeModule).Order(), modules);
        foreach (var module in modules)
            foreach (var file in new[] { "main.tf", "variables.tf", "outputs.tf" })
                Assert.True(File.Exists(Path.Combine(TerraformDir, "modules", module!, file)), $"modules/{module} has no {file}");
        foreach (var env in ExpectedEnvs)
            foreach (var file in new[] { "main.tf", "variables.tf", "outputs.tf", "providers.tf" })
                Assert.True(File.Exists(Path.Combine(TerraformDir, "envs", env, file)), $"envs/{env} has no {file}");
        Assert.True(File.Exists(Path.Combine(TerraformDir, "README.md")), "infra/terraform/README.md is missing");
    }

    [Fact]
    public async Task ModuleBlocks_Source_PointsAtAnExistingModuleFolder()
    {
        var folders = Folders(await ParsedAsync());
        var calls = 0;
        foreach (var (folder, blocks) in folders)
            foreach (var (name, body) in Blocks(blocks, "module"))
            {
                calls++;
                var source = body["source"]?.GetValue<string>();
                Assert.False(string.IsNullOrEmpty(source), $"{folder}: module \"{name}\" has no source");
                Assert.True(source!.StartsWith("../", StringComparison.Ordinal) || source.StartsWith("./", StringComparison.Ordinal),
                    $"{folder}: module \"{name}\" source '{source}' is not a local path");
                var target = Path.GetFullPath(Path.Combine(Root, folder, source));
                Assert.True(Directory.Exists(target), $"{folder}: module \"{name}\" source '{source}' does not exist");
                Assert.True(Directory.EnumerateFiles(target, "*.tf").Any(), $"{folder}: module \"{name}\" source '{source}' holds no .tf file");
            }
        Assert.True(calls >= ExpectedModules.Length + ExpectedEnvs.Length, $"only {calls} module calls found");
        // Every env root calls the composite module, and the composite module calls every leaf module.
        var composite = $"infra/terraform/modules/{CompositeModule}";
        foreach (var env in ExpectedEnvs)
            Assert.Contains(composite, Blocks(folders[$"infra/terraform/envs/{env}"], "module").Select(m => ModuleFolder($"infra/terraform/envs/{env}", m.Body["source"]!.GetValue<string>())));
        var called = Blocks(folders[composite], "module").Select(m => ModuleFolder(composite, m.Body["source"]!.GetValue<string>())).ToHashSet();
        foreach (var module in ExpectedModules)
            Assert.Contains($"infra/terraform/modules/{module}", called);
    }

    [Fact]
    public async Task Variables_Every_HasDescriptionAndType_AndOutputsADescription()
    {
        var folders = Folders(await ParsedAsync());
        var failures = new List<string>();
        foreach (var (folder, blocks) in folders)
        {
            foreach (var (name, body) in Blocks(blocks, "variable"))
            {
                if (body["description"] is not JsonValue d || string.IsNullOrWhiteSpace(d.GetValue<string>()))
                    failures.Add($"{folder}: variable \"{name}\" has no description");
                if (body["type"] is not JsonValue t || string.IsNullOrWhiteSpace(t.GetValue<string>()))
                    failures.Add($"{folder}: variable \"{name}\" has no type");
            }
            foreach (var (name, body) in Blocks(blocks, "output"))
                if (body["description"] is not JsonValue d || string.IsNullOrWhiteSpace(d.GetValue<string>()))
                    failures.Add($"{folder}: output \"{name}\" has no description");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public async Task ModuleCalls_EveryInput_IsAVariableOfTheModule_AndEveryRequiredOneIsGiven()
    {
        var folders = Folders(await ParsedAsync());
        var failures = new List<string>();
        foreach (var (folder, blocks) in folders)
            foreach (var (name, body) in Blocks(blocks, "module"))
            {
                var target = ModuleFolder(folder, body["source"]!.GetValue<string>());
                Assert.True(folders.ContainsKey(target), $"{folder}: module \"{name}\" → {target} was not parsed");
                var variables = Blocks(folders[target], "variable").ToDictionary(v => v.Name, v => v.Body);
                var inputs = body.Select(p => p.Key).Where(k => !ModuleMetaArguments.Contains(k)).ToHashSet();
                foreach (var input in inputs.Where(i => !variables.ContainsKey(i)))
                    failures.Add($"{folder}: module \"{name}\" passes '{input}', which {target} does not declare");
                foreach (var (variable, decl) in variables)
                    if (!decl.ContainsKey("default") && !inputs.Contains(variable))
                        failures.Add($"{folder}: module \"{name}\" does not pass required variable '{variable}' of {target}");
            }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public async Task References_VarLocalModuleAndResource_NameSomethingDeclared()
    {
        var folders = Folders(await ParsedAsync());
        var failures = new List<string>();
        var checkedRefs = 0;
        foreach (var (folder, blocks) in folders)
        {
            var variables = Blocks(blocks, "variable").Select(v => v.Name).ToHashSet();
            var locals = blocks.SelectMany(b => (b["locals"] as JsonArray ?? []).OfType<JsonObject>()).SelectMany(o => o.Select(p => p.Key)).ToHashSet();
            var modules = Blocks(blocks, "module").ToDictionary(m => m.Name, m => ModuleFolder(folder, m.Body["source"]!.GetValue<string>()));
            var resources = TypedBlocks(blocks, "resource").Select(r => $"{r.Type}.{r.Name}").ToHashSet();
            var dataSources = TypedBlocks(blocks, "data").Select(r => $"{r.Type}.{r.Name}").ToHashSet();
            foreach (var text in blocks.SelectMany(Strings).Where(s => s.Contains("${", StringComparison.Ordinal)))
            {
                foreach (Match m in VarRef().Matches(text))
                {
                    checkedRefs++;
                    if (!variables.Contains(m.Groups[1].Value))
                        failures.Add($"{folder}: var.{m.Groups[1].Value} is not declared");
                }
                foreach (Match m in LocalRef().Matches(text))
                {
                    checkedRefs++;
                    if (!locals.Contains(m.Groups[1].Value))
                        failures.Add($"{folder}: local.{m.Groups[1].Value} is not declared");
                }
                foreach (Match m in ModuleRef().Matches(text))
                {
                    checkedRefs++;
                    var (module, output) = (m.Groups[1].Value, m.Groups[2].Value);
                    if (!modules.TryGetValue(module, out var target))
                        failures.Add($"{folder}: module.{module} is not declared");
                    else if (!Blocks(folders[target], "output").Any(o => o.Name == output))
                        failures.Add($"{folder}: module.{module}.{output} is not an output of {target}");
                }
                foreach (Match m in ResourceRef().Matches(text))
                {
                    checkedRefs++;
                    var key = $"{m.Groups[2].Value}.{m.Groups[3].Value}";
                    if (!(m.Groups[1].Success ? dataSources : resources).Contains(key))
                        failures.Add($"{folder}: {m.Groups[1].Value}{key} is not declared");
                }
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(checkedRefs > 100, $"only {checkedRefs} references found: the scan is not seeing the expressions");
    }

    [Fact]
    public async Task Secrets_AreSensitiveWithoutDefaults_AndOutputsCarryingThemAreSensitive()
    {
        var folders = Folders(await ParsedAsync());
        var failures = new List<string>();
        // Module outputs first (a module output marked sensitive makes module.X.Y sensitive in its caller).
        var sensitiveOutputs = folders.ToDictionary(f => f.Key,
            f => Blocks(f.Value, "output").Where(o => IsTrue(o.Body["sensitive"])).Select(o => o.Name).ToHashSet());
        foreach (var (folder, blocks) in folders)
        {
            var sensitiveVars = new HashSet<string>();
            foreach (var (name, body) in Blocks(blocks, "variable"))
            {
                var sensitive = IsTrue(body["sensitive"]);
                if (sensitive)
                    sensitiveVars.Add(name);
                if (SecretName().IsMatch(name) && !sensitive)
                    failures.Add($"{folder}: variable \"{name}\" looks secret but is not marked sensitive");
                if (sensitive && body.TryGetPropertyValue("default", out var d) && d is not null)
                    failures.Add($"{folder}: sensitive variable \"{name}\" has a default");
            }
            var modules = Blocks(blocks, "module").ToDictionary(m => m.Name, m => ModuleFolder(folder, m.Body["source"]!.GetValue<string>()));
            foreach (var (name, body) in Blocks(blocks, "output"))
            {
                if (IsTrue(body["sensitive"]))
                    continue;
                var value = string.Join("\n", Strings(body["value"]));
                var carries = VarRef().Matches(value).Any(m => sensitiveVars.Contains(m.Groups[1].Value))
                    || ModuleRef().Matches(value).Any(m => modules.TryGetValue(m.Groups[1].Value, out var t) && sensitiveOutputs[t].Contains(m.Groups[2].Value))
                    || value.Contains("random_password.", StringComparison.Ordinal)
                    || value.Contains(".kube_config", StringComparison.Ordinal);
                if (carries)
                    failures.Add($"{folder}: output \"{name}\" carries a sensitive value but is not marked sensitive (terraform rejects it)");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        // The generated credentials never appear as literals anywhere in the configuration.
        foreach (var file in Directory.EnumerateFiles(TerraformDir, "*", SearchOption.AllDirectories))
            Assert.DoesNotMatch(@"(?i)(password|secret|token)\s*=\s*""[^""$]{6,}""", File.ReadAllText(file));
    }

    [Fact]
    public async Task Folders_PinTerraformAndEveryProviderTheyUse()
    {
        var folders = Folders(await ParsedAsync());
        var failures = new List<string>();
        foreach (var (folder, blocks) in folders)
        {
            var terraform = blocks.SelectMany(b => (b["terraform"] as JsonArray ?? []).OfType<JsonObject>()).ToList();
            if (terraform.Count != 1)
            {
                failures.Add($"{folder}: {terraform.Count} terraform blocks (want exactly one)");
                continue;
            }
            if (terraform[0]["required_version"]?.GetValue<string>() != ">= 1.6")
                failures.Add($"{folder}: required_version is not \">= 1.6\"");
            var providers = (terraform[0]["required_providers"] as JsonArray ?? []).OfType<JsonObject>().SelectMany(o => o)
                .ToDictionary(p => p.Key, p => p.Value as JsonObject);
            var used = TypedBlocks(blocks, "resource").Concat(TypedBlocks(blocks, "data")).Select(r => r.Type.Split('_')[0]).ToHashSet();
            foreach (var provider in used)
                if (!providers.TryGetValue(provider, out var req) || req?["source"]?.GetValue<string>() != $"hashicorp/{provider}" || req["version"] is null)
                    failures.Add($"{folder}: provider {provider} is used but not pinned in required_providers");
            if (providers.TryGetValue("azurerm", out var azurerm) && azurerm?["version"]?.GetValue<string>() is { } v && !v.StartsWith("~> 4.", StringComparison.Ordinal))
                failures.Add($"{folder}: azurerm is pinned to '{v}', not ~> 4.x");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        foreach (var env in ExpectedEnvs)
        {
            var blocks = folders[$"infra/terraform/envs/{env}"];
            var providerBlocks = blocks.Select(b => b["provider"] as JsonObject).OfType<JsonObject>().SelectMany(o => o).Select(p => p.Key).ToHashSet();
            Assert.Contains("azurerm", providerBlocks);
            Assert.Contains("kubernetes", providerBlocks);
            Assert.NotNull(blocks.SelectMany(b => (b["terraform"] as JsonArray ?? []).OfType<JsonObject>()).Single()["backend"]);
        }
    }

    [Fact]
    public async Task Fleet_SettingsWorkersAndBroker_MatchWhatTheCodeExpects()
    {
        var folders = Folders(await ParsedAsync());
        var fleet = folders["infra/terraform/modules/fleet"];
        var fleetText = string.Join("\n", fleet.SelectMany(Strings).Concat(fleet.SelectMany(Keys)));
        // The BATCHVLM_<Section>__<Key> names BatchVlmConfiguration maps onto ConnectionStrings:Postgres, RabbitMq:*,
        // Storage:AccountUrl (BlobStorageOptions.AccountUrl).
        foreach (var key in new[] { "BATCHVLM_ConnectionStrings__Postgres", "BATCHVLM_RabbitMq__Host", "BATCHVLM_RabbitMq__Port",
                     "BATCHVLM_RabbitMq__Username", "BATCHVLM_RabbitMq__Password", "BATCHVLM_Storage__AccountUrl" })
            Assert.Contains(key, fleetText);

        var worker = TypedBlocks(fleet, "resource").Single(r => r.Type == "kubernetes_deployment_v1" && r.Name == "worker").Body;
        var podSpec = worker["spec"]![0]!["template"]![0]!["spec"]![0]!.AsObject();
        var container = podSpec["container"]![0]!.AsObject();
        Assert.Equal("1", container["resources"]![0]!["limits"]!["nvidia.com/gpu"]!.GetValue<string>());
        Assert.Equal(["worker", "--tasks"], container["args"]!.AsArray().Take(2).Select(a => a!.GetValue<string>()));
        // Every taint the GPU pool can carry (its own and the Spot one) is tolerated by the workers and the device plugin.
        var gpuPoolFiles = folders["infra/terraform/modules/gpu-pool"];
        var gpuLocals = gpuPoolFiles.SelectMany(b => (b["locals"] as JsonArray ?? []).OfType<JsonObject>()).SelectMany(o => o).ToDictionary(p => p.Key, p => p.Value);
        var nodePool = TypedBlocks(gpuPoolFiles, "resource").Single(r => r.Type == "azurerm_kubernetes_cluster_node_pool").Body;
        Assert.Contains("local.gpu_taint", nodePool["node_taints"]!.GetValue<string>());
        var taints = new List<string> { gpuLocals["gpu_taint"]!.GetValue<string>() };
        taints.AddRange(TaintLiteral().Matches(gpuLocals["spot_taints"]!.GetValue<string>()).Select(m => m.Value));
        Assert.Equal(2, taints.Count);
        var devicePlugin = TypedBlocks(gpuPoolFiles, "resource").Single(r => r.Type == "kubernetes_daemon_set_v1").Body;
        var pluginSpec = devicePlugin["spec"]![0]!["template"]![0]!["spec"]![0]!.AsObject();
        foreach (var (who, spec) in new[] { ("worker", podSpec), ("device plugin", pluginSpec) })
        {
            var tolerations = spec["toleration"]!.AsArray().Select(t => t!.AsObject()).ToList();
            foreach (var taint in taints)
                Assert.True(tolerations.Any(t => Tolerates(t, taint)), $"the {who} does not tolerate the GPU pool taint {taint}");
        }

        var coordinator = TypedBlocks(fleet, "resource").Single(r => r.Type == "kubernetes_deployment_v1" && r.Name == "coordinator").Body;
        Assert.Equal(1, coordinator["spec"]![0]!["replicas"]!.GetValue<int>());

        // The hand-back grace period and the broker's consumer_timeout bracket the worker's own time limit.
        var fleetVars = Blocks(fleet, "variable").ToDictionary(v => v.Name, v => v.Body);
        Assert.True(fleetVars["worker_termination_grace_period_seconds"]["default"]!.GetValue<int>() >= 60);
        var rabbitVars = Blocks(folders["infra/terraform/modules/rabbitmq"], "variable").ToDictionary(v => v.Name, v => v.Body);
        var consumerTimeout = TimeSpan.FromMilliseconds(rabbitVars["consumer_timeout_ms"]["default"]!.GetValue<long>());
        Assert.True(consumerTimeout > new WorkerOptions().MaxShardDuration,
            $"consumer_timeout {consumerTimeout} is not above Worker:MaxShardDuration {new WorkerOptions().MaxShardDuration}");
        var rabbitText = string.Join("\n", folders["infra/terraform/modules/rabbitmq"].SelectMany(Strings));
        Assert.Contains("consumer_timeout = ${var.consumer_timeout_ms}", rabbitText);
    }

    // --- parsing -----------------------------------------------------------------------------------------------------

    /// <summary>Repository-relative path (forward slashes) → parsed JSON of every .tf under infra/terraform.</summary>
    private static async Task<Dictionary<string, JsonObject>> ParsedAsync()
    {
        if (s_parsed is not null)
            return s_parsed;
        var prefix = await Hcl2JsonPrefixAsync();
        var r = await RunAsync("node", [CheckScript, "--json", "--prefix", prefix, "infra/terraform"], Root);
        Assert.True(r.ExitCode == 0, $"check.mjs rejected infra/terraform (exit {r.ExitCode}):\n{r.StdErr}");
        var files = JsonNode.Parse(r.StdOut)!["files"]!.AsObject();
        s_parsed = files.ToDictionary(p => p.Key, p => p.Value!.AsObject());
        return s_parsed;
    }

    /// <summary>The npm prefix holding @cdktf/hcl2json, installed on first use into &lt;tools&gt;/hcl2json (its own
    /// prefix, so it never re-resolves the Azurite install stack.sh keeps in &lt;tools&gt;/npm). Installed into a
    /// scratch folder and renamed, so concurrent test runs never see half an install.</summary>
    private static async Task<string> Hcl2JsonPrefixAsync()
    {
        if (s_prefix is not null)
            return s_prefix;
        await s_gate.WaitAsync();
        try
        {
            if (s_prefix is not null)
                return s_prefix;
            var tools = Environment.GetEnvironmentVariable("BATCHVLM_TOOLS") is { Length: > 0 } t ? t : Path.Combine(StateFolder.Resolve(), "tools");
            var prefix = Path.Combine(tools, "hcl2json");
            if (!IsInstalled(prefix))
            {
                if (FindOnPath("npm") is null || FindOnPath("node") is null)
                    Assert.Skip("npm/node are not installed: @cdktf/hcl2json (the offline HCL parser) cannot be installed (Debian: apt-get install npm)");
                var scratch = $"{prefix}.tmp-{Environment.ProcessId}";
                if (Directory.Exists(scratch))
                    Directory.Delete(scratch, recursive: true);
                Directory.CreateDirectory(scratch);
                await File.WriteAllTextAsync(Path.Combine(scratch, "package.json"), "{\"name\":\"batchvlm-hcl2json\",\"private\":true}\n");
                var r = await RunAsync("npm", ["install", "--prefix", scratch, "--no-audit", "--no-fund", "--loglevel=error", $"@cdktf/hcl2json@{Hcl2JsonVersion}"], scratch);
                Assert.True(r.ExitCode == 0, $"npm install @cdktf/hcl2json@{Hcl2JsonVersion} failed ({r.ExitCode}):\n{r.StdErr}{r.StdOut}");
                if (Directory.Exists(prefix))
                    Directory.Delete(prefix, recursive: true);
                try
                {
                    Directory.Move(scratch, prefix);
                }
                catch (IOException) when (IsInstalled(prefix))
                {
                    Directory.Delete(scratch, recursive: true); // another run finished first
                }
                Assert.True(IsInstalled(prefix), $"@cdktf/hcl2json {Hcl2JsonVersion} not found in {prefix} after npm install");
            }
            s_prefix = prefix;
            return prefix;
        }
        finally
        {
            s_gate.Release();
        }
    }

    private static bool IsInstalled(string prefix)
    {
        var package = Path.Combine(prefix, "node_modules", "@cdktf", "hcl2json", "package.json");
        return File.Exists(package) && JsonNode.Parse(File.ReadAllText(package))?["version"]?.GetValue<string>() == Hcl2JsonVersion;
    }

    private static string? FindOnPath(string exe) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, exe)).FirstOrDefault(File.Exists);

    private sealed record ProcessResult(int ExitCode, string StdOut, string StdErr);

    private static async Task<ProcessResult> RunAsync(string exe, IEnumerable<string> args, string workingDirectory)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{exe} {string.Join(' ', psi.ArgumentList)} did not finish in 3 minutes");
        }
        return new ProcessResult(p.ExitCode, await stdout, await stderr);
    }

    // --- JSON shape of hcl2json: block type → label(s) → [body, ...] ------------------------------------------------------

    /// <summary>Folder (repository-relative) → the parsed files in it.</summary>
    private static Dictionary<string, List<JsonObject>> Folders(Dictionary<string, JsonObject> parsed) =>
        parsed.GroupBy(p => p.Key[..p.Key.LastIndexOf('/')]).ToDictionary(g => g.Key, g => g.Select(p => p.Value).ToList());

    private static string ModuleFolder(string folder, string source) =>
        RepoRelative(Path.GetFullPath(Path.Combine(Root, folder, source))).TrimEnd('/');

    private static IEnumerable<(string Name, JsonObject Body)> Blocks(IEnumerable<JsonObject> files, string kind) =>
        from file in files
        where file[kind] is JsonObject
        from named in file[kind]!.AsObject()
        from body in named.Value!.AsArray().OfType<JsonObject>()
        select (named.Key, body);

    private static IEnumerable<(string Type, string Name, JsonObject Body)> TypedBlocks(IEnumerable<JsonObject> files, string kind) =>
        from file in files
        where file[kind] is JsonObject
        from type in file[kind]!.AsObject()
        from named in type.Value!.AsObject()
        from body in named.Value!.AsArray().OfType<JsonObject>()
        select (type.Key, named.Key, body);

    private static IEnumerable<string> Strings(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => [s],
        JsonObject o => o.SelectMany(p => Strings(p.Value)),
        JsonArray a => a.SelectMany(Strings),
        _ => [],
    };

    private static IEnumerable<string> Keys(JsonNode? node) => node switch
    {
        JsonObject o => o.SelectMany(p => Keys(p.Value).Prepend(p.Key)),
        JsonArray a => a.SelectMany(Keys),
        _ => [],
    };

    /// <summary>Whether a Kubernetes toleration (key, operator Exists|Equal, value, effect) tolerates key=value:effect.</summary>
    private static bool Tolerates(JsonObject toleration, string taint)
    {
        var m = Regex.Match(taint, "^([^=]+)=([^:]*):(.+)$");
        Assert.True(m.Success, $"taint '{taint}' is not key=value:effect");
        var op = toleration["operator"]?.GetValue<string>() ?? "Equal";
        return toleration["key"]?.GetValue<string>() == m.Groups[1].Value
            && (op == "Exists" || toleration["value"]?.GetValue<string>() == m.Groups[2].Value)
            && (toleration["effect"]?.GetValue<string>() is null or "" || toleration["effect"]!.GetValue<string>() == m.Groups[3].Value);
    }

    private static bool IsTrue(JsonNode? node) => node is JsonValue v && v.TryGetValue<bool>(out var b) && b;

    private static string RepoRelative(string path) => Path.GetRelativePath(Root, path).Replace('\\', '/');

    [GeneratedRegex(@"(?<![\w.])var\.([A-Za-z_][\w-]*)")]
    private static partial Regex VarRef();

    [GeneratedRegex(@"(?<![\w.])local\.([A-Za-z_][\w-]*)")]
    private static partial Regex LocalRef();

    [GeneratedRegex(@"(?<![\w.])module\.([A-Za-z_][\w-]*)\.([A-Za-z_][\w-]*)")]
    private static partial Regex ModuleRef();

    [GeneratedRegex(@"(?<![\w.])(data\.)?((?:azurerm|kubernetes|random)_\w+)\.([A-Za-z_][\w-]*)")]
    private static partial Regex ResourceRef();

    [GeneratedRegex(@"[\w./-]+=[\w.-]*:(NoSchedule|PreferNoSchedule|NoExecute)")]
    private static partial Regex TaintLiteral();

    [GeneratedRegex("password|secret|token|connection_string")]
    private static partial Regex SecretName();
}
