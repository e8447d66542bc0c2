// `batchvlm status JOB [--json]`: a job's state and counts from PostgreSQL. The JSON (one object) has at least
// state, total, succeeded, failed (see CliCommon.ToJson for every field).
using System.CommandLine;
using BatchVlm.Cli.Commands.Hosting;

namespace BatchVlm.Cli.Commands;

public static class StatusCommand
{
    public static Command Create()
    {
        var job = new Argument<string>("JOB") { Description = "Job id" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text" };
        var command = new Command("status", "Show a job's state and counts") { job, json };
        command.AllowConfigFlags().SetAction((parse, ct) => CliCommon.Guard(async () =>
        {
            var id = CliCommon.ParseJob(parse.GetValue(job)!);
            var config = CliCommon.Configuration();
            await using var store = await FleetHost.OpenStoreAsync(config, ct: ct);
            var j = await store.GetJobAsync(id, ct) ?? throw new KeyNotFoundException($"Job {id} not found");
            if (parse.GetValue(json))
            {
                Console.WriteLine(CliCommon.ToJson(j).ToJsonString(CliCommon.Json));
                return 0;
            }
            Console.WriteLine($"job       {j.JobId}");
            Console.WriteLine($"state     {j.State}");
            Console.WriteLine($"task      {j.Task} (model {j.Model}) {j.ParametersJson}");
            Console.WriteLine($"input     {j.InputAddress}");
            Console.WriteLine($"items     total {j.Total}, succeeded {j.Succeeded}, failed {j.Failed}, pending {j.Pending}");
            Console.WriteLine($"shards    total {j.TotalShards}: queued {j.ShardsQueued}, running {j.ShardsRunning}, succeeded {j.ShardsSucceeded}, failed {j.ShardsFailed} (size {j.ShardSize}, max attempts {j.MaxAttempts})");
            Console.WriteLine($"created   {j.CreatedAt.ToUniversalTime():O}");
            Console.WriteLine($"finished  {(j.FinishedAt is { } f ? f.ToUniversalTime().ToString("O") : "-")}");
            return 0;
        }));
        return command;
    }
}
