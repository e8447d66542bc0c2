// The `batchvlm` command line. Each command lives in its own file under Commands/ and is registered here;
// the `./batchvlm` script at the repository root builds this project when needed and runs it.
using System.CommandLine;

namespace BatchVlm.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("BatchVlm: run vision-language models over large image archives.");
        foreach (var command in Commands())
            root.Subcommands.Add(command);
        // No process-termination timeout: `worker` and `coordinator` handle SIGTERM themselves (the worker hands its
        // shard back, which can take longer than System.CommandLine's default 2 s before it would force an exit).
        return root.Parse(args).Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }

    /// <summary>Every top-level command, in the order `batchvlm --help` lists them.</summary>
    private static IEnumerable<Command> Commands()
    {
        yield return BatchVlm.Cli.Commands.SubmitCommand.Create();
        yield return BatchVlm.Cli.Commands.StatusCommand.Create();
        yield return BatchVlm.Cli.Commands.WatchCommand.Create();
        yield return BatchVlm.Cli.Commands.ListCommand.Create();
        yield return BatchVlm.Cli.Commands.CancelCommand.Create();
        yield return BatchVlm.Cli.Commands.RetryCommand.Create();
        yield return BatchVlm.Cli.Commands.ResultsCommand.Create();
        yield return BatchVlm.Cli.Commands.WorkerCommand.Create();
        yield return BatchVlm.Cli.Commands.CoordinatorCommand.Create();
        yield return BatchVlm.Cli.Commands.RunCommand.Create();
        yield return BatchVlm.Cli.Commands.UploadCommand.Create();
        yield return BatchVlm.Cli.Commands.ParityCommand.Create();
        yield return BatchVlm.Cli.Commands.PreprocessCommand.Create();
        yield return BatchVlm.Cli.Commands.TokenizeCommand.Create();
    }
}
