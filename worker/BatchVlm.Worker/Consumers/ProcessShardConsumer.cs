// The worker's only consumer, kept thin (MassTransit samples / STYLE.md): unpack ProcessShard, call ShardProcessor,
// send the outcome to the coordinator's queue. Retry and concurrency live in WorkerEndpoints, fed from WorkerOptions.
// Outcomes are *sent* to queue batchvlm.coordinator (durable) rather than published, so they wait for a coordinator
// that is restarting instead of being dropped by an exchange without bindings.
using BatchVlm.Contracts;
using BatchVlm.Storage.Configuration;
using BatchVlm.Worker.Pipeline;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BatchVlm.Worker.Consumers;

public sealed class ProcessShardConsumer(
    ShardProcessor processor,
    WorkerOptions options,
    WorkerIdentity identity,
    IHostApplicationLifetime lifetime,
    ILogger<ProcessShardConsumer> logger) : IConsumer<ProcessShard>
{
    public static readonly Uri CoordinatorQueue = new($"queue:{QueueNames.Coordinator}");

    public async Task Consume(ConsumeContext<ProcessShard> context)
    {
        var m = context.Message;
        // Shutdown (host stopping, or MassTransit cancelling the delivery) asks for a hand-back, not an abort.
        using var softStop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        ShardOutcome outcome;
        try
        {
            outcome = await processor.ProcessAsync(m, softStop.Token);
        }
        catch (Exception ex) when (TransientErrors.IsTransient(ex) && context.GetRetryAttempt() < options.RetryLimit)
        {
            logger.LogWarning("Shard {Job}/{Shard} attempt {Attempt}: transient failure, retry {Retry} of {Limit}: {Error}",
                m.JobId, m.ShardIndex, m.Attempt, context.GetRetryAttempt() + 1, options.RetryLimit, Secrets.Redact(ex.Message));
            throw;
        }
        catch (Exception ex)
        {
            var transient = TransientErrors.IsTransient(ex);
            logger.LogError("Shard {Job}/{Shard} attempt {Attempt} failed ({Kind}): {Error}", m.JobId, m.ShardIndex, m.Attempt,
                transient ? "transient" : "permanent", Secrets.Redact(ex.ToString()));
            outcome = new ShardOutcome.Failed(Secrets.Redact($"{ex.GetType().Name}: {ex.Message}"), transient);
        }

        object? message = outcome switch
        {
            ShardOutcome.Completed c => new ShardCompleted(m.JobId, m.ShardIndex, m.Attempt, identity.Id, c.Succeeded, c.FailedItems, c.SkippedItems, c.Seconds),
            ShardOutcome.Failed f => new ShardFailed(m.JobId, m.ShardIndex, m.Attempt, identity.Id, f.Reason, f.Transient),
            ShardOutcome.HandedBack h => new ShardHandedBack(m.JobId, m.ShardIndex, m.Attempt, identity.Id, h.Finished, h.Reason),
            _ => null,
        };
        if (message is null)
            return;
        // The outcome is advisory: the database already holds the truth (results and done mark committed, or the
        // lease still held and expiring, or the shard queued unsent after a hand-back), and the coordinator's monitor
        // acts on it. So a send that fails (broker down; bounded by a timeout, infra-probe §4) is logged, not retried.
        try
        {
            using var sendTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var endpoint = await context.GetSendEndpoint(CoordinatorQueue);
            await endpoint.Send(message, message.GetType(), sendTimeout.Token);
        }
        catch (Exception ex)
        {
            logger.LogWarning("Shard {Job}/{Shard} attempt {Attempt}: could not send {Outcome} to the coordinator ({Error}); its monitor will see the state in the database",
                m.JobId, m.ShardIndex, m.Attempt, message.GetType().Name, Secrets.Redact(ex.Message));
        }
    }
}
