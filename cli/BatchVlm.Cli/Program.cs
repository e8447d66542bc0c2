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
        return root.Parse(args).Invoke();
    }

    /// <summary>Every top-level command, in the order `batchvlm --help` lists them.</summary>
    private static IEnumerable<Command> Commands()
    {
        yield return BatchVlm.Cli.Commands.UploadCommand.Create();
        yield return BatchVlm.Cli.Commands.ParityCommand.Create();
        yield return BatchVlm.Cli.Commands.TokenizeCommand.Create();
    }
}
