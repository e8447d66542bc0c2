// RabbitMQ connection settings, bound to the "RabbitMq" section that `./batchvlm stack up` writes into the settings
// file (Host, Port, VirtualHost, Username, Password). The password only ever reaches MassTransit's host
// configuration; it is registered with Secrets so it is redacted from every log line and error.
namespace BatchVlm.Cli.Commands.Hosting;

public sealed record RabbitMqOptions
{
    public const string SectionName = "RabbitMq";

    /// <summary>Broker host. Default 127.0.0.1.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>AMQP port. Default 5679 (the local stack's port; RabbitMQ's own default is 5672).</summary>
    public int Port { get; init; } = 5679;

    /// <summary>Virtual host. Default "/".</summary>
    public string VirtualHost { get; init; } = "/";

    /// <summary>User. Default "guest" (which RabbitMQ accepts from loopback only).</summary>
    public string Username { get; init; } = "guest";

    /// <summary>Password. Default "guest".</summary>
    public string Password { get; init; } = "guest";

    /// <summary>AMQP heartbeat. Default 30 s: a dead broker connection is noticed within about a minute.</summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Use TLS (AMQPS). Default false.</summary>
    public bool UseSsl { get; init; }
}
