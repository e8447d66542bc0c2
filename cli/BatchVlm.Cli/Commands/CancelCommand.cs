// `batchvlm cancel JOB`: marks the job and its open shards cancelled. Workers skip its queued shards when they
// arrive and abandon a running one at their next lease renewal (Worker:LeaseRenewInterval).
using System.CommandLine;
using BatchVlm.Cli.Commands.Hosting;

namespace BatchVlm.Cli.Commands;

public static class CancelCommand
{
    public static Command Create()
    {
        var job = new Argument<string>("JOB") { Description = "Job id" };
        var command = new Command("cancel", "Cancel a running job") { job };
        command.AllowConfigFlags().SetAction((parse, ct) => CliCommon.Guard(async () =>
        {
            var id = CliCommon.ParseJob(parse.GetValue(job)!);
            var config = CliCommon.Configuration();
            await using var store = await FleetHost.OpenStoreAsync(config, ct: ct);
            if (await store.CancelJobAsync(id, ct))
            {
                Console.WriteLine($"Cancelled job {id}");
                return 0;
            }
            var j = await store.GetJobAsync(id, ct) ?? throw new KeyNotFoundException($"Job {id} not found");
            Console.Error.WriteLine($"batchvlm: job {id} is {j.State}, not running; nothing to cancel");
            return 1;
        }));
        return command;
    }
}
