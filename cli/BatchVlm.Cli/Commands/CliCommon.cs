// Helpers every fleet command shares: configuration from the process arguments, job-id parsing, error reporting
// (redacted, to stderr, exit code 1), job JSON, and waiting for a job to finish.
using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchVlm.Storage.Configuration;
using BatchVlm.Storage.Postgres;
using Microsoft.Extensions.Configuration;

namespace BatchVlm.Cli.Commands;

public static class CliCommon
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    /// <summary>Configuration (settings file, appsettings, BATCHVLM_CONFIG, BATCHVLM_* env, --Section:Key flags).</summary>
    public static IConfigurationRoot Configuration() => BatchVlmConfiguration.Build(Environment.GetCommandLineArgs().Skip(1).ToArray());

    /// <summary>Allow --Section:Key=value configuration flags after the command's own options.</summary>
    public static T AllowConfigFlags<T>(this T command) where T : Command
    {
        command.TreatUnmatchedTokensAsErrors = false;
        return command;
    }

    public static Guid ParseJob(string text) =>
        Guid.TryParse(text.Trim(), out var id) ? id : throw new ArgumentException($"'{text}' is not a job id (a GUID as printed by `submit`)");

    /// <summary>Run a command body, turning exceptions into one redacted error line on stderr and exit code 1.</summary>
    public static async Task<int> Guard(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("batchvlm: cancelled");
            return 130;
        }
        catch (Exception ex) when (ex is ArgumentException or KeyNotFoundException or FileNotFoundException or DirectoryNotFoundException or InvalidOperationException or FormatException or JsonException)
        {
            Console.Error.WriteLine($"batchvlm: error: {Secrets.Redact(ex.Message)}");
            return 1;
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"batchvlm: error: {ex.GetType().Name}: {Secrets.Redact(ex.Message)}");
            return 1;
        }
    }

    public static JsonObject ToJson(JobSnapshot j) => new()
    {
        ["job_id"] = j.JobId.ToString(),
        ["state"] = j.State,
        ["task"] = j.Task,
        ["model"] = j.Model,
        ["parameters"] = JsonNode.Parse(j.ParametersJson),
        ["input"] = j.InputAddress,
        ["total"] = j.Total,
        ["succeeded"] = j.Succeeded,
        ["failed"] = j.Failed,
        ["pending"] = j.Pending,
        ["shards"] = new JsonObject
        {
            ["total"] = j.TotalShards,
            ["queued"] = j.ShardsQueued,
            ["running"] = j.ShardsRunning,
            ["succeeded"] = j.ShardsSucceeded,
            ["failed"] = j.ShardsFailed,
        },
        ["shard_size"] = j.ShardSize,
        ["max_attempts"] = j.MaxAttempts,
        ["created_at"] = j.CreatedAt.ToUniversalTime().ToString("O"),
        ["updated_at"] = j.UpdatedAt.ToUniversalTime().ToString("O"),
        ["finished_at"] = j.FinishedAt?.ToUniversalTime().ToString("O"),
    };

    public static string Summary(JobSnapshot j) =>
        $"job {j.JobId} {j.State}: {j.Succeeded} succeeded, {j.Failed} failed, {j.Pending} pending of {j.Total}";

    /// <summary>Poll until the job is in a terminal state; prints a progress line to stderr every
    /// <paramref name="every"/> when <paramref name="progress"/> is set.</summary>
    public static async Task<JobSnapshot> WaitAsync(IFleetStore store, Guid jobId, TimeSpan poll, bool progress, CancellationToken ct)
    {
        var lastPrint = DateTime.MinValue;
        while (true)
        {
            var job = await store.GetJobAsync(jobId, ct) ?? throw new KeyNotFoundException($"Job {jobId} not found");
            if (JobStates.IsTerminal(job.State))
                return job;
            if (progress && DateTime.UtcNow - lastPrint > TimeSpan.FromSeconds(2))
            {
                Console.Error.WriteLine(Summary(job));
                lastPrint = DateTime.UtcNow;
            }
            await Task.Delay(poll, ct);
        }
    }
}
