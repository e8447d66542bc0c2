// `batchvlm run --task inspect --input ./folder --output ./out [--db]`: the embedded default — coordinator and worker in
// one process on MassTransit's in-memory transport, no servers needed. Job state lives in memory (or, with --db, in the
// configured PostgreSQL, whose result tables then hold the results too). Writes <output>/results.jsonl (the same
// lines as `batchvlm results --format jsonl`) and <output>/job.json (the `status --json` object), and prints the job
// id on the last line. Exit 0 when the job completed (item errors included), 1 otherwise. embed writes its .npy shard
// files and manifest under <output>/embeddings/<job id>/ unless --embeddings or an "output" parameter says otherwise.
using System.CommandLine;
using System.Text;
using BatchVlm.Cli.Commands.Hosting;
using BatchVlm.Coordinator;
using BatchVlm.Storage.Postgres;
using BatchVlm.Worker;
using BatchVlm.Worker.Tasks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace BatchVlm.Cli.Commands;

public static class RunCommand
{
    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = "Task: inspect, embed, score, caption", Required = true };
        var input = new Option<string>("--input") { Description = "A local folder, a manifest, or any input address `submit` takes", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "Folder for results.jsonl and job.json", Required = true };
        var model = new Option<string?>("--model") { Description = "Model id for model tasks" };
        var parameters = new Option<string?>("--params") { Description = "Task parameters as a JSON object" };
        var shardSize = new Option<int?>("--shard-size") { Description = "Items per shard (default per task)" };
        var concurrency = new Option<int>("--concurrency") { Description = "Shards processed at once (default 2)", DefaultValueFactory = _ => 2 };
        var db = new Option<bool>("--db") { Description = "Record the job and its results in the configured PostgreSQL (ConnectionStrings:Postgres)" };
        var command = new Command("run", "Run a job in this process (in-memory transport, no servers needed)")
            { task, input, output, model, parameters, shardSize, concurrency, db };
        var flags = new TaskFlags();
        foreach (var flag in flags.All) command.Options.Add(flag);
        command.AllowConfigFlags().SetAction((parse, ct) => CliCommon.Guard(async () =>
        {
            var config = CliCommon.Configuration();
            var overrides = new Dictionary<string, string?>
            {
                [$"{WorkerOptions.SectionName}:{nameof(WorkerOptions.Concurrency)}"] = Math.Max(1, parse.GetValue(concurrency)).ToString(),
                [$"{CoordinatorOptions.SectionName}:{nameof(CoordinatorOptions.LeaseCheckInterval)}"] = "00:00:01",
            };
            config = new ConfigurationBuilder().AddConfiguration(config).AddInMemoryCollection(overrides).Build();
            var outDir = Path.GetFullPath(parse.GetValue(output)!);
            var merged = flags.Merge(parse, parse.GetValue(parameters), parse.GetValue(task)!, defaultEmbeddings: Path.Combine(outDir, "embeddings"));
            var request = await SubmitCommand.PrepareAsync(config, parse.GetValue(task)!, parse.GetValue(model), merged,
                parse.GetValue(input)!, parse.GetValue(shardSize), ct);
            Directory.CreateDirectory(outDir);

            IFleetStore store = parse.GetValue(db) ? await FleetHost.OpenStoreAsync(config, ct: ct) : new InMemoryFleetStore();
            try
            {
                var served = new[] { new TaskModel(request.Task, request.Model) };
                using var host = FleetHost.Build(config, new FleetRoles(Coordinator: true, Worker: served, FleetTransport.InMemory), store);
                await host.StartAsync(ct);
                JobSnapshot done;
                try
                {
                    var id = await host.Services.GetRequiredService<JobSubmitter>().SubmitAsync(request, ct);
                    done = await CliCommon.WaitAsync(store, id, TimeSpan.FromMilliseconds(100), progress: true, ct);
                }
                finally
                {
                    await host.StopAsync(CancellationToken.None);
                }
                var table = TaskRegistry.BuiltIn().Get(request.Task).ResultTable;
                long lines;
                await using (var writer = new StreamWriter(Path.Combine(outDir, "results.jsonl"), false, new UTF8Encoding(false)))
                    lines = await ResultsCommand.WriteAsync(store, done.JobId, table, "jsonl", writer, ct);
                await File.WriteAllTextAsync(Path.Combine(outDir, "job.json"), CliCommon.ToJson(done).ToJsonString(CliCommon.Json) + "\n", ct);
                Console.WriteLine(CliCommon.Summary(done));
                Console.WriteLine($"Wrote {lines} lines to {Path.Combine(outDir, "results.jsonl")}");
                Console.WriteLine(done.JobId);
                return done.State is JobStates.Completed or JobStates.CompletedWithErrors ? 0 : 1;
            }
            finally
            {
                if (store is IAsyncDisposable d)
                    await d.DisposeAsync();
            }
        }));
        return command;
    }
}
