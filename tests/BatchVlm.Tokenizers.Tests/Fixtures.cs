// Locates the tokenizer golden fixtures: tests/fixtures/tokenizers/<name> in this repository (copied, always there),
// and the shared folder (/work/shared/fixtures/tokenizers or ../shared/fixtures/tokenizers beside the repository)
// for the large vocabularies that were not copied (xlm-roberta's 5.5 MB model, roberta-base's tokenizer.json).
using System.Text.Json;

namespace BatchVlm.Tokenizers.Tests;

internal static class Fixtures
{
    public static string RepoRoot { get; } = FindRepoRoot();

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "BatchVlm.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException($"BatchVlm.sln not found above {AppContext.BaseDirectory}");
    }

    public static string Local(string name) => Path.Combine(RepoRoot, "tests", "fixtures", "tokenizers", name);

    /// <summary>The shared fixtures folder, or null when this checkout has none beside it.</summary>
    public static string? Shared(string name)
    {
        foreach (var root in new[] { "/work/shared", Path.Combine(RepoRoot, "..", "shared") })
        {
            string p = Path.Combine(root, "fixtures", "tokenizers", name);
            if (Directory.Exists(p)) return Path.GetFullPath(p);
        }
        return null;
    }

    public sealed record Case(string Id, string Category, string Text, int[] Ids, int[] IdsNoSpecial, string Decoded, string[] Tokens);

    public static List<Case> ReadCases(string folder)
    {
        var list = new List<Case>();
        foreach (var line in File.ReadLines(Path.Combine(folder, "cases.jsonl")))
        {
            if (line.Length == 0) continue;
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            list.Add(new Case(r.GetProperty("case").GetString()!, r.GetProperty("category").GetString()!, r.GetProperty("text").GetString()!,
                r.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                r.GetProperty("ids_no_special").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                r.GetProperty("decoded").GetString()!,
                r.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()!).ToArray()));
        }
        return list;
    }
}
