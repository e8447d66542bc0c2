// The coordinator's consumers of shard outcomes (queue batchvlm.coordinator). Thin: unpack, call CoordinatorService.
// ShardCompleted needs no database work — the worker committed results, the shard's done mark and the job's
// counters in one transaction (and finished the job if it was the last shard) — so it is only logged.
using BatchVlm.Contracts;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace BatchVlm.Coordinator.Consumers;

public sealed class ShardCompletedConsumer(ILogger<ShardCompletedConsumer> logger) : IConsumer<ShardCompleted>
{
    public Task Consume(ConsumeContext<ShardCompleted> context)
    {
        var m = context.Message;
        logger.LogInformation("Shard {Job}/{Shard} attempt {Attempt} completed by {Worker}: {Ok} ok, {Bad} failed, {Skipped} skipped, {Seconds:F2} s",
            m.JobId, m.ShardIndex, m.Attempt, m.WorkerId, m.Succeeded, m.Failed, m.Skipped, m.Seconds);
        return Task.CompletedTask;
    }
}

public sealed class ShardFailedConsumer(CoordinatorService coordinator) : IConsumer<ShardFailed>
{
    public Task Consume(ConsumeContext<ShardFailed> context)
    {
        var m = context.Message;
        var reason = $"{m.Reason} (worker {m.WorkerId})";
        return m.Transient
            ? coordinator.RetryOrFailAsync(m.JobId, m.ShardIndex, m.Attempt, reason, context.CancellationToken)
            : coordinator.FailAsync(m.JobId, m.ShardIndex, m.Attempt, reason, context.CancellationToken);
    }
}

public sealed class ShardHandedBackConsumer(CoordinatorService coordinator) : IConsumer<ShardHandedBack>
{
    public Task Consume(ConsumeContext<ShardHandedBack> context) => coordinator.SendUnsentAsync(context.CancellationToken);
}
