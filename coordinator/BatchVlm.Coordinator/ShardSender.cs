// Sends ProcessShard commands to their task/model queue and records which were sent. Every send carries a timeout
// token (MassTransit's Send blocks while the broker is unreachable, infra-probe §4); a shard whose send failed stays
// "unsent" in PostgreSQL and the lease monitor sends it on a later pass, so a broker outage delays shards, never
// loses them. Queues are durable classic queues declared by whoever touches them first (sender or worker endpoint).
using BatchVlm.Contracts;
using BatchVlm.Storage.Configuration;
using BatchVlm.Storage.Postgres;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace BatchVlm.Coordinator;

public sealed class ShardSender(ISendEndpointProvider endpoints, IFleetStore store, CoordinatorOptions options, ILogger<ShardSender> logger)
{
    public static ProcessShard ToMessage(ShardToSend s) =>
        new(s.JobId, s.ShardIndex, s.Attempt, s.Task, s.Model, s.ParametersJson, s.InputAddress, s.ItemKeys);

    /// <summary>Send the shards; returns how many were sent (and marked sent). Failures are logged, not thrown.</summary>
    public async Task<int> SendAsync(IReadOnlyList<ShardToSend> shards, CancellationToken ct)
    {
        var sent = new List<ShardToSend>();
        var gate = new Lock();
        Exception? firstError = null;
        await Parallel.ForEachAsync(shards, new ParallelOptions { MaxDegreeOfParallelism = options.SendParallelism, CancellationToken = ct },
            async (shard, token) =>
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                timeout.CancelAfter(options.SendTimeout);
                try
                {
                    var endpoint = await endpoints.GetSendEndpoint(new Uri($"queue:{QueueNames.ProcessShard(shard.Task, shard.Model)}"));
                    await endpoint.Send(ToMessage(shard), timeout.Token);
                    lock (gate)
                        sent.Add(shard);
                }
                catch (Exception ex) when (!token.IsCancellationRequested)
                {
                    lock (gate)
                        firstError ??= ex;
                }
            });
        await store.MarkSentAsync(sent, ct);
        if (firstError is not null)
            logger.LogWarning("{Failed} of {Total} shard sends failed (they stay unsent; the monitor retries): {Error}",
                shards.Count - sent.Count, shards.Count, Secrets.Redact(firstError.Message));
        return sent.Count;
    }
}
