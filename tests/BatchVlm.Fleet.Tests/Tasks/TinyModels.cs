// Test model folders for the model tasks: the tiny random-weight fixtures (tests/fixtures/<name>-tiny: config.json,
// model.safetensors[, generation_config.json]) have no tokenizer or preprocessor config, so each folder here combines
// the fixture's weights with a stand-in tokenizer from tests/fixtures/tokenizers and a preprocessor_config.json from
// tests/fixtures/image-processing resized to the tiny tower's 32 px. Every tiny model has vocab_size 512, so the
// texts and prompts the tests use are ones whose ids fit (see README.md beside this file for the pairing and why).
using System.Text.Json.Nodes;

namespace BatchVlm.Fleet.Tests.Tasks;

public static class TinyModels
{
    /// <summary>(fixture, tokenizer folder, preprocessor config) per test model.</summary>
    private static readonly Dictionary<string, (string Fixture, string Tokenizer, string Processor)> Pairings = new()
    {
        ["siglip"] = ("siglip-tiny", "t5", "siglip"),
        ["clip"] = ("clip-tiny", "t5", "clip"),
        ["altclip"] = ("altclip-tiny", "standin-xlm-roberta", "clip"),
        ["blip2-itm"] = ("blip2-itm-tiny", "bert-base-uncased", "blip2"),
        ["blip2-opt"] = ("blip2-opt-tiny", "opt", "blip2"),
        ["blip2-t5"] = ("blip2-t5-tiny", "t5", "blip2"),
        ["paligemma"] = ("paligemma-tiny", "standin-xlm-roberta", "siglip"),
    };

    /// <summary>Texts whose stand-in token ids all lie below the tiny models' vocab_size 512 (T5 and XLM-R stand-ins).</summary>
    public static readonly string[] Texts = ["it is a", "this is the", "on the"];

    public static string Fixtures => Path.Combine(FleetTestStackRoot(), "tests", "fixtures");

    /// <summary>A model folder for <paramref name="name"/> under <paramref name="root"/> (created once per root).</summary>
    public static string Build(string root, string name)
    {
        var (fixture, tokenizer, processor) = Pairings[name];
        var dir = Path.Combine(root, "models", name);
        if (Directory.Exists(dir))
            return dir;
        var tmp = dir + ".tmp";
        Directory.CreateDirectory(tmp);
        foreach (var file in new[] { "config.json", "model.safetensors", "generation_config.json" })
        {
            var src = Path.Combine(Fixtures, fixture, file);
            if (File.Exists(src)) File.Copy(src, Path.Combine(tmp, file));
        }
        foreach (var src in Directory.GetFiles(Path.Combine(Fixtures, "tokenizers", tokenizer)))
        {
            var file = Path.GetFileName(src);
            if (file.EndsWith(".jsonl", StringComparison.Ordinal) || file is "sp_crosscheck.json" or "unigram_ties_and_margins.json")
                continue;
            File.Copy(src, Path.Combine(tmp, file));
        }
        var pre = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures, "image-processing", $"{processor}_preprocessor_config.json")))!.AsObject();
        foreach (var key in new[] { "size", "crop_size" })
        {
            if (pre[key] is JsonObject size)
            {
                foreach (var dim in size.Select(p => p.Key).ToList())
                    size[dim] = 32;
            }
        }
        File.WriteAllText(Path.Combine(tmp, "preprocessor_config.json"), pre.ToJsonString());
        Directory.Move(tmp, dir);
        return dir;
    }

    private static string FleetTestStackRoot() => BatchVlm.Fleet.Tests.Infrastructure.StackFixture.RepositoryRoot;
}
