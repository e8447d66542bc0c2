// Finds the parity cases: every non-abstract class implementing IParityCase with a public parameterless constructor
// in the engine assembly (Models/Parity/*.cs), so a model family registers itself by adding one file.
using System.Reflection;
using BatchVlm.Engine.Loading;

namespace BatchVlm.Engine.Parity;

public static class ParityRegistry
{
    private static readonly Lazy<IReadOnlyList<IParityCase>> Engine = new(() => Discover(typeof(IParityCase).Assembly));

    /// <summary>The cases built into the engine, sorted by name.</summary>
    public static IReadOnlyList<IParityCase> All => Engine.Value;

    /// <summary>Instantiates every IParityCase in <paramref name="assemblies"/>.</summary>
    public static IReadOnlyList<IParityCase> Discover(params Assembly[] assemblies) =>
        assemblies.SelectMany(a => a.GetTypes())
            .Where(t => typeof(IParityCase).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false, ContainsGenericParameters: false }
                        && t.GetConstructor(Type.EmptyTypes) != null)
            .Select(t => (IParityCase)Activator.CreateInstance(t)!)
            .OrderBy(c => c.Name, StringComparer.Ordinal)
            .ToList();

    /// <summary>The one case matching <paramref name="config"/>; none or several is an error naming them.</summary>
    public static IParityCase Find(HfConfig config, IEnumerable<IParityCase>? cases = null)
    {
        var list = (cases ?? All).ToList();
        var hits = list.Where(c => c.Matches(config)).ToList();
        return hits.Count switch
        {
            1 => hits[0],
            0 => throw new ModelLoadException(
                $"No parity case for model_type '{config.ModelType ?? "?"}' (architectures [{string.Join(", ", config.Architectures)}]) in {config.Source}; "
                + $"registered: {(list.Count == 0 ? "none" : string.Join(", ", list.Select(c => c.Name)))}"),
            _ => throw new ModelLoadException(
                $"Several parity cases match {config.Source}: {string.Join(", ", hits.Select(c => c.Name))}"),
        };
    }
}
