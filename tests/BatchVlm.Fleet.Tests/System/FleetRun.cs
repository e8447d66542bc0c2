// One system test's view of the fleet: its own log folder, the fleet processes it starts (coordinator, workers) and
// the CLI calls it makes (submit, status --json, results, upload), all talking to the real local stack through the
// isolated database and virtual host of FleetStack; plus the database reads the assertions need (jobs, shards,
// inspect_results and item_errors as created by storage/BatchVlm.Storage/Postgres/Migrations).
// Disposing kills every process the test started, so a failing test never leaves a worker consuming the next
// test's shards.
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Npgsql;

namespace BatchVlm.Fleet.Tests.SystemTests;

public sealed class FleetRun : IAsyncDisposable
{
    private readonly List<FleetProcess> _processes = [];
    private int _cliCalls;

    public FleetStack Stack { get; }
    public string Name { get; }
    public string LogDir { get; }
    /// <summary>Environment of every process and CLI call of this run (tests add lease/interval settings here).</summary>
    public Dictionary<string, string?> Environment { get; }

    public FleetRun(FleetStack stack, string name)
    {
        stack.RequireReady();
        Stack = stack;
        Name = name;
        LogDir = Path.Combine(stack.LogRoot, name);
        Directory.CreateDirectory(LogDir);
        Environment = stack.FleetEnvironment();
        // Short leases and a fast lease monitor so a dead worker's shard comes back in seconds, not minutes.
        foreach (var (k, v) in FastLeases)
            Environment[k] = v;
    }

    /// <summary>Configuration keys (BATCHVLM_ environment form) that make lease expiry fast for tests.</summary>
    public static IReadOnlyDictionary<string, string?> FastLeases { get; } = new Dictionary<string, string?>
    {
        ["BATCHVLM_Coordinator__LeaseCheckInterval"] = "00:00:01",
        ["BATCHVLM_Worker__LeaseDuration"] = "00:00:06",
        ["BATCHVLM_Worker__LeaseRenewInterval"] = "00:00:02",
    };

    public FleetProcess StartCoordinator(string name = "coordinator") => Start(name, ["coordinator"]);

    public FleetProcess StartWorker(string name, params string[] extraArgs) => Start(name, ["worker", "--tasks", "inspect", .. extraArgs]);

    public FleetProcess Start(string name, string[] args)
    {
        var p = FleetProcess.Start(name, Stack.CliDll, args, LogDir, Stack.RepoRoot, Environment);
        _processes.Add(p);
        return p;
    }

    /// <summary>Values the test itself passes on a command line (a SAS signature in an input URL): masked in the command
    /// line this class writes into the CLI logs, so the secret search finds only what the fleet printed.</summary>
    public List<string> SecretsToMask { get; } = [];

    /// <summary>Runs `batchvlm args...` to completion; its output is kept in the run's log folder too.</summary>
    public async Task<FleetStack.Result> Cli(TimeSpan timeout, params string[] args)
    {
        var r = await Stack.Run("dotnet", [Stack.CliDll, .. args], timeout, Environment);
        var n = Interlocked.Increment(ref _cliCalls);
        await File.WriteAllTextAsync(Path.Combine(LogDir, $"cli-{n:D3}-{args.FirstOrDefault() ?? "none"}.log"),
            $"$ batchvlm {Mask(string.Join(' ', args))}\nexit {r.ExitCode}\n--- stdout\n{r.StdOut}\n--- stderr\n{r.StdErr}");
        return r;
    }

    private string Mask(string text)
    {
        foreach (var secret in SecretsToMask)
            text = text.Replace(secret, "***", StringComparison.Ordinal).Replace(Uri.EscapeDataString(secret), "***", StringComparison.Ordinal);
        return text;
    }

    public Task<FleetStack.Result> Cli(params string[] args) => Cli(TimeSpan.FromMinutes(2), args);

    /// <summary>`batchvlm submit --task inspect --input INPUT --shard-size N`; returns the job id (last line of stdout).</summary>
    public async Task<Guid> SubmitInspect(string input, int shardSize)
    {
        var r = await Cli(TimeSpan.FromMinutes(3), "submit", "--task", "inspect", "--input", input, "--shard-size", shardSize.ToString());
        Assert.True(r.ExitCode == 0, $"submit failed ({r.ExitCode}):\n{r.StdErr}\n{r.StdOut}");
        var last = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        Assert.True(Guid.TryParse(last, out var id), $"submit's last line is not a job id: '{last}'");
        return id;
    }

    /// <summary>`batchvlm status JOB --json`, parsed.</summary>
    public async Task<JsonObject> StatusJson(Guid job)
    {
        var r = await Cli("status", job.ToString(), "--json");
        Assert.True(r.ExitCode == 0, $"status --json failed ({r.ExitCode}):\n{r.StdErr}\n{r.StdOut}");
        return JsonNode.Parse(r.StdOut)!.AsObject();
    }

    /// <summary>`batchvlm results JOB --format jsonl`, one parsed object per line.</summary>
    public async Task<List<JsonObject>> ResultsJsonl(Guid job)
    {
        var r = await Cli(TimeSpan.FromMinutes(3), "results", job.ToString(), "--format", "jsonl");
        Assert.True(r.ExitCode == 0, $"results failed ({r.ExitCode}):\n{r.StdErr}");
        return r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
    }

    public sealed record JobRow(string State, long Total, long Succeeded, long Failed, int TotalShards)
    {
        public long Done => Succeeded + Failed;
        public bool Terminal => State is "completed" or "completed_with_errors" or "cancelled";
    }

    /// <summary>The job's row, or null while it is not there yet (or the database is down: a fault test stops it).</summary>
    public async Task<JobRow?> TryReadJob(Guid job)
    {
        try
        {
            await using var cmd = Stack.Db.CreateCommand(
                "SELECT state, total_items, succeeded_items, failed_items, total_shards FROM jobs WHERE job_id = $1");
            cmd.Parameters.AddWithValue(job);
            await using var r = await cmd.ExecuteReaderAsync();
            return await r.ReadAsync() ? new JobRow(r.GetString(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt32(4)) : null;
        }
        catch (NpgsqlException)
        {
            return null;
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    /// <summary>Polls the job until <paramref name="until"/> holds; fails with the last row and the process logs' tails.</summary>
    public async Task<JobRow> WaitForJob(Guid job, Func<JobRow, bool> until, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        JobRow? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await TryReadJob(job) ?? last;
            if (last is not null && until(last))
                return last;
            foreach (var p in _processes.Where(p => p.HasExited && !_expectedExits.Contains(p)))
                Assert.Fail($"{p.Name} exited ({p.ExitCode}) while waiting for {what}:\n{Tail(p.ReadLogs())}");
            await Task.Delay(100);
        }
        Assert.Fail($"timed out after {timeout.TotalSeconds:F0} s waiting for {what}; last job row: {last}\n{LogTails()}");
        return null!;
    }

    private readonly HashSet<FleetProcess> _expectedExits = [];

    /// <summary>Tells WaitForJob this process is meant to be gone (killed or stopped by the test).</summary>
    public void ExpectExit(FleetProcess p) => _expectedExits.Add(p);

    public Task<JobRow> WaitForCompletion(Guid job, TimeSpan timeout) =>
        WaitForJob(job, j => j.Terminal, timeout, $"job {job} to finish");

    public async Task<long> Scalar(string sql, params object[] args)
    {
        await using var cmd = Stack.Db.CreateCommand(sql);
        foreach (var a in args)
            cmd.Parameters.AddWithValue(a);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync());
    }

    public sealed record InspectRow(string Key, string Format, int Width, int Height, long ByteSize, string Sha256);

    public async Task<List<InspectRow>> InspectRows(Guid job)
    {
        var rows = new List<InspectRow>();
        await using var cmd = Stack.Db.CreateCommand(
            "SELECT item_key, format, width, height, byte_size, sha256 FROM inspect_results WHERE job_id = $1");
        cmd.Parameters.AddWithValue(job);
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
            rows.Add(new InspectRow(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetInt32(3), r.GetInt64(4), r.GetString(5)));
        return rows;
    }

    public sealed record ErrorRow(string Key, string Kind, string Reason);

    public async Task<List<ErrorRow>> ItemErrors(Guid job)
    {
        var rows = new List<ErrorRow>();
        await using var cmd = Stack.Db.CreateCommand("SELECT item_key, kind, reason FROM item_errors WHERE job_id = $1");
        cmd.Parameters.AddWithValue(job);
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
            rows.Add(new ErrorRow(r.GetString(0), r.GetString(1), r.GetString(2)));
        return rows;
    }

    /// <summary>Collects the lease owners of the job's running shards until cancelled (owners are cleared when a shard
    /// finishes, so they can only be seen while it runs).</summary>
    public async Task<HashSet<string>> WatchLeaseOwners(Guid job, CancellationToken ct)
    {
        var owners = new HashSet<string>(StringComparer.Ordinal);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var cmd = Stack.Db.CreateCommand(
                    "SELECT DISTINCT lease_owner FROM shards WHERE job_id = $1 AND state = 'running' AND lease_owner IS NOT NULL");
                cmd.Parameters.AddWithValue(job);
                await using var r = await cmd.ExecuteReaderAsync(ct);
                while (await r.ReadAsync(ct))
                    owners.Add(r.GetString(0));
                await Task.Delay(50, ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (NpgsqlException)
            {
                await Task.Delay(200, CancellationToken.None);
            }
        }
        return owners;
    }

    /// <summary>"attempt:count" over the job's shards, e.g. "1:78 2:2" — shows how many shards were re-sent.</summary>
    public async Task<string> AttemptHistogram(Guid job)
    {
        await using var cmd = Stack.Db.CreateCommand(
            "SELECT attempt, count(*) FROM shards WHERE job_id = $1 GROUP BY attempt ORDER BY attempt");
        cmd.Parameters.AddWithValue(job);
        await using var r = await cmd.ExecuteReaderAsync();
        var parts = new List<string>();
        while (await r.ReadAsync())
            parts.Add($"{r.GetInt32(0)}:{r.GetInt64(1)}");
        return string.Join(' ', parts);
    }

    public string LogTails() => string.Join("\n", _processes.Select(p => $"--- {p.Name} (pid {p.Pid}{(p.HasExited ? $", exited {p.ExitCode}" : "")})\n{Tail(p.ReadLogs())}"));

    public static string Tail(string text, int lines = 25)
    {
        var all = text.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _processes)
            await p.DisposeAsync();
        _processes.Clear();
    }

    public static string Sha256Hex(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
