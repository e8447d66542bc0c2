// How the coordinator attaches to the bus: its outcome consumers on queue batchvlm.coordinator, with in-memory
// retries (database hiccups are retried inside the store first; these cover longer outages).
using BatchVlm.Contracts;
using BatchVlm.Coordinator.Consumers;
using MassTransit;

namespace BatchVlm.Coordinator;

public static class CoordinatorEndpoints
{
    public static void AddCoordinatorConsumers(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<ShardCompletedConsumer>();
        bus.AddConsumer<ShardFailedConsumer>();
        bus.AddConsumer<ShardHandedBackConsumer>();
    }

    public static void ConfigureCoordinatorEndpoint(this IBusFactoryConfigurator cfg, IBusRegistrationContext context)
    {
        cfg.ReceiveEndpoint(QueueNames.Coordinator, e =>
        {
            e.ConfigureConsumeTopology = false;               // outcomes are sent to this queue by name
            e.PrefetchCount = 32;
            e.ConcurrentMessageLimit = 8;
            e.UseMessageRetry(r => r.Intervals(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(30)));
            e.ConfigureConsumer<ShardCompletedConsumer>(context);
            e.ConfigureConsumer<ShardFailedConsumer>(context);
            e.ConfigureConsumer<ShardHandedBackConsumer>(context);
        });
    }
}
