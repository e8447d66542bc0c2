// `batchvlm submit --task inspect --input ADDRESS [--model M] [--params JSON] [--shard-size N] [--wait]`:
// lists the input, records the job and its shards in PostgreSQL (one transaction) and sends one ProcessShard per
// shard to batchvlm.process-shard.<task>.<model-slug>. Prints the job id alone on the last line of stdout.
// It needs PostgreSQL and RabbitMQ, not a running coordinator: workers finish jobs on their own. A coordinator
// (`batchvlm coordinator`) must run for lease expiry, transient-failure re-sends, hand-backs and retries.
// --wait polls until the job is finished (progress on stderr); exit 0 when it completed (with or without item
// errors), 1 when cancelled.
using System.CommandLine;
using BatchVlm.Cli.Commands.Hosting;
using BatchVlm.Contracts;
using BatchVlm.Coordinator;
using BatchVlm.Storage.Postgres;
using BatchVlm.Worker.Tasks;
using Microsoft.Extensions.DependencyInjection;

namespace BatchVlm.Cli.Commands;

public static class SubmitCommand
{
    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = "Task: inspect, embed, score, caption", Required = true };
        var input = new Option<string>("--input")
        {
            Description = "az://container/prefix, an https blob URL (with ?SAS), a local folder, or @manifest.txt / a .txt manifest",
            Required = true,
        };
        var model = new Option<string?>("--model") { Description = "Model id for model tasks (none for inspect)" };
        var parameters = new Option<string?>("--params") { Description = "Task parameters as a JSON object (default {})" };
        var shardSize = new Option<int?>("--shard-size") { Description = "Items per shard (default per task: inspect 500)" };
        var wait = new Option<bool>("--wait") { Description = "Wait until the job is finished" };
        var command = new Command("submit", "Submit a job to the fleet; prints the job id on the last line") { task, input, model, parameters, shardSize, wait };
        var flags = new TaskFlags();
        foreach (var flag in flags.All) command.Options.Add(flag);
        command.AllowConfigFlags().SetAction((parse, ct) => CliCommon.Guard(async () =>
        {
            var config = CliCommon.Configuration();
            var request = await PrepareAsync(config, parse.GetValue(task)!, parse.GetValue(model), flags.Merge(parse, parse.GetValue(parameters), parse.GetValue(task)!),
                parse.GetValue(input)!, parse.GetValue(shardSize), ct);
            await using var store = await FleetHost.OpenStoreAsync(config, ct: ct);
            using var host = FleetHost.Build(config, FleetRoles.SenderOnly, store);
            await host.StartAsync(ct);
            Guid id;
            try
            {
                id = await host.Services.GetRequiredService<JobSubmitter>().SubmitAsync(request, ct);
            }
            finally
            {
                await host.StopAsync(CancellationToken.None);
            }
            var shards = (request.ItemKeys.Count + request.ShardSize - 1) / request.ShardSize;
            Console.WriteLine($"Submitted {request.Task} over {request.ItemKeys.Count} items of {request.InputAddress} in {shards} shards");
            var code = 0;
            if (parse.GetValue(wait))
            {
                var done = await CliCommon.WaitAsync(store, id, TimeSpan.FromSeconds(1), progress: true, ct);
                Console.WriteLine(CliCommon.Summary(done));
                code = done.State == JobStates.Cancelled ? 1 : 0;
            }
            Console.WriteLine(id);
            return code;
        }));
        return command;
    }

    /// <summary>Validate the task and parameters and list the input into a JobRequest (shared with `run`).</summary>
    public static async Task<JobRequest> PrepareAsync(Microsoft.Extensions.Configuration.IConfiguration config, string taskName,
        string? model, string? parametersJson, string input, int? shardSize, CancellationToken ct)
    {
        var task = TaskRegistry.BuiltIn().Get(taskName);
        var m = string.IsNullOrWhiteSpace(model) ? QueueNames.NoModel : model.Trim();
        if (task.RequiresModel && m == QueueNames.NoModel)
            throw new ArgumentException($"Task '{task.Name}' needs --model");
        if (!task.RequiresModel && m != QueueNames.NoModel)
            throw new ArgumentException($"Task '{task.Name}' takes no model");
        var parameters = string.IsNullOrWhiteSpace(parametersJson) ? "{}" : parametersJson.Trim();
        task.ValidateParameters(m, parameters);
        var size = shardSize ?? task.DefaultShardSize;
        if (size is < 1 or > Sharding.MaxShardSize)
            throw new ArgumentException($"--shard-size must be between 1 and {Sharding.MaxShardSize}");
        var listing = await new InputResolver(config).ListAsync(input, ct);
        if (listing.Keys.Count == 0)
            throw new ArgumentException($"The input {listing.DisplayAddress} holds no items");
        return new JobRequest(task.Name, m, parameters, listing.Address, task.ResultTable.Name, listing.Keys, size);
    }
}
