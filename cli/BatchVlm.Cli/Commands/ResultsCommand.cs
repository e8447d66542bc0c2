// `batchvlm results JOB [--format jsonl|csv] [--output FILE]`: one line per result row (one per item for inspect),
// failed items included with their error, ordered by item key.
//   jsonl: {"item_key":"a.jpg","status":"succeeded","format":"jpeg","width":640,...}
//          {"item_key":"b.jpg","status":"failed","error_kind":"truncated","error":"b.jpg: ..."}
//   csv:   header = item_key,status,<task columns...>,error_kind,error; RFC 4180 quoting.
using System.CommandLine;
using System.Text;
using System.Text.Json.Nodes;
using BatchVlm.Cli.Commands.Hosting;
using BatchVlm.Storage.Postgres;
using BatchVlm.Worker.Tasks;

namespace BatchVlm.Cli.Commands;

public static class ResultsCommand
{
    public static Command Create()
    {
        var job = new Argument<string>("JOB") { Description = "Job id" };
        var format = new Option<string>("--format") { Description = "jsonl (default) or csv", DefaultValueFactory = _ => "jsonl" };
        format.AcceptOnlyFromAmong("jsonl", "csv");
        var output = new Option<string?>("--output", "-o") { Description = "Write to this file instead of stdout" };
        var command = new Command("results", "Print a job's results, one line per item (failed items with their error)") { job, format, output };
        command.AllowConfigFlags().SetAction((parse, ct) => CliCommon.Guard(async () =>
        {
            var id = CliCommon.ParseJob(parse.GetValue(job)!);
            var config = CliCommon.Configuration();
            await using var store = await FleetHost.OpenStoreAsync(config, ct: ct);
            var j = await store.GetJobAsync(id, ct) ?? throw new KeyNotFoundException($"Job {id} not found");
            var table = TaskRegistry.BuiltIn().Get(j.Task).ResultTable;
            var path = parse.GetValue(output);
            await using var writer = path is null ? Console.Out : new StreamWriter(path, false, new UTF8Encoding(false));
            var lines = await WriteAsync(store, id, table, parse.GetValue(format)!, writer, ct);
            if (path is not null)
                Console.Error.WriteLine($"Wrote {lines} lines to {path}");
            return 0;
        }));
        return command;
    }

    /// <summary>Write the job's results in <paramref name="format"/>; returns the number of item lines.</summary>
    public static async Task<long> WriteAsync(IFleetStore store, Guid jobId, ResultTable table, string format, TextWriter writer, CancellationToken ct)
    {
        long lines = 0;
        if (format == "csv")
        {
            var columns = new[] { "item_key", "status" }.Concat(table.ExtraKeyColumns).Concat(table.ColumnNames.Except(table.ExtraKeyColumns))
                .Append("error_kind").Append("error").ToArray();
            await writer.WriteLineAsync(string.Join(",", columns));
            await foreach (var row in store.ReadResultsAsync(jobId, table, ct))
            {
                await writer.WriteLineAsync(string.Join(",", columns.Select(c => Csv(row[c]))));
                lines++;
            }
        }
        else
        {
            await foreach (var row in store.ReadResultsAsync(jobId, table, ct))
            {
                await writer.WriteLineAsync(row.ToJsonString(CliCommon.Json));
                lines++;
            }
        }
        await writer.FlushAsync(ct);
        return lines;
    }

    private static string Csv(JsonNode? value)
    {
        if (value is null)
            return "";
        var text = value is JsonValue v && v.TryGetValue<string>(out var s) ? s : value.ToJsonString();
        return text.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + text.Replace("\"", "\"\"") + "\"" : text;
    }
}
