// The shared fixture of the black-box system tests (collection "System"): brings the local stack up with
// scripts/stack.sh (real RabbitMQ, PostgreSQL and Azurite), builds the CLI once in Release, and gives the tests an
// isolated corner of each server so the fleet processes they start see nothing but their own work:
//   - PostgreSQL: a database `batchvlm_sys_<run>` for this test run only (owned by the stack's `batchvlm` role;
//     created with the stack's generated superuser password from <state>/credentials.env), dropped at the end;
//   - RabbitMQ: a virtual host `batchvlm-sys-<run>` for this run only (management API, as the stack's user);
//   - Azurite: one container per image set and run (see Datasets).
// Two test runs on one stack would restart each other's servers (the fault tests stop PostgreSQL and restart
// RabbitMQ), so a run holds <state>/system-tests.lock for its whole life: runs of the system tests in different
// processes (two `dotnet test`s, two helpers) take turns. Holding the lock, a run also drops the databases and
// virtual hosts that crashed earlier runs left behind.
// Fleet processes get these through BATCHVLM_* environment variables, the documented configuration precedence.
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace BatchVlm.Fleet.Tests.SystemTests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SystemCollection : ICollectionFixture<FleetStack>
{
    public const string Name = "System";
}

public sealed partial class FleetStack : IAsyncLifetime
{
    public const string DatabasePrefix = "batchvlm_sys_";
    public const string VirtualHostPrefix = "batchvlm-sys-";

    /// <summary>This run's database and virtual host (unique per run: time and process id).</summary>
    public string Database { get; }
    public string VirtualHost { get; }

    public string RepoRoot { get; } = FindRepoRoot();
    public string StateFolder => Environment.GetEnvironmentVariable("BATCHVLM_STATE") is { Length: > 0 } s
        ? Path.GetFullPath(s) : Path.Combine(RepoRoot, ".state");
    /// <summary>Environment variable naming an already built batchvlm.dll to test instead of building cli/BatchVlm.Cli
    /// (e.g. a build of a committed snapshot while the working tree is mid-edit).</summary>
    public const string CliDllVariable = "BATCHVLM_TEST_CLI_DLL";

    /// <summary>The CLI under test, run as `dotnet CliDll ...`: $BATCHVLM_TEST_CLI_DLL, else cli/BatchVlm.Cli built in Release.</summary>
    public string CliDll { get; } = Environment.GetEnvironmentVariable(CliDllVariable) is { Length: > 0 } prebuilt
        ? Path.GetFullPath(prebuilt)
        : Path.Combine(FindRepoRoot(), "cli", "BatchVlm.Cli", "bin", "Release", "net10.0", "batchvlm.dll");
    /// <summary>Where every process of this run writes its stdout/stderr (one folder per test).</summary>
    public string LogRoot { get; }

    public string PostgresConnectionString { get; private set; } = "";
    public string RabbitHost { get; private set; } = "127.0.0.1";
    public int RabbitPort { get; private set; }
    public int RabbitManagementPort { get; private set; }
    public string RabbitUser { get; private set; } = "";
    public string RabbitPassword { get; private set; } = "";
    public string PostgresPassword { get; private set; } = "";
    public string StorageConnectionString { get; private set; } = "";
    public string StorageAccountKey { get; private set; } = "";
    public string BlobEndpoint { get; private set; } = "";
    public string StorageAccount { get; private set; } = "";
    public NpgsqlDataSource Db { get; private set; } = null!;

    private string? _failure;
    private FileStream? _runLock;
    private string _adminConnectionString = "";

    public FleetStack()
    {
        var run = $"{DateTime.UtcNow:yyyyMMddHHmmss}_{Environment.ProcessId}";
        Database = DatabasePrefix + run;
        VirtualHost = VirtualHostPrefix + run.Replace('_', '-');
        LogRoot = Path.Combine(StateFolder, "system-tests", run);
    }

    /// <summary>Fails the calling test with the reason the stack or the CLI could not be prepared.</summary>
    public void RequireReady()
    {
        if (_failure is not null)
            Assert.Fail(_failure);
    }

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(LogRoot);
        try
        {
            _runLock = await AcquireRunLock(TimeSpan.FromMinutes(30));
            var up = await Run("bash", [Path.Combine(RepoRoot, "scripts", "stack.sh"), "up"], TimeSpan.FromMinutes(6));
            if (up.ExitCode != 0)
                throw new InvalidOperationException($"scripts/stack.sh up failed ({up.ExitCode}):\n{up.StdErr}\n{up.StdOut}");
            ReadSettings();
            await PrepareDatabase();
            await PrepareVirtualHost();
            if (Environment.GetEnvironmentVariable(CliDllVariable) is { Length: > 0 })
            {
                if (!File.Exists(CliDll))
                    throw new InvalidOperationException($"{CliDllVariable} names {CliDll}, which does not exist");
            }
            else
            {
                var build = await Run("dotnet", ["build", Path.Combine(RepoRoot, "cli", "BatchVlm.Cli"), "-c", "Release", "-v", "q", "-nologo"],
                    TimeSpan.FromMinutes(10));
                if (build.ExitCode != 0)
                    throw new InvalidOperationException($"building cli/BatchVlm.Cli failed:\n{build.StdOut}\n{build.StdErr}");
            }
        }
        catch (Exception e)
        {
            _failure = $"system-test stack not ready: {e.Message}";
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Db is not null)
            await Db.DisposeAsync();
        try
        {
            if (_adminConnectionString.Length > 0)
                await DropDatabases(d => d == Database);
            if (RabbitPassword.Length > 0)
                await DropVirtualHosts(v => v == VirtualHost);
        }
        catch (Exception e) when (e is NpgsqlException or HttpRequestException or TaskCanceledException)
        {
            // Left for the next run to drop (it drops every batchvlm_sys_* it finds while holding the lock).
        }
        _runLock?.Dispose();
    }

    /// <summary>Exclusive lock on &lt;state&gt;/system-tests.lock, shared by every process running these tests.</summary>
    private async Task<FileStream> AcquireRunLock(TimeSpan timeout)
    {
        var path = Path.Combine(StateFolder, "system-tests.lock");
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                stream.SetLength(0);
                stream.Write(Encoding.UTF8.GetBytes($"{Environment.ProcessId} {LogRoot}\n"));
                stream.Flush();
                return stream;
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(1000);
            }
        }
    }

    /// <summary>Environment every fleet process of this run gets: the isolated database and virtual host.</summary>
    public Dictionary<string, string?> FleetEnvironment() => new()
    {
        ["BATCHVLM_ConnectionStrings__Postgres"] = PostgresConnectionString,
        ["BATCHVLM_RabbitMq__VirtualHost"] = VirtualHost,
        ["DOTNET_gcServer"] = "0",
    };

    private void ReadSettings()
    {
        var path = Path.Combine(StateFolder, "batchvlm.settings.json");
        var settings = JsonNode.Parse(File.ReadAllText(path))
                       ?? throw new InvalidOperationException($"{path} is empty");
        var pg = new NpgsqlConnectionStringBuilder(settings["ConnectionStrings"]!["Postgres"]!.GetValue<string>());
        PostgresPassword = pg.Password ?? "";
        pg.Database = Database;
        PostgresConnectionString = pg.ConnectionString;
        var rmq = settings["RabbitMq"]!;
        RabbitHost = rmq["Host"]!.GetValue<string>();
        RabbitPort = rmq["Port"]!.GetValue<int>();
        RabbitManagementPort = rmq["ManagementPort"]?.GetValue<int>() ?? 15679;
        RabbitUser = rmq["Username"]!.GetValue<string>();
        RabbitPassword = rmq["Password"]!.GetValue<string>();
        StorageConnectionString = settings["Storage"]!["ConnectionString"]!.GetValue<string>();
        var fields = StorageConnectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(f => f.Split('=', 2)).Where(f => f.Length == 2)
            .ToDictionary(f => f[0], f => f[1], StringComparer.OrdinalIgnoreCase);
        StorageAccount = fields["AccountName"];
        StorageAccountKey = fields["AccountKey"];
        BlobEndpoint = fields["BlobEndpoint"].TrimEnd('/');
    }

    private async Task PrepareDatabase()
    {
        // The stack's superuser password lives beside the settings (generated by stack.sh, mode 600).
        var credentials = File.ReadAllLines(Path.Combine(StateFolder, "credentials.env"))
            .Select(l => l.Split('=', 2)).Where(f => f.Length == 2).ToDictionary(f => f[0], f => f[1]);
        _adminConnectionString = new NpgsqlConnectionStringBuilder(PostgresConnectionString)
        {
            Username = "postgres",
            Password = credentials["POSTGRES_SUPERUSER_PASSWORD"],
            Database = "postgres",
            Pooling = false,
        }.ConnectionString;
        // Holding the run lock, every other batchvlm_sys_* database is a leftover of a run that died.
        await DropDatabases(d => d.StartsWith(DatabasePrefix, StringComparison.Ordinal));
        await using (var conn = new NpgsqlConnection(_adminConnectionString))
        {
            await conn.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {Database} OWNER batchvlm", conn);
            await create.ExecuteNonQueryAsync();
        }
        Db = NpgsqlDataSource.Create(PostgresConnectionString);
    }

    private async Task DropDatabases(Func<string, bool> which)
    {
        await using var conn = new NpgsqlConnection(_adminConnectionString);
        await conn.OpenAsync();
        var names = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT datname FROM pg_database WHERE datname LIKE 'batchvlm\\_sys\\_%'", conn))
        await using (var r = await list.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
                names.Add(r.GetString(0));
        }
        foreach (var name in names.Where(which))
        {
            // Names come from pg_database and match our own prefix; quoted as identifiers all the same.
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name.Replace("\"", "\"\"")}\" WITH (FORCE)", conn);
            await drop.ExecuteNonQueryAsync();
        }
    }

    private async Task DropVirtualHosts(Func<string, bool> which)
    {
        using var http = RabbitManagement();
        var all = JsonNode.Parse(await http.GetStringAsync("api/vhosts"))!.AsArray().Select(v => v!["name"]!.GetValue<string>());
        foreach (var name in all.Where(n => n.StartsWith(VirtualHostPrefix, StringComparison.Ordinal)).Where(which))
        {
            var delete = await http.DeleteAsync($"api/vhosts/{Uri.EscapeDataString(name)}");
            if (!delete.IsSuccessStatusCode && delete.StatusCode != System.Net.HttpStatusCode.NotFound)
                throw new InvalidOperationException($"RabbitMQ management: deleting vhost {name} gave {(int)delete.StatusCode}");
        }
    }

    private async Task PrepareVirtualHost()
    {
        await DropVirtualHosts(_ => true);
        using var http = RabbitManagement();
        var vhost = Uri.EscapeDataString(VirtualHost);
        (await http.PutAsync($"api/vhosts/{vhost}", Json("{}"))).EnsureSuccessStatusCode();
        (await http.PutAsync($"api/permissions/{vhost}/{Uri.EscapeDataString(RabbitUser)}",
            Json("""{"configure":".*","write":".*","read":".*"}"""))).EnsureSuccessStatusCode();
    }

    /// <summary>An HttpClient on the RabbitMQ management API (authenticated as the stack's user).</summary>
    public HttpClient RabbitManagement()
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://{RabbitHost}:{RabbitManagementPort}/"), Timeout = TimeSpan.FromSeconds(20) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{RabbitUser}:{RabbitPassword}")));
        return http;
    }

    /// <summary>Messages ready + unacknowledged in every queue of the test virtual host, by queue name.</summary>
    public async Task<Dictionary<string, (long Ready, long Unacked)>> QueueDepths()
    {
        using var http = RabbitManagement();
        var json = JsonNode.Parse(await http.GetStringAsync($"api/queues/{Uri.EscapeDataString(VirtualHost)}"))!.AsArray();
        return json.ToDictionary(q => q!["name"]!.GetValue<string>(),
            q => (q!["messages_ready"]?.GetValue<long>() ?? 0, q["messages_unacknowledged"]?.GetValue<long>() ?? 0));
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>Runs scripts/stack.sh with the given arguments (fault injection: stop/start/kill/restart SERVICE).</summary>
    public async Task Stack(params string[] args)
    {
        var r = await Run("bash", [Path.Combine(RepoRoot, "scripts", "stack.sh"), .. args], TimeSpan.FromMinutes(3));
        if (r.ExitCode != 0)
            throw new InvalidOperationException($"scripts/stack.sh {string.Join(' ', args)} failed ({r.ExitCode}):\n{r.StdErr}");
    }

    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    /// <summary>Runs a program to completion, capturing its output; kills it after <paramref name="timeout"/>.</summary>
    public async Task<Result> Run(string file, IEnumerable<string> args, TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepoRoot,
            UseShellExecute = false,
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in environment ?? new Dictionary<string, string?>())
            psi.Environment[k] = v;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
            return new Result(124, await stdout, $"{await stderr}\n(killed after {timeout.TotalSeconds:F0} s)");
        }
        return new Result(p.ExitCode, await stdout, await stderr);
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BatchVlm.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"BatchVlm.sln not found above {AppContext.BaseDirectory}");
    }

    internal static JsonSerializerOptions JsonOptions { get; } = new() { PropertyNameCaseInsensitive = true };
}
