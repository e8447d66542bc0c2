// A console logger that writes every line to stderr (stdout stays for command output, e.g. the job id `submit`
// prints) after passing the message and any exception through Secrets.Redact, so no credential reaches a log
// (issue 2 item 9). Format: "2026-11-22T06:30:00.123Z info  Category: message".
using BatchVlm.Storage.Configuration;
using Microsoft.Extensions.Logging;

namespace BatchVlm.Cli.Commands.Hosting;

public sealed class RedactingLoggerProvider(TextWriter? writer = null) : ILoggerProvider
{
    private readonly TextWriter _writer = writer ?? Console.Error;
    private readonly Lock _lock = new();

    public ILogger CreateLogger(string categoryName) => new RedactingLogger(this, ShortName(categoryName));

    public void Dispose()
    {
    }

    private static string ShortName(string category)
    {
        var dot = category.LastIndexOf('.');
        return dot < 0 ? category : category[(dot + 1)..];
    }

    private void Write(string line)
    {
        lock (_lock)
        {
            _writer.WriteLine(line);
            _writer.Flush();
        }
    }

    private sealed class RedactingLogger(RedactingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;
            var level = logLevel switch
            {
                LogLevel.Trace => "trce",
                LogLevel.Debug => "dbug",
                LogLevel.Information => "info",
                LogLevel.Warning => "warn",
                LogLevel.Error => "fail",
                _ => "crit",
            };
            var text = formatter(state, exception);
            if (exception is not null)
                text += Environment.NewLine + exception;
            provider.Write($"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {level,-5} {category}: {Secrets.Redact(text)}");
        }
    }
}
