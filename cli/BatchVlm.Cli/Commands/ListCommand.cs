// `batchvlm list [--limit N] [--json]`: recent jobs, newest first.
using System.CommandLine;
using System.Text.Json.Nodes;
using BatchVlm.Cli.Commands.Hosting;
using Spectre.Console;

namespace BatchVlm.Cli.Commands;

public static class ListCommand
{
    public static Command Create()
    {
        var limit = new Option<int>("--limit") { Description = "How many jobs (default 20)", DefaultValueFactory = _ => 20 };
        var json = new Option<bool>("--json") { Description = "One JSON object per line" };
        var command = new Command("list", "List recent jobs") { limit, json };
        command.AllowConfigFlags().SetAction((parse, ct) => CliCommon.Guard(async () =>
        {
            var config = CliCommon.Configuration();
            await using var store = await FleetHost.OpenStoreAsync(config, ct: ct);
            var jobs = await store.ListJobsAsync(Math.Max(1, parse.GetValue(limit)), ct);
            if (parse.GetValue(json))
            {
                foreach (var j in jobs)
                    Console.WriteLine(CliCommon.ToJson(j).ToJsonString(CliCommon.Json));
                return 0;
            }
            var table = new Table().AddColumns("job", "state", "task", "model", "total", "succeeded", "failed", "created (UTC)");
            foreach (var j in jobs)
                table.AddRow(j.JobId.ToString(), j.State, j.Task, j.Model, j.Total.ToString(), j.Succeeded.ToString(), j.Failed.ToString(),
                    j.CreatedAt.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss"));
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }
}
