// The one assertion every system and fault test ends with: the job finished, and every item of the input has
// exactly one outcome — a correct inspect_results row for each valid image (size, byte length and SHA-256 equal
// to what was generated), an item_errors row of the documented kind for each corrupt one, none in both tables,
// none missing, none extra; the job's counters equal the rows; and the CLI (`status --json`, `results`) says the same.
namespace BatchVlm.Fleet.Tests.SystemTests;

public static class ExactlyOnce
{
    public static async Task AssertAsync(FleetRun run, Guid job, Dataset data)
    {
        var row = await run.TryReadJob(job);
        Assert.NotNull(row);
        var expectedState = data.Corrupt.Count > 0 ? "completed_with_errors" : "completed";
        Assert.True(row.State == expectedState, $"job state {row.State}, expected {expectedState}; shards by attempt {await run.AttemptHistogram(job)}");

        // Keys are relative to the input address (az://container/prefix); accept them with or without the prefix.
        string Rel(string key) => key.StartsWith(data.Prefix + "/", StringComparison.Ordinal) ? key[(data.Prefix.Length + 1)..] : key;

        var results = await run.InspectRows(job);
        var errors = await run.ItemErrors(job);
        var resultKeys = results.Select(r => Rel(r.Key)).ToList();
        var errorKeys = errors.Select(e => Rel(e.Key)).ToList();
        Assert.Equal(resultKeys.Count, resultKeys.Distinct().Count());
        Assert.Equal(errorKeys.Count, errorKeys.Distinct().Count());
        Assert.Empty(resultKeys.Intersect(errorKeys));

        // Nothing lost: every valid image has its result (not an error, e.g. shard_failed after an outage).
        var unexpectedErrors = errors.Where(e => !data.Corrupt.ContainsKey(Rel(e.Key))).Take(10)
            .Select(e => $"{e.Key}: {e.Kind}: {e.Reason}").ToList();
        Assert.True(unexpectedErrors.Count == 0, $"valid images recorded as failed:\n{string.Join('\n', unexpectedErrors)}");
        var missing = data.Expected.Keys.Except(resultKeys).Take(10).ToList();
        Assert.True(missing.Count == 0, $"{data.Expected.Count - resultKeys.Count} valid images have no result, e.g. {string.Join(", ", missing)}");
        var extra = resultKeys.Except(data.Expected.Keys).Take(10).ToList();
        Assert.True(extra.Count == 0, $"results for items not in the input: {string.Join(", ", extra)}");
        Assert.Equal(data.Expected.Count, results.Count);

        foreach (var r in results)
        {
            var e = data.Expected[Rel(r.Key)];
            Assert.True(e.Width == r.Width && e.Height == r.Height && e.ByteSize == r.ByteSize && e.Sha256 == r.Sha256
                        && r.Format.Contains(e.Format, StringComparison.OrdinalIgnoreCase),
                $"{r.Key}: got {r.Format} {r.Width}x{r.Height} {r.ByteSize} B {r.Sha256}, generated {e}");
        }

        // Every corrupt file failed with the kind the schema documents and a reason a person can act on.
        Assert.Equal(data.Corrupt.Count, errors.Count);
        foreach (var e in errors)
        {
            var kind = data.Corrupt[Rel(e.Key)];
            Assert.True(e.Kind == kind, $"{e.Key}: error kind '{e.Kind}' ({e.Reason}), expected '{kind}'");
            Assert.False(string.IsNullOrWhiteSpace(e.Reason), $"{e.Key}: empty reason");
        }

        // The job's counters are the rows, not a count of messages (a redelivery must not count twice).
        Assert.Equal(data.Count, row.Total);
        Assert.Equal(results.Count, row.Succeeded);
        Assert.Equal(errors.Count, row.Failed);

        // The CLI agrees: status --json has state/total/succeeded/failed that add up.
        var status = await run.StatusJson(job);
        Assert.Equal(expectedState, status["state"]!.GetValue<string>());
        Assert.Equal(data.Count, status["total"]!.GetValue<long>());
        Assert.Equal(results.Count, status["succeeded"]!.GetValue<long>());
        Assert.Equal(errors.Count, status["failed"]!.GetValue<long>());
        Assert.Equal(status["total"]!.GetValue<long>(), status["succeeded"]!.GetValue<long>() + status["failed"]!.GetValue<long>());

        // results --format jsonl: one line per item, failed items with their error.
        var lines = await run.ResultsJsonl(job);
        Assert.Equal(data.Count, lines.Count);
        var byKey = lines.ToDictionary(l => Rel(l["item_key"]!.GetValue<string>()));
        Assert.Equal(data.Names.Order(StringComparer.Ordinal), byKey.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, kind) in data.Corrupt)
        {
            Assert.Equal("failed", byKey[key]["status"]!.GetValue<string>());
            Assert.Equal(kind, byKey[key]["error_kind"]!.GetValue<string>());
            Assert.False(string.IsNullOrWhiteSpace(byKey[key]["error"]?.GetValue<string>()), $"{key}: results line has no error text");
        }
        Assert.Equal(data.Expected.Count, lines.Count(l => l["status"]!.GetValue<string>() == "succeeded"));
    }

    /// <summary>Starts a job and waits until between <paramref name="from"/> and <paramref name="to"/> of its items are
    /// done, so a fault lands mid-job. Fails (rather than passing vacuously) when the job outran the window.</summary>
    public static async Task<FleetRun.JobRow> WaitUntilMidJob(FleetRun run, Guid job, double from, double to, TimeSpan timeout)
    {
        var row = await run.WaitForJob(job, j => j.Total > 0 && (j.Done >= from * j.Total || j.Terminal), timeout, $"{from:P0} of job {job}");
        Assert.False(row.Terminal || row.Done > to * row.Total,
            $"the job ran past the fault window before the fault ({row.Done}/{row.Total} done, state {row.State}); the fault would not be mid-job");
        return row;
    }
}
