// `batchvlm parity FIXTURE_DIR [--save OUT.safetensors] [--strict]`: runs the model in a fixture folder on its
// inputs.safetensors and compares every tensor of expected.safetensors (engine/BatchVlm.Engine/Parity/ParityRunner.cs).
// Exit code 0 = all pass, 1 = a tensor failed (or, with --strict, was skipped), 2 = the fixture could not be run.
using System.CommandLine;
using BatchVlm.Engine.Parity;

namespace BatchVlm.Cli.Commands;

public static class ParityCommand
{
    public static Command Create()
    {
        var fixture = new Argument<DirectoryInfo>("FIXTURE_DIR")
        {
            Description = "Fixture folder: config.json, model weights, inputs.safetensors, expected.safetensors",
        };
        var save = new Option<FileInfo?>("--save")
        {
            Description = "Write every computed tensor (under its expected name) to this safetensors file",
        };
        var strict = new Option<bool>("--strict")
        {
            Description = "Treat a SKIPPED tensor (one the model does not compute) as a failure",
        };
        var command = new Command("parity", "Compare the engine's outputs with a fixture's reference tensors (tolerance 2e-5 * max(1, max|ref|); ids exact)");
        command.Arguments.Add(fixture);
        command.Options.Add(save);
        command.Options.Add(strict);
        command.SetAction(parse => ParityRunner.RunAndPrint(
            parse.GetValue(fixture)!.FullName,
            parse.GetValue(save)?.FullName,
            parse.GetValue(strict),
            Console.Out,
            Console.Error));
        return command;
    }
}
