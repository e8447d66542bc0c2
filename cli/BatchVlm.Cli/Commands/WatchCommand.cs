// `batchvlm watch JOB`: a live progress bar (Spectre.Console) until the job finishes: items done of total, items/s
// over the last few seconds, ETA, failures. Exits 0 when the job completed (with or without item errors), 1 when it
// was cancelled.
using System.CommandLine;
using BatchVlm.Cli.Commands.Hosting;
using BatchVlm.Storage.Postgres;
using Spectre.Console;

namespace BatchVlm.Cli.Commands;

public static class WatchCommand
{
    public static Command Create()
    {
        var job = new Argument<string>("JOB") { Description = "Job id" };
        var interval = new Option<double>("--interval") { Description = "Refresh interval in seconds (default 0.5)", DefaultValueFactory = _ => 0.5 };
        var command = new Command("watch", "Follow a job with a live progress bar") { job, interval };
        command.AllowConfigFlags().SetAction((parse, ct) => CliCommon.Guard(async () =>
        {
            var id = CliCommon.ParseJob(parse.GetValue(job)!);
            var config = CliCommon.Configuration();
            await using var store = await FleetHost.OpenStoreAsync(config, ct: ct);
            var first = await store.GetJobAsync(id, ct) ?? throw new KeyNotFoundException($"Job {id} not found");
            var poll = TimeSpan.FromSeconds(Math.Max(0.1, parse.GetValue(interval)));
            var last = first;
            await AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .StartAsync(async progress =>
                {
                    var bar = progress.AddTask(Describe(first, 0, null), maxValue: Math.Max(1, first.Total));
                    var samples = new Queue<(DateTime At, long Done)>();
                    while (true)
                    {
                        var j = await store.GetJobAsync(id, ct) ?? throw new KeyNotFoundException($"Job {id} not found");
                        last = j;
                        var done = j.Succeeded + j.Failed;
                        var now = DateTime.UtcNow;
                        samples.Enqueue((now, done));
                        while (samples.Count > 2 && now - samples.Peek().At > TimeSpan.FromSeconds(10))
                            samples.Dequeue();
                        var (t0, d0) = samples.Peek();
                        var rate = (now - t0).TotalSeconds > 0.2 ? (done - d0) / (now - t0).TotalSeconds : 0;
                        TimeSpan? eta = rate > 0 ? TimeSpan.FromSeconds(j.Pending / rate) : null;
                        bar.MaxValue = Math.Max(1, j.Total);
                        bar.Value = done;
                        bar.Description = Describe(j, rate, eta);
                        if (JobStates.IsTerminal(j.State))
                            break;
                        await Task.Delay(poll, ct);
                    }
                });
            Console.WriteLine(CliCommon.Summary(last));
            return last.State == JobStates.Cancelled ? 1 : 0;
        }));
        return command;
    }

    private static string Describe(JobSnapshot j, double rate, TimeSpan? eta) =>
        Markup.Escape($"{j.Task} {j.State} {j.Succeeded + j.Failed}/{j.Total} · {rate:F1} items/s · ETA {(eta is { } e ? e.ToString(@"hh\:mm\:ss") : "--:--:--")} · failed {j.Failed}");
}
