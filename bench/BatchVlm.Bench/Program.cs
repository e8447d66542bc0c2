// Entry point of the benchmark runner: `./batchvlm bench AREA [options]`. Each area is one IBenchArea class in its
// own folder (Imaging/, Engine/, Tokenizers/, ...), found by reflection so areas never edit a shared file.
using System.Reflection;

namespace BatchVlm.Bench;

/// <summary>One benchmark area. Runs its own measurements and the reference's in the same run and prints ratios.</summary>
public interface IBenchArea
{
    string Name { get; }
    string Description { get; }
    /// <returns>the process exit code</returns>
    int Run(string[] args);
}

public static class Program
{
    public static int Main(string[] args)
    {
        var areas = typeof(Program).Assembly.GetTypes()
            .Where(t => typeof(IBenchArea).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => (IBenchArea)Activator.CreateInstance(t)!)
            .OrderBy(a => a.Name)
            .ToList();
        var area = args.Length > 0 ? areas.FirstOrDefault(a => a.Name == args[0]) : null;
        if (area is null)
        {
            Console.Error.WriteLine("usage: batchvlm bench AREA [options]\nareas:");
            foreach (var a in areas)
                Console.Error.WriteLine($"  {a.Name,-12} {a.Description}");
            return 2;
        }
        return area.Run(args[1..]);
    }
}
