// Flags of `submit` and `run` for the model tasks, merged into the job's --params JSON (a flag wins over the same key
// in --params): --texts FILE (one text per line → "texts"), --prompt TEXT, --max-new-tokens N, --questions FILE
// (JSON object {"item key": "question"} → "questions"), --embeddings ADDRESS (→ embed's "output").
using System.CommandLine;
using System.Text.Json.Nodes;

namespace BatchVlm.Cli.Commands;

public sealed class TaskFlags
{
    public Option<string?> Texts { get; } = new("--texts") { Description = "embed/score: a file with one text per line (job parameter texts)" };
    public Option<string?> Prompt { get; } = new("--prompt") { Description = "caption: the prompt (PaliGemma: 'caption en', 'answer en <q>', 'ocr', 'detect a ; b'; BLIP-2: free text, e.g. 'Question: {question} Answer:')" };
    public Option<int?> MaxNewTokens { get; } = new("--max-new-tokens") { Description = "caption: most tokens generated per item (default 32)" };
    public Option<string?> Questions { get; } = new("--questions") { Description = "caption: a JSON file {\"item key\": \"question\", ...}" };
    public Option<string?> Embeddings { get; } = new("--embeddings") { Description = "embed: where .npy shard files go (az://container/prefix, blob URL, folder)" };

    public IEnumerable<Option> All => [Texts, Prompt, MaxNewTokens, Questions, Embeddings];

    /// <summary>The --params JSON with the flags given merged in. <paramref name="defaultEmbeddings"/>: embed's output
    /// when neither --embeddings nor an "output" parameter is given (`run`: &lt;--output&gt;/embeddings).</summary>
    public string? Merge(ParseResult parse, string? parametersJson, string task, string? defaultEmbeddings = null)
    {
        JsonObject obj;
        try
        {
            obj = string.IsNullOrWhiteSpace(parametersJson) ? new JsonObject() : JsonNode.Parse(parametersJson)?.AsObject() ?? new JsonObject();
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException)
        {
            throw new ArgumentException($"--params is not a JSON object: {ex.Message}");
        }
        if (parse.GetValue(Texts) is { } texts)
        {
            if (!File.Exists(texts)) throw new ArgumentException($"--texts {texts}: no such file");
            var lines = File.ReadAllLines(texts).Where(l => !string.IsNullOrWhiteSpace(l)).Select(l => (JsonNode?)l.Trim()).ToArray();
            obj["texts"] = new JsonArray(lines);
        }
        if (parse.GetValue(Prompt) is { } prompt) obj["prompt"] = prompt;
        if (parse.GetValue(MaxNewTokens) is { } max) obj["max_new_tokens"] = max;
        if (parse.GetValue(Questions) is { } questions)
        {
            if (!File.Exists(questions)) throw new ArgumentException($"--questions {questions}: no such file");
            obj["questions"] = JsonNode.Parse(File.ReadAllText(questions)) as JsonObject
                ?? throw new ArgumentException($"--questions {questions}: not a JSON object");
        }
        if (parse.GetValue(Embeddings) is { } embeddings) obj["output"] = embeddings;
        else if (defaultEmbeddings is not null && string.Equals(task, "embed", StringComparison.OrdinalIgnoreCase) && obj["output"] is null)
            obj["output"] = defaultEmbeddings;
        return obj.Count == 0 ? parametersJson : obj.ToJsonString();
    }
}
