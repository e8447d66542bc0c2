// `batchvlm worker --tasks inspect[,TASK:MODEL...] [--concurrency N]`: consumes shards from
// batchvlm.process-shard.<task>.<model-slug> until SIGTERM/Ctrl+C. On SIGTERM it stops taking shards, finishes the
// items in flight, commits them and hands the rest of the shard back (re-queued), then exits: nothing is lost.
// Settings: the Worker section (WorkerOptions), e.g. --Worker:LeaseDuration=00:00:20.
using System.CommandLine;
using BatchVlm.Cli.Commands.Hosting;
using BatchVlm.Worker;
using BatchVlm.Worker.Tasks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace BatchVlm.Cli.Commands;

public static class WorkerCommand
{
    public static Command Create()
    {
        var tasks = new Option<string[]>("--tasks")
        {
            Description = "Tasks to serve: TASK or TASK:MODEL, comma-separated or repeated (e.g. inspect,embed:google/siglip-base-patch16-224)",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var concurrency = new Option<int?>("--concurrency") { Description = "Shards at once per task/model queue (default 1, Worker:Concurrency)" };
        var command = new Command("worker", "Run a worker that processes shards") { tasks, concurrency };
        command.AllowConfigFlags().SetAction((parse, ct) => CliCommon.Guard(async () =>
        {
            var served = ParseTasks(parse.GetValue(tasks)!);
            var config = CliCommon.Configuration();
            if (parse.GetValue(concurrency) is { } n)
            {
                if (n < 1)
                    throw new ArgumentException("--concurrency must be at least 1");
                config = new ConfigurationBuilder().AddConfiguration(config)
                    .AddInMemoryCollection([new($"{WorkerOptions.SectionName}:{nameof(WorkerOptions.Concurrency)}", n.ToString())]).Build();
            }
            await using var store = await FleetHost.OpenStoreAsync(config, ct: ct);
            using var host = FleetHost.Build(config, new FleetRoles(Coordinator: false, Worker: served), store);
            await host.RunAsync(CancellationToken.None);
            return 0;
        }));
        return command;
    }

    /// <summary>"inspect,embed:m" → task/model pairs, each task checked against the registry.</summary>
    public static IReadOnlyList<TaskModel> ParseTasks(IEnumerable<string> values)
    {
        var registry = TaskRegistry.BuiltIn();
        var list = new List<TaskModel>();
        foreach (var part in values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var tm = TaskModel.Parse(part);
            var task = registry.Get(tm.Task);
            if (task.RequiresModel && tm.Model == Contracts.QueueNames.NoModel)
                throw new ArgumentException($"Task '{tm.Task}' needs a model: --tasks {tm.Task}:MODEL");
            list.Add(tm);
        }
        if (list.Count == 0)
            throw new ArgumentException("--tasks names no task");
        return list;
    }
}
