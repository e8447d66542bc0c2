// Entry point of the benchmark runner: `./batchvlm bench AREA [options]`. Each area lives in its own file.
namespace BatchVlm.Bench;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("usage: batchvlm bench AREA [options]  (no areas yet)");
        return 2;
    }
}
