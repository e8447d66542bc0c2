// Transient versus permanent for shard-level failures in the worker. Transient (retried in memory, then reported as
// ShardFailed(transient) for the coordinator to re-send): broker and network errors, timeouts, database errors that
// PostgresRetry classifies as transient, blob-store I/O. Permanent: everything else (bad configuration, unknown task,
// bugs) — retrying the same message cannot help.
using System.Net.Http;
using System.Net.Sockets;
using BatchVlm.Storage.Postgres;

namespace BatchVlm.Worker;

public static class TransientErrors
{
    public static bool IsTransient(Exception exception) => exception switch
    {
        AggregateException agg => agg.InnerExceptions.Count > 0 && agg.InnerExceptions.All(IsTransient),
        HttpRequestException or TimeoutException or SocketException or IOException => true,
        TaskCanceledException tce when tce.InnerException is TimeoutException => true,
        MassTransit.RequestTimeoutException => true,
        // RabbitMQ.Client's BrokerUnreachableException, AlreadyClosedException, OperationInterruptedException, and
        // MassTransit's RabbitMqConnectionException: the broker went away mid-operation.
        _ when exception.GetType().Namespace?.StartsWith("RabbitMQ.Client", StringComparison.Ordinal) == true => true,
        _ when exception.GetType().Name == "RabbitMqConnectionException" => true,
        _ when PostgresRetry.IsTransient(exception) => true,
        _ => exception.InnerException is { } inner && IsTransient(inner),
    };
}
