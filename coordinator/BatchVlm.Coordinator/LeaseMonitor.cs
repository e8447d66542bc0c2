// The coordinator's background loop: every Coordinator:LeaseCheckInterval it re-sends shards whose lease expired (their
// worker died or hung), sends shards that were never sent (a crashed submit, a hand-back, a send during a broker
// outage) and finishes jobs with no open shard. Everything it needs is in PostgreSQL, so after a coordinator restart
// it simply resumes. Two coordinators may run: every action is guarded by shard state and attempt.
using BatchVlm.Storage.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BatchVlm.Coordinator;

public sealed class LeaseMonitor(CoordinatorService coordinator, CoordinatorOptions options, ILogger<LeaseMonitor> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.LeaseCheckInterval);
        do
        {
            try
            {
                await coordinator.SweepAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // A database or broker outage longer than the store's retry budget: try again next tick.
                logger.LogWarning("Monitor pass failed (retrying next pass): {Error}", Secrets.Redact(ex.Message));
            }
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try
        {
            return await timer.WaitForNextTickAsync(ct);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
